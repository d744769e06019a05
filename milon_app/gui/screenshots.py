"""``python -m milon_app.gui.screenshots OUTDIR``: a PNG of every tab on a live federation.

It starts the app's simulated network, joins it, runs a small job the user
owns to completion (so charts, rounds and rewards have real data), makes a
governance proposal and votes, then grabs each tab. ``docs/screenshots/`` comes
from here, so it always shows what the code draws (the README's own pictures, a
new user's first minute under Xvfb, come from ``tests/gui/xvfb_tour.py``).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ETHER = 10**18
SIZE = (1280, 800)


def _pump(app: Any, until: Callable[[], bool], timeout_s: float, what: str) -> None:
    end = time.monotonic() + timeout_s
    while not until():
        if time.monotonic() > end:
            raise TimeoutError(f"screenshots: gave up waiting for {what}")
        app.processEvents()
        time.sleep(0.02)


def _activity(session: Any, app: Any) -> int:
    """Real work on the simulated chain: a job the user owns and trains in, a proposal."""
    from milon_app.chain.bindings import JobStatus
    from milon_app.chain.governance import Support
    from milon_app.compute.datasets import DatasetSpec
    from milon_app.compute.model_spec import digits_mlp
    from milon_app.node.owner import JobRequest

    s = session
    s.core.join(1, 50 * ETHER, 400, " ".join(s.core.transport.listen_addrs()) or "inprocess")
    req = JobRequest(fed_id=1, spec=digits_mlp(), dataset=DatasetSpec(kind="builtin",
                                                                      name="digits"),
                     total_epochs=48, epochs_per_round=16, reward_per_epoch=ETHER)
    job_id = s.core.owner.create_job(req)
    _pump(app, lambda: s.milon.job(job_id).status is JobStatus.COMPLETED, 600, "the job")
    gov = s.governance()
    gov.delegate(s.account)
    call = gov.set_parameter("max-epochs-per-round", 512, "Allow 512 epochs per round")
    pid = gov.propose(s.account, call)
    s.core.suite.client.mine(2)
    gov.vote(s.account, pid, Support.FOR, "Larger rounds suit our bigger members")
    return int(job_id)


def take(outdir: Path, *, transport: str = "libp2p", dark: bool | None = None) -> list[Path]:
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from eth_account import Account
    from PySide6.QtWidgets import QApplication

    from milon_app.config import Config
    from milon_app.gui.bridge import EventBridge
    from milon_app.gui.context import GuiContext
    from milon_app.gui.tasks import TaskRunner
    from milon_app.gui.theme import apply_theme
    from milon_app.gui.window import MainWindow
    from milon_app.session.session import Session, SessionOptions

    app = QApplication.instance() or QApplication(sys.argv[:1])
    apply_theme(app, dark)  # type: ignore[arg-type]
    outdir.mkdir(parents=True, exist_ok=True)
    shots: list[Path] = []
    with tempfile.TemporaryDirectory(prefix="milon-shots-") as tmp:
        acct = Account.create()  # a throwaway account on a throwaway chain
        session = Session(Config(), Path(tmp), acct, SessionOptions(transport=transport))
        session.secret_store = "encrypted-file keyring (example)"  # noqa: S105 - a label
        session.start()
        runner = TaskRunner()
        bridge = EventBridge(session.bus)
        ctx = GuiContext(session=session, runner=runner, bridge=bridge)
        window = MainWindow(ctx)
        window.resize(*SIZE)
        window.show()
        try:
            job_id = _activity(session, app)
            _simulate(window, app)
            for i in range(window.tabs.count()):
                tab: Any = window.tabs.widget(i)
                window.tabs.setCurrentIndex(i)
                if hasattr(tab, "select"):  # the Training tab: the user's own node and job
                    tab.select(job_id, session.address)
                before = getattr(tab, "loads", 0)
                window.refresh_current()
                _pump(app, _loaded_after(tab, before), 60, "a refresh")
                _pump(app, lambda: runner.pending == 0, 60, "background work")
                _select_first_rows(tab)
                for _ in range(20):
                    app.processEvents()
                    time.sleep(0.01)
                name = window.tabs.tabText(i).lower().replace(" ", "-")
                path = outdir / f"{i + 1:02d}-{name}.png"
                window.grab().save(str(path))
                shots.append(path)
        finally:
            window.close()
            runner.wait_idle(10_000)
            bridge.close()
            runner.shutdown()
            session.stop()
    return shots


def _loaded_after(tab: Any, before: int) -> Callable[[], bool]:
    return lambda: bool(getattr(tab, "loads", before + 1) > before)


def _simulate(window: Any, app: Any) -> None:
    """The Simulate tab runs a small byzantine demo, as a user would from its form."""
    tab = window.show_tab("Simulate")
    tab.nodes.setValue(3)
    tab.rounds.setValue(2)
    tab.byzantine.setValue(1)
    tab.rule.setCurrentText("median")
    tab.governance.setChecked(False)
    tab.run_button.click()
    _pump(app, lambda: not tab.running, 600, "the in-app demo")


def _select_first_rows(tab: Any) -> None:
    """A selected row shows the detail panes instead of 'select a row' prompts."""
    from PySide6.QtWidgets import QTableWidget

    for t in tab.findChildren(QTableWidget):
        if t.rowCount() and t.currentRow() < 0:
            t.selectRow(0)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m milon_app.gui.screenshots")
    p.add_argument("outdir", type=Path)
    p.add_argument("--transport", default="libp2p", choices=("libp2p", "inprocess"))
    p.add_argument("--theme", choices=("system", "light", "dark"), default="light")
    args = p.parse_args(argv)
    dark = None if args.theme == "system" else args.theme == "dark"
    for path in take(args.outdir, transport=args.transport, dark=dark):
        print(path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
