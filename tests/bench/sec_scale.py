"""Section 5, scale: one round's wall time at 4, 8, 16, 32 nodes and the largest that completes.

Each size is one child process running ``milon demo``'s federation
(``run_demo``: a real NodeCore per contributor plus the owner, each a libp2p
host on 127.0.0.1) against its own anvil devnet (the embedded chain offers
only 9 funded contributors). One round, default work (5 epochs per node on
average, so the total training work stays the same at every size: shards
shrink as nodes are added), no governance, no baseline. Sizes double up to a
cap of 64; a size that would not finish within the section's remaining
budget (``MILON_BENCH_SCALE_BUDGET_S``, default 600 s) is stopped and
reported with where it stopped.

    .venv/bin/python tests/bench/sec_scale.py --nodes 8     # one size, prints JSON
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from suite import BenchContext, SectionResult

SIZES = (4, 8, 16, 32, 64)
DEFAULT_BUDGET_S = 600


def one_size(nodes: int, workdir: Path) -> dict[str, Any]:
    """Run in the child: a fresh anvil, the federation set up, one round; figures as a dict."""
    import psutil

    from milon_app.chain.devnet import Anvil
    from milon_app.demo import DemoOptions, run_demo

    t0 = time.monotonic()
    with Anvil(accounts=nodes + 1) as anvil:
        opts = DemoOptions(nodes=nodes, rounds=1, chain=anvil.url, governance=False,
                           baseline=False, workdir=workdir)
        rep = run_demo(opts, lambda row, _n: print(f"round {row.round} done", flush=True))
    row = rep.rounds[0]
    total = time.monotonic() - t0
    return {"nodes": nodes, "round_s": row.wall_s, "total_s": total,
            "setup_s": total - row.wall_s, "accuracy": row.accuracy,
            "accepted": len(row.accepted), "rejected": len(row.rejected),
            "gas": row.gas_used, "peak_rss_mib": psutil.Process().memory_info().rss / 2**20}


def _run_child(nodes: int, ctx: BenchContext, limit_s: float) -> dict[str, Any]:
    log = ctx.work_dir / f"scale-{nodes}.log"
    out = ctx.work_dir / f"scale-{nodes}.json"
    work = ctx.work_dir / f"scale-{nodes}"
    cmd = [ctx.python, str(Path(__file__).resolve()), "--nodes", str(nodes), "--json-out",
           str(out), "--workdir", str(work)]
    t0 = time.monotonic()
    with log.open("w") as fh:
        proc = subprocess.Popen(cmd, cwd=ctx.repo_root, stdout=fh, stderr=subprocess.STDOUT,
                                start_new_session=True)
        try:
            rc: int | None = proc.wait(timeout=max(1.0, limit_s))
        except subprocess.TimeoutExpired:
            rc = None
        finally:
            for sig in (signal.SIGTERM, signal.SIGKILL):  # the child, its anvil, anything left
                try:
                    os.killpg(proc.pid, sig)
                except ProcessLookupError:
                    break
                time.sleep(2.0)
            proc.wait()
    wall = time.monotonic() - t0
    if rc == 0 and out.is_file():
        return {**json.loads(out.read_text()), "ok": True}
    text = log.read_text(errors="replace")
    done = "round 1 done" in text
    why = (f"stopped at the budget after {wall:.0f} s, "
           + ("after its round (while shutting down)" if done else "before its round completed")
           if rc is None else f"exited with code {rc}: "
           + " | ".join(ln for ln in text.splitlines() if "Error" in ln)[-300:])
    return {"nodes": nodes, "ok": False, "why": why, "wall_s": wall}


def run(ctx: BenchContext) -> SectionResult:
    from sectools import line_plot, machine_footer, table

    budget = float(os.environ.get("MILON_BENCH_SCALE_BUDGET_S", DEFAULT_BUDGET_S))
    sizes = (2,) if ctx.quick else SIZES
    t0 = time.monotonic()
    results: list[dict[str, Any]] = []
    for n in sizes:
        left = budget - (time.monotonic() - t0)
        if left < 30:
            results.append({"nodes": n, "ok": False, "why": "not started: the budget is spent"})
            break
        res = _run_child(n, ctx, left)
        results.append(res)
        if not res["ok"]:
            break
    done = [r for r in results if r["ok"]]
    largest = max((r["nodes"] for r in done), default=0)
    rows = [[r["nodes"], f"{r['round_s']:.1f}", f"{r['setup_s']:.1f}",
             f"{r['accepted']}/{r['nodes']}", f"{100 * (r['accuracy'] or 0):.1f}%",
             f"{r['gas']:,}", f"{r['peak_rss_mib']:.0f}"] for r in done]
    rows += [[r["nodes"], "—", "—", "—", "—", "—", r["why"]] for r in results if not r["ok"]]
    growth = [f"{b['nodes']}/{a['nodes']} nodes: x{b['round_s'] / a['round_s']:.1f}"
              for a, b in itertools.pairwise(done)]
    plot = line_plot(
        ctx.out_dir / "scale_round_time.png", "One round's wall time vs federation size",
        "contributor nodes", "seconds",
        {"round": ([r["nodes"] for r in done], [r["round_s"] for r in done]),
         "set-up (deploy, fund, join)": ([r["nodes"] for r in done], [r["setup_s"] for r in done])},
        logx=True, logy=True, footer=machine_footer())
    failed = next((r for r in results if not r["ok"]), None)
    if failed and len(done) >= 2:  # what the last doubling predicts for the size that stopped
        a, b = done[-2], done[-1]
        grow = failed["nodes"] / b["nodes"]
        est = (b["setup_s"] * (b["setup_s"] / a["setup_s"]) ** math.log2(grow)
               + b["round_s"] * (b["round_s"] / a["round_s"]) ** math.log2(grow))
        failed["why"] += (f" (the {a['nodes']}→{b['nodes']} growth predicts ~{est:.0f} s for "
                          "set-up and round)")
        failed["predicted_s"] = est
    md = "\n\n".join([
        "Every size is a fresh process: anvil on 127.0.0.1, the suite deployed, an owner and N "
        "contributors, each a `NodeCore` with its own libp2p host, state DB and blob store, "
        "all in that one process (so they share its 2 cores and the GIL), joined to one "
        "federation; then one round of a digits job: assignment by capacity, training, "
        "commit-reveal, the committee (every member up to 7, then 7 seats drawn by stake) "
        "judging every update, confirming the aggregate, finalization. "
        "*round* = the round's wall time; *set-up* = everything before it. Accuracy after one "
        "round falls with size because every node's shard shrinks (1,437 / N samples) while the "
        "round's epochs stay 5 per node on average; a node assigned 0 epochs (the smallest "
        "capacity in a big federation) has nothing to submit.",
        table(["nodes", "round s", "set-up s", "accepted", "accuracy after 1 round", "round gas",
               "peak RSS MiB"], rows),
        f"Largest federation that completed a round: **{largest} nodes**"
        + (f"; {failed['nodes']} nodes: {failed['why']}." if failed else
           f" (the cap; every size up to {sizes[-1]} completed).")
        + (" Round time growth: " + "; ".join(growth) + "." if growth else "")
        + f" Section budget {budget:.0f} s (MILON_BENCH_SCALE_BUDGET_S).",
        f"![round time vs nodes](benchmarks/{plot.name})",
    ])
    head = ", ".join(f"{r['nodes']} nodes {r['round_s']:.0f} s" for r in done)
    return SectionResult(
        key="scale", title="Scale",
        command=".venv/bin/python tests/bench/report.py --only scale"
        + (" --quick" if ctx.quick else "") + "  (one size: tests/bench/sec_scale.py --nodes N)",
        markdown=md, data={"budget_s": budget, "sizes": results, "largest": largest},
        headline=[f"largest federation through a round: {largest} nodes; round wall time {head}"],
        plots=[plot], device="cpu (all nodes in one process, anvil on 127.0.0.1)",
    )


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--nodes", type=int, required=True)
    ap.add_argument("--json-out", type=Path)
    ap.add_argument("--workdir", type=Path)
    args = ap.parse_args()
    import tempfile

    with tempfile.TemporaryDirectory(prefix="milon-scale-") as tmp:
        res = one_size(args.nodes, args.workdir or Path(tmp))
    text = json.dumps(res)
    print(text, flush=True)
    if args.json_out:
        args.json_out.write_text(text)
    return 0


if __name__ == "__main__":
    sys.path[:0] = [str(Path(__file__).resolve().parents[2])]
    raise SystemExit(main())
