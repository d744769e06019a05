"""How long the Qt event loop stalls while the app runs demo rounds.

A 5 ms QTimer records the gap between its ticks while the window is open on
a live session (the Training tab showing, its charts redrawing) and the
Simulate tab's demo trains, validates and pays rounds on worker threads. The
longest gap is the worst freeze a user would feel (goal: under 50 ms). The
figures are split: the window's first seconds (first paints, first imports),
the idle window after that (the baseline, same run), the demo's first round
(first-time costs again: charts created, modules imported) and its later
rounds (the steady state).

    QT_QPA_PLATFORM=offscreen .venv/bin/python tests/bench/bench_gui_stall.py [--rounds 3]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")


class Ticks:
    """Gaps between 5 ms timer ticks, each stamped with when it ended."""

    def __init__(self) -> None:
        self.gaps: list[tuple[float, float]] = []  # (end time, gap ms)
        self._last = time.perf_counter()

    def tick(self) -> None:
        now = time.perf_counter()
        self.gaps.append((now, (now - self._last) * 1000))
        self._last = now

    def restart(self) -> None:
        self._last = time.perf_counter()

    def between(self, start: float, end: float) -> list[float]:
        return [g for t, g in self.gaps if start <= t < end]


def pump(app: Any, until: Any, timeout_s: float) -> None:
    end = time.monotonic() + timeout_s
    while not until() and time.monotonic() < end:
        app.processEvents()
        time.sleep(0.001)


def stats(gaps: list[float]) -> dict[str, float]:
    """Tick count, median, 99th percentile, max and count over 50 ms of a list of gaps (ms)."""
    if not gaps:
        return {"ticks": 0, "median_ms": 0.0, "p99_ms": 0.0, "max_ms": 0.0, "over_50ms": 0}
    s = sorted(gaps)
    return {"ticks": len(s), "median_ms": statistics.median(s),
            "p99_ms": s[max(0, int(len(s) * 0.99) - 1)], "max_ms": s[-1],
            "over_50ms": sum(1 for g in s if g > 50)}


def report(name: str, gaps: list[float]) -> float:
    if not gaps:
        print(f"{name:<30} no ticks")
        return 0.0
    st = stats(gaps)
    print(f"{name:<30} ticks {st['ticks']:>6}  median {st['median_ms']:5.1f} ms  "
          f"p99 {st['p99_ms']:6.1f} ms  max {st['max_ms']:6.1f} ms  >50 ms: {st['over_50ms']}")
    return st["max_ms"]


def measure(
    rounds: int, nodes: int, first_s: float = 3.0, idle_s: float = 5.0, *,
    sim_process: bool = True, welcome: bool = True,
) -> dict[str, list[float]]:
    """Open the window on a live session, join the simulated federation and train its welcome
    job, then run the demo from the window; the gaps of each phase (ms). ``sim_process``: the
    simulated federation and the demo in a child process (the app's way) or in the window's."""
    from eth_account import Account
    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QApplication

    from milon_app.config import Config
    from milon_app.demo import DemoOptions
    from milon_app.gui.bridge import EventBridge
    from milon_app.gui.context import GuiContext
    from milon_app.gui.tasks import TaskRunner
    from milon_app.gui.theme import apply_theme
    from milon_app.gui.window import MainWindow
    from milon_app.session.session import Session, SessionOptions

    app = QApplication.instance() or QApplication(sys.argv[:1])
    apply_theme(app, False)  # type: ignore[arg-type]
    ticks = Ticks()
    timer = QTimer()
    timer.setInterval(5)
    timer.timeout.connect(ticks.tick)
    with tempfile.TemporaryDirectory() as tmp:
        session = Session(Config(), Path(tmp), Account.create(), SessionOptions(
            transport=os.environ.get("STALL_TRANSPORT", ""), sim_process=sim_process))
        session.start()
        runner = TaskRunner()
        ctx = GuiContext(session=session, runner=runner, bridge=EventBridge(session.bus))
        window = MainWindow(ctx)
        ticks.restart()
        timer.start()
        t_show = time.perf_counter()
        window.show()
        window.show_tab(os.environ.get("STALL_TAB", "Training"))
        try:
            pump(app, lambda: False, first_s)
            t_idle = time.perf_counter()
            pump(app, lambda: False, idle_s)
            t_join = time.perf_counter()
            paid = _join_and_train(app, runner, session) if welcome else False
            t_demo = time.perf_counter()
            round_ends: list[float] = []
            done: list[Any] = []
            opts = DemoOptions(nodes=nodes, rounds=rounds, governance=False, baseline=False)
            runner.run(
                lambda: session.run_demo(opts, lambda _row, _n: round_ends.append(
                    time.perf_counter())),
                done.append, done.append,
            )
            pump(app, lambda: bool(done), 900)
            t_end = time.perf_counter()
        finally:
            timer.stop()
            window.close()
            runner.wait_idle(30_000)
            runner.shutdown()
            session.stop()
    first_end = round_ends[0] if round_ends else t_end
    return {
        "first_3s": ticks.between(t_show, t_idle),
        "idle": ticks.between(t_idle, t_join),
        "welcome_job": ticks.between(t_join, t_demo),
        "welcome_paid": [1.0 if paid else 0.0],
        "round_1": ticks.between(t_demo, first_end),
        "later_rounds": ticks.between(first_end, t_end),
        "rounds_done": [float(len(round_ends))],
    }


def _join_and_train(app: Any, runner: Any, session: Any) -> bool:
    """Join the simulated federation from a worker thread, as the Federations tab does, and
    pump the window until the welcome job's first reward reaches the user (or 240 s pass)."""
    from milon_app.harness import peer_info
    from milon_app.node import events as ev

    me = session.address
    paid: list[Any] = []
    session.bus.subscribe(lambda e: paid.append(e) if e.node == me else None, ev.RewardCredited)
    done: list[Any] = []
    runner.run(lambda: session.core.join(1, 50 * 10**18, 100, peer_info(session.core)),
               done.append, done.append)
    pump(app, lambda: bool(paid), 240)
    return bool(paid)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--nodes", type=int, default=4)
    p.add_argument("--in-process", action="store_true",
                   help="run the simulated federation and the demo in the window's process")
    args = p.parse_args()
    phases = measure(args.rounds, args.nodes, sim_process=not args.in_process)
    n_rounds = int(phases["rounds_done"][0])
    print("simulated federation in", "the window's process" if args.in_process else
          "a child process")
    report("window's first 3 s", phases["first_3s"])
    idle = report("idle window (baseline)", phases["idle"])
    paid = "paid" if phases["welcome_paid"][0] else "NOT paid within 240 s"
    report(f"welcome job trains ({paid})", phases["welcome_job"])
    report(f"demo round 1 ({args.nodes} nodes)", phases["round_1"])
    later = report(f"demo rounds 2-{n_rounds}", phases["later_rounds"])
    print(f"steady-state longest stall {later:.1f} ms vs {idle:.1f} ms idle "
          f"({later / max(idle, 1e-3):.1f}x; goal < 50 ms)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
