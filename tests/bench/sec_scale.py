"""Section 5, scale: one round's wall time with real node cores at 16, 64 and 256 nodes.

Each size is one child process running ``milon demo``'s federation
(``run_demo``: a real NodeCore per contributor plus the owner) against its own
anvil devnet (the embedded chain offers only 9 funded contributors). Up to 64
nodes each node is a libp2p host on 127.0.0.1; beyond, the nodes share the
in-process transport (``milon_app/p2p/inprocess.py``, as ``milon sim`` does):
same node code, blobs copied through a hub instead of sockets. One round,
default work (5 epochs per node on average, so the total training work stays
the same at every size: shards shrink as nodes are added), no governance, no
baseline. A size that would not finish within the section's remaining budget
(``MILON_BENCH_SCALE_BUDGET_S``, default 900 s) is stopped and reported with
where it stopped.

    .venv/bin/python tests/bench/sec_scale.py --nodes 64                        # libp2p
    .venv/bin/python tests/bench/sec_scale.py --nodes 256 --transport inprocess
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

MAX_LIBP2P = 64  # larger federations share the in-process transport
# 64 runs on both transports: the 64 -> 256 growth is read on one transport
SIZES = ((16, "libp2p"), (64, "libp2p"), (64, "inprocess"), (256, "inprocess"))
DEFAULT_BUDGET_S = 1200


def transport_for(nodes: int) -> str:
    return "libp2p" if nodes <= MAX_LIBP2P else "inprocess"


def one_size(nodes: int, workdir: Path, transport: str = "") -> dict[str, Any]:
    """Run in the child: a fresh anvil, the federation set up, one round; figures as a dict.
    *set-up* is everything before the round, *teardown* the nodes' closing after it."""
    import resource

    from milon_app.chain.devnet import Anvil
    from milon_app.demo import DemoOptions, run_demo

    transport = transport or transport_for(nodes)
    t0 = time.monotonic()
    done_at: list[float] = []

    def on_round(row: Any, _n: int) -> None:
        done_at.append(time.monotonic())
        print(f"round {row.round} done", flush=True)

    with Anvil(accounts=nodes + 1) as anvil:
        opts = DemoOptions(nodes=nodes, rounds=1, chain=anvil.url, governance=False,
                           baseline=False, workdir=workdir, transport=transport)
        rep = run_demo(opts, on_round)
    row = rep.rounds[0]
    total = time.monotonic() - t0
    return {"nodes": nodes, "transport": transport, "round_s": row.wall_s,
            "round_cpu_s": row.cpu_s, "total_s": total,
            "setup_s": done_at[0] - t0 - row.wall_s, "teardown_s": total - (done_at[0] - t0),
            "accuracy": row.accuracy, "accepted": len(row.accepted),
            "rejected": len(row.rejected), "gas": row.gas_used,
            "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


def _run_child(nodes: int, transport: str, ctx: BenchContext, limit_s: float) -> dict[str, Any]:
    log = ctx.work_dir / f"scale-{nodes}-{transport}.log"
    out = ctx.work_dir / f"scale-{nodes}-{transport}.json"
    work = ctx.work_dir / f"scale-{nodes}-{transport}"
    cmd = [ctx.python, str(Path(__file__).resolve()), "--nodes", str(nodes), "--json-out",
           str(out), "--workdir", str(work), "--transport", transport]
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
    return {"nodes": nodes, "transport": transport, "ok": False, "why": why, "wall_s": wall}


def _exponent(a: dict[str, Any], b: dict[str, Any], key: str = "round_s") -> float:
    """k in round time (or ``key``) ~ n^k between two sizes."""
    return math.log(b[key] / a[key]) / math.log(b["nodes"] / a["nodes"])


def _nlogn_exponent(a: int, b: int) -> float:
    """The same exponent for cost ~ n log n between sizes a and b (above 1: the log's share)."""
    return math.log(b * math.log(b) / (a * math.log(a))) / math.log(b / a)


def run(ctx: BenchContext) -> SectionResult:
    from sectools import line_plot, machine_footer, table

    budget = float(os.environ.get("MILON_BENCH_SCALE_BUDGET_S", DEFAULT_BUDGET_S))
    sizes = ((2, "libp2p"),) if ctx.quick else SIZES
    t0 = time.monotonic()
    results: list[dict[str, Any]] = []
    for n, transport in sizes:
        left = budget - (time.monotonic() - t0)
        if left < 30:
            results.append({"nodes": n, "transport": transport, "ok": False,
                            "why": "not started: the budget is spent"})
            break
        res = _run_child(n, transport, ctx, left)
        results.append(res)
        if not res["ok"]:
            break
    done = [r for r in results if r["ok"]]
    largest = max((r["nodes"] for r in done), default=0)
    rows = [[r["nodes"], r["transport"], f"{r['round_s']:.1f}", f"{r['round_cpu_s']:.1f}",
             f"{r['setup_s']:.1f}",
             f"{r['teardown_s']:.1f}", f"{r['accepted']}/{r['nodes']}",
             f"{100 * (r['accuracy'] or 0):.1f}%", f"{r['gas']:,}",
             f"{r['peak_rss_mib']:.0f}"] for r in done]
    rows += [[r["nodes"], r["transport"], "—", "—", "—", "—", "—", "—", "—",
              r["why"]]
             for r in results if not r["ok"]]
    growth = [f"{a['nodes']}→{b['nodes']} nodes: x{b['round_s'] / a['round_s']:.1f}, "
              f"n^{_exponent(a, b):.2f} (CPU n^{_exponent(a, b, 'round_cpu_s'):.2f}; n log n "
              f"would be n^{_nlogn_exponent(a['nodes'], b['nodes']):.2f}) on {a['transport']}"
              for a, b in itertools.pairwise(done) if a["transport"] == b["transport"]]
    plot = line_plot(
        ctx.out_dir / "scale_round_time.png", "One round's wall time vs federation size",
        "contributor nodes", "seconds",
        {f"{what}, {t}": ([r["nodes"] for r in done if r["transport"] == t],
                          [r[key] for r in done if r["transport"] == t])
         for what, key in (("round", "round_s"), ("set-up", "setup_s"))
         for t in dict.fromkeys(r["transport"] for r in done)},
        logx=True, logy=True, footer=machine_footer())
    failed = next((r for r in results if not r["ok"]), None)
    if failed and len(done) >= 2 and done[-2]["nodes"] < done[-1]["nodes"]:
        a, b = done[-2], done[-1]  # what the last step's growth predicts for the size that stopped
        k = math.log(failed["nodes"] / b["nodes"]) / math.log(b["nodes"] / a["nodes"])
        est = (b["setup_s"] * (b["setup_s"] / a["setup_s"]) ** k
               + b["round_s"] * (b["round_s"] / a["round_s"]) ** k)
        failed["why"] += (f" (the {a['nodes']}→{b['nodes']} growth predicts ~{est:.0f} s for "
                          "set-up and round)")
        failed["predicted_s"] = est
    import sec_scale_sim

    sim_md, sim_data = sec_scale_sim.run(ctx, results)
    md = "\n\n".join([
        "Every size is a fresh process: anvil on 127.0.0.1, the suite deployed, an owner and N "
        "contributors, each a `NodeCore` with its own state DB and blob store, all in that one "
        f"process (so they share its 2 cores and the GIL), joined to one federation. Up to "
        f"{MAX_LIBP2P} nodes each has its own libp2p host (Noise, Yamux, gossip) on 127.0.0.1, "
        "a trio loop on a thread of its own, all sharing the process's one GIL (separate "
        "machines would not); "
        "beyond, the nodes share the in-process transport (the same node code; blobs are "
        "copied through a hub, hash-checked, instead of sent over sockets). The demo's driver "
        "ticks up to 8 nodes at a time (separate machines would wait on the chain and on "
        "their peers in parallel). One round of a digits job: assignment by capacity, "
        "training, commit-reveal, the committee (7 seats drawn by stake) fetching and judging "
        "every update, confirming the aggregate, finalization; the other members fetch only "
        "the global model. *round* = the round's wall time; *set-up* = everything before it "
        "(deploy, fund, start, join, create the job); *teardown* = closing every node after "
        "it; *round CPU* = the process's CPU time over the round, all threads (on a shared "
        "machine steadier than wall time); peak RSS = the process's high-water mark (anvil "
        "not included). Accuracy after "
        "one round falls with size because every node's shard shrinks (1,437 / N samples) "
        "while the round's epochs stay 5 per node on average; a node assigned 0 epochs (the "
        "smallest capacity in a big federation) has nothing to submit.",
        table(["nodes", "transport", "round s", "round CPU s", "set-up s", "teardown s",
               "accepted",
               "accuracy after 1 round", "round gas", "peak RSS MiB"], rows),
        f"Largest federation that completed a round: **{largest} nodes**"
        + (f"; {failed['nodes']} nodes: {failed['why']}." if failed else
           f" (the cap; every size up to {sizes[-1][0]} completed).")
        + (" Round time growth: " + "; ".join(growth) + "." if growth else "")
        + f" Section budget {budget:.0f} s (MILON_BENCH_SCALE_BUDGET_S).",
        f"![round time vs nodes](benchmarks/{plot.name})",
        sim_md,
    ])
    head = ", ".join(f"{r['nodes']} nodes ({r['transport']}) {r['round_s']:.0f} s"
                     for r in done)
    return SectionResult(
        key="scale", title="Scale",
        command=".venv/bin/python tests/bench/report.py --only scale"
        + (" --quick" if ctx.quick else "")
        + "  (one size: tests/bench/sec_scale.py --nodes N [--transport libp2p|inprocess]; "
        "one sim size: tests/bench/sec_scale_sim.py --members N; Flower: "
        "tests/bench/flower_scale.py)",
        markdown=md, data={"budget_s": budget, "sizes": results, "largest": largest, **sim_data},
        headline=[f"largest federation through a round: {largest} nodes; round wall time {head}"
                  + "".join(f"; milon sim {x['members']:,} members "
                            f"{x['rounds'][-1]['wall_seconds']:.0f} s a round"
                            for x in sim_data["sim"] if x["ok"])],
        plots=[plot], device="cpu (all nodes in one process, anvil on 127.0.0.1)",
    )


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--nodes", type=int, required=True)
    ap.add_argument("--json-out", type=Path)
    ap.add_argument("--workdir", type=Path)
    ap.add_argument("--transport", choices=("libp2p", "inprocess"),
                    help=f"default: libp2p up to {MAX_LIBP2P} nodes, inprocess beyond")
    args = ap.parse_args()
    import tempfile

    with tempfile.TemporaryDirectory(prefix="milon-scale-") as tmp:
        res = one_size(args.nodes, args.workdir or Path(tmp), args.transport or "")
    text = json.dumps(res)
    print(text, flush=True)
    if args.json_out:
        args.json_out.write_text(text)
    return 0


if __name__ == "__main__":
    sys.path[:0] = [str(Path(__file__).resolve().parents[2])]
    raise SystemExit(main())
