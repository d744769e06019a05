"""Flower's simulation (Ray) at ``milon sim``'s member counts and model, for issue 18's Scale table.

    python tests/bench/flower_scale.py [--sizes 16,64,256,1000,4000] [--rounds 2]
                                       [--budget-s 1800] [--client-cpus 1] [--out FILE]

Each size is one ``run_simulation`` of the hand-written app in ``tests/bench/flower_app``
(started by :func:`e2e_flower.run_simulation`, in the Flower venv that
``tests/bench/setup_flower.sh`` makes) on ``milon sim``'s job: model "sim" (64 -> 32 -> 10
MLP on digits, batch 8), each client holding the 32 digits ``milon sim``'s member of the same
index holds (``milon_app.sim.workload``), 2 local epochs (``milon sim``'s default), all
clients in every round, FedAvg, the global model evaluated on the test split after each round.
By default a client asks Ray for one CPU, so one Ray actor per core trains clients in turn
(``milon sim`` trains in one thread); ``--client-cpus 0`` lets every client start at once.

Prints JSON: per size the wall seconds of each round (between the server's evaluations),
the whole run's wall (Ray start included), accuracy after each round, and the peak memory of
the whole process tree (driver, Ray's GCS and raylet, every worker), sampled every 0.5 s as
the sum of RSS (counts shared pages once per process) and of PSS (shares them out). Sizes
run smallest first; a size whose run would not fit in what is left of ``--budget-s`` (judged
linearly from the size before) is reported as skipped.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
for _path in (HERE, HERE.parents[1]):  # standalone runs import like the runner: tests.*
    if str(_path) not in sys.path:
        sys.path.insert(0, str(_path))

from e2e_flower import MISSING, _children, run_simulation, venv, versions  # noqa: E402

REPO = HERE.parents[1]
SAMPLE_S = 0.5


class TreeMemory:
    """Peak summed RSS and PSS (MiB) of this process's descendants, sampled in a thread."""

    def __init__(self) -> None:
        self.peak_rss = self.peak_pss = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> TreeMemory:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        while not self._stop.wait(SAMPLE_S):
            rss = pss = 0
            for pid in _children(os.getpid()):
                rss += _kib(f"/proc/{pid}/status", "VmRSS:")
                pss += _kib(f"/proc/{pid}/smaps_rollup", "Pss:")
            self.peak_rss = max(self.peak_rss, rss / 1024)
            self.peak_pss = max(self.peak_pss, pss / 1024)


def _kib(path: str, field: str) -> int:
    try:
        with open(path, encoding="ascii", errors="replace") as fh:
            for line in fh:
                if line.startswith(field):
                    return int(line.split()[1])
    except (OSError, ValueError):
        pass
    return 0


def one_size(bin_dir: Path, work: Path, clients: int, args: argparse.Namespace) -> dict[str, Any]:
    extra = {"model": "sim", "samples": args.samples, "client_cpus": args.client_cpus}
    with TreeMemory() as mem:
        run = run_simulation(REPO, work / f"n{clients}", bin_dir, clients, args.rounds,
                             args.epochs, extra)  # fmt: skip
    return {
        "clients": clients,
        "round_wall_seconds": [round(s, 3) for _r, s, _a in run.rounds],
        "accuracy": [a for _r, _s, a in run.rounds],
        "run_wall_seconds": round(run.wall_s, 3),
        "phases": {k: round(v, 3) for k, v in run.phases.items()},
        "peak_rss_mib_tree": round(mem.peak_rss, 1),
        "peak_pss_mib_tree": round(mem.peak_pss, 1),
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--sizes", default="16,64,256,1000,4000")
    p.add_argument("--rounds", type=int, default=2)
    p.add_argument("--epochs", type=int, default=2, help="local epochs (milon sim's default)")
    p.add_argument("--samples", type=int, default=32, help="digits per client (milon sim's)")
    p.add_argument("--client-cpus", type=float, default=1.0)
    p.add_argument("--budget-s", type=float, default=1800.0)
    p.add_argument("--out", type=Path, default=None, help="also write the JSON here")
    args = p.parse_args(argv)
    bin_dir = venv(REPO)
    if bin_dir is None:
        print(json.dumps({"error": MISSING}))
        return 1
    out: dict[str, Any] = {
        **versions(bin_dir), "model": "sim: 64-32-10 MLP, digits, batch 8",
        "samples": args.samples, "epochs": args.epochs, "rounds": args.rounds,
        "client_cpus": args.client_cpus, "cores": os.cpu_count(),
        "load_before": os.getloadavg()[0], "sizes": [],
    }  # fmt: skip
    deadline = time.monotonic() + args.budget_s
    last: tuple[int, float] | None = None
    with tempfile.TemporaryDirectory(prefix="flower-scale-") as tmp:
        for n in (int(s) for s in args.sizes.split(",")):
            left = deadline - time.monotonic()
            guess = last[1] * n / last[0] if last else 0.0
            if left <= 0 or guess > left:
                out["sizes"].append({"clients": n, "skipped": f"budget: ~{guess:.0f} s needed, "
                                     f"{max(left, 0):.0f} s left"})  # fmt: skip
                continue
            t = time.monotonic()
            try:
                row = one_size(bin_dir, Path(tmp), n, args)
            except (RuntimeError, TimeoutError, OSError, subprocess.SubprocessError) as exc:
                row = {"clients": n, "failed": str(exc)[-500:]}
            row["load_after"] = os.getloadavg()[0]
            out["sizes"].append(row)
            print(json.dumps(row), file=sys.stderr, flush=True)
            last = (n, time.monotonic() - t)
    text = json.dumps(out, indent=2)
    print(text)
    if args.out is not None:
        args.out.write_text(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
