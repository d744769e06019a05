"""A job with daemons on chains that mine every 2 s and 12 s, beside instant mining (issue 21 item 1).

Public chains mine on a clock: every transaction of a round (accepts, commits, reveals,
verdicts, confirmations, the keeper's calls) waits for the next block. This runs the same job
(anvil + an owner daemon + N contributor daemons over libp2p on 127.0.0.1, `milon job create`)
on an instant-mining anvil (the baseline) and on anvils switched to interval mining after
the suite is deployed, and prints wall time, seconds per round and gas per round, each with
its ratio to the baseline of the same run.

    .venv/bin/python tests/bench/bench_block_time.py [--nodes 3] [--rounds 2] [--block-times 0,2,12]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from tests.bench.e2e_milon import Run, run_daemons  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--nodes", type=int, default=3)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--epochs", type=int, default=3, help="epochs a round")
    ap.add_argument("--block-times", default="0,2,12", help="seconds; 0: instant mining")
    args = ap.parse_args(argv)
    times = [float(x) for x in args.block_times.split(",")]
    runs: list[tuple[float, Run]] = []
    for bt in times:
        with tempfile.TemporaryDirectory(prefix="milon-blocktime-") as tmp:
            run = run_daemons(sys.executable, args.nodes, args.rounds, args.epochs, Path(tmp),
                              block_time_s=bt or None)  # fmt: skip
        runs.append((bt, run))
        print(f"[bench] block time {bt:g} s: wall {run.wall_s:.1f} s, "
              f"{run.s_per_round:.1f} s a round, {run.gas_per_round:,.0f} gas a round",
              file=sys.stderr, flush=True)  # fmt: skip
    base = runs[0][1]
    print(f"{args.nodes} contributor daemons + owner, {args.rounds} rounds x {args.epochs} epochs")
    print("| block time | wall s | s / round | x instant | gas / round | x instant | accuracy |")
    print("|---|---|---|---|---|---|---|")
    for bt, run in runs:
        label = "instant (baseline)" if bt == 0 else f"{bt:g} s"
        acc = run.rounds[-1][2] if run.rounds and run.rounds[-1][2] is not None else float("nan")
        print(f"| {label} | {run.wall_s:.1f} | {run.s_per_round:.1f} | "
              f"{run.s_per_round / base.s_per_round:.2f} | {run.gas_per_round:,.0f} | "
              f"{run.gas_per_round / base.gas_per_round:.3f} | {acc:.3f} |")  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
