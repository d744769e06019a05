"""Section 7, GUI: time to the first window, and the longest event-loop stall during demo rounds.

Wraps ``bench_gui_start.py`` (``python -m milon_app`` offscreen with a real
wallet unlocked from a password file, MILON_GUI_BENCH reporting when the
window is shown) and ``bench_gui_stall.py`` (a 5 ms Qt timer's gaps while
the window shows a live session and the Simulate tab's demo trains,
validates and pays rounds). Both use Qt's offscreen platform: no display
server, so painting is software rendering in process.
"""

from __future__ import annotations

import statistics

from suite import BenchContext, SectionResult

GOAL_WINDOW_S = 2.0
GOAL_STALL_MS = 50.0


def run(ctx: BenchContext) -> SectionResult:
    import bench_gui_stall
    from bench_gui_start import make_home, one_run
    from sectools import bar_plot, machine_footer, table

    runs, kdf_n = (1, 2**14) if ctx.quick else (5, 2**18)
    rounds, nodes = (1, 2) if ctx.quick else (3, 4)
    home = make_home(ctx.work_dir / "home", kdf_n)
    if not ctx.quick:
        one_run(home)  # warm-up: bytecode and font caches
    starts = [one_run(home) for _ in range(runs)]
    window = statistics.median(s[0] for s in starts)
    node_up = statistics.median(s[3] for s in starts)
    torch_early = any(s[2] for s in starts)
    phases = bench_gui_stall.measure(rounds, nodes, *((1.0, 1.0) if ctx.quick else (3.0, 5.0)))
    st = {k: bench_gui_stall.stats(v) for k, v in phases.items() if k != "rounds_done"}
    names = {"first_3s": "window's first seconds", "idle": "idle window (baseline)",
             "round_1": f"demo round 1 ({nodes} nodes)", "later_rounds": f"demo rounds 2-{rounds}" if rounds > 1 else "after the demo's round"}
    start_rows = [[i, f"{s[0]:.3f}", f"{s[1]:.3f}", f"{s[3]:.3f}", "yes" if s[2] else "no"]
                  for i, s in enumerate(starts, 1)]
    stall_rows = [[names[k], v["ticks"], f"{v['median_ms']:.1f}", f"{v['p99_ms']:.1f}",
                   f"**{v['max_ms']:.1f}**", v["over_50ms"]] for k, v in st.items()]
    demo = [k for k in ("round_1", "later_rounds") if st[k]["ticks"]]
    worst = max((st[k]["max_ms"] for k in demo), default=0.0)
    plot = bar_plot(ctx.out_dir / "gui_stalls.png", "Longest Qt event-loop gap per phase",
                    "ms", {names[k].split(" (")[0]: v["max_ms"] for k, v in st.items()},
                    hline=(f"goal {GOAL_STALL_MS:.0f} ms", GOAL_STALL_MS), footer=machine_footer())
    md = "\n\n".join([
        f"**Time to the first window**: `milon` started {runs} time(s)"
        f"{'' if ctx.quick else ' (after one warm-up)'} with a wallet encrypted at scrypt "
        f"n={kdf_n} unlocked from a 0600 password file; *window s* is the app's own clock from "
        "process creation to the shown main window, *observed s* what the parent saw on the "
        f"app's stdout. Median **{window:.3f} s** (goal < {GOAL_WINDOW_S:.0f} s); node running "
        f"at {node_up:.3f} s; torch imported before the window: {'yes' if torch_early else 'no'}.",
        table(["run", "window s", "observed s", "node started s", "torch before window"],
              start_rows),
        f"**Event-loop stalls**: a 5 ms QTimer records the gaps between its ticks while the "
        f"window shows the Training tab of a live session and the Simulate tab runs a {nodes}-node "
        f"demo for {rounds} round(s) in the same process (worker threads). The longest gap is the "
        f"worst freeze a user would feel (goal < {GOAL_STALL_MS:.0f} ms); the idle window is the "
        "baseline measured in the same run.",
        table(["phase", "ticks", "median ms", "p99 ms", "max ms", "> 50 ms"], stall_rows),
        f"![event-loop stalls](benchmarks/{plot.name})",
    ])
    return SectionResult(
        key="gui", title="GUI responsiveness",
        command=".venv/bin/python tests/bench/report.py --only gui"
        + (" --quick" if ctx.quick else "")
        + "  (or tests/bench/bench_gui_start.py, tests/bench/bench_gui_stall.py)",
        markdown=md,
        data={"start_runs": [list(s) for s in starts], "kdf_n": kdf_n, "window_median_s": window,
              "stalls": st, "demo_nodes": nodes, "demo_rounds": rounds},
        headline=[f"first window {window:.2f} s after start (median of {runs}); longest "
                  f"event-loop stall during demo rounds {worst:.0f} ms (idle "
                  f"{st['idle']['max_ms']:.0f} ms)"],
        plots=[plot], device="cpu (Qt offscreen platform)",
    )
