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
    waits = (1.0, 1.0) if ctx.quick else (3.0, 5.0)
    # the app's way (simulated federation and demo in a child process) and the baseline (all in
    # the window's process, as before issue 20), same run, same machine
    modes = {"child": True} if ctx.quick else {"child": True, "in-window": False}
    measured = {m: bench_gui_stall.measure(rounds, nodes, *waits, sim_process=child,
                                           welcome=not ctx.quick)
                for m, child in modes.items()}
    st_by = {m: {k: bench_gui_stall.stats(v) for k, v in ph.items()
                 if k not in ("rounds_done", "welcome_paid")} for m, ph in measured.items()}
    st = st_by["child"]
    names = {"first_3s": "window's first seconds", "idle": "idle window (baseline)",
             "welcome_job": "the simulated federation's welcome job trains (user joined)",
             "round_1": f"demo round 1 ({nodes} nodes)",
             "later_rounds": f"demo rounds 2-{rounds}" if rounds > 1 else "after the demo's round"}
    start_rows = [[i, f"{s[0]:.3f}", f"{s[1]:.3f}", f"{s[3]:.3f}", "yes" if s[2] else "no"]
                  for i, s in enumerate(starts, 1)]
    stall_rows = [[names[k], *(f"{st_by[m][k]['ticks']}" for m in modes),
                   *(f"{st_by[m][k]['p99_ms']:.1f}" for m in modes),
                   *(f"**{st_by[m][k]['max_ms']:.1f}**" for m in modes),
                   *(str(st_by[m][k]["over_50ms"]) for m in modes)]
                  for k in names if any(st_by[m][k]["ticks"] for m in modes)]
    busy = [k for k in ("welcome_job", "round_1", "later_rounds") if st[k]["ticks"]]
    worst = max((st[k]["max_ms"] for k in busy), default=0.0)
    before = st_by.get("in-window", st)
    worst_before = max((before[k]["max_ms"] for k in busy), default=0.0)
    plot = bar_plot(ctx.out_dir / "gui_stalls.png", "Longest Qt event-loop gap per phase",
                    "ms", {f"{names[k].split(' (')[0][:28]} ({m})": st_by[m][k]["max_ms"]
                           for k in names for m in modes},
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
        "window shows the Training tab of a live session; the user's node joins the simulated "
        "federation and trains its welcome job until paid, then the Simulate tab runs a "
        f"{nodes}-node demo for {rounds} round(s). *child*: the simulated federation and the "
        "demo run in a child process (the app's way since issue 20); *in-window*: all in the "
        "window's process (the baseline), same run. The longest gap is the worst freeze a user "
        f"would feel (goal < {GOAL_STALL_MS:.0f} ms, maximum); the idle window is the baseline "
        f"of the machine itself. Longest while busy: **{worst:.1f} ms** in a child vs "
        f"{worst_before:.1f} ms in the window's process.",
        table(["phase", *(f"{what} ({m})" for what in ("ticks", "p99 ms", "max ms", "> 50 ms")
                          for m in modes)], stall_rows),
        f"![event-loop stalls](benchmarks/{plot.name})",
    ])
    return SectionResult(
        key="gui", title="GUI responsiveness",
        command=".venv/bin/python tests/bench/report.py --only gui"
        + (" --quick" if ctx.quick else "")
        + "  (or tests/bench/bench_gui_start.py, tests/bench/bench_gui_stall.py)",
        markdown=md,
        data={"start_runs": [list(s) for s in starts], "kdf_n": kdf_n, "window_median_s": window,
              "stalls": st_by, "demo_nodes": nodes, "demo_rounds": rounds,
              "welcome_paid": {m: ph["welcome_paid"][0] for m, ph in measured.items()}},
        headline=[f"first window {window:.2f} s after start (median of {runs}); longest "
                  f"event-loop stall while the simulation trains {worst:.0f} ms with it in a "
                  f"child process vs {worst_before:.0f} ms in the window's (idle "
                  f"{st['idle']['max_ms']:.0f} ms)"],
        plots=[plot], device="cpu (Qt offscreen platform)",
    )
