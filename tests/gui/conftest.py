"""GUI tests: a real session (embedded chain, simulated members) behind a real window.

Qt runs offscreen, so no display is needed. The session uses the in-process
transport to keep each test quick; the libp2p path has its own test.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")


@pytest.fixture(autouse=True)
def gui_thread_gc(qapp: Any) -> Iterator[Any]:
    """As in the app: cyclic garbage is collected on the GUI thread only (gui/gui_gc.py), then
    the test's own cycles here, before the next test's threads run."""
    import gc

    from milon_app.gui.gui_gc import GuiThreadCollector

    collector = GuiThreadCollector()
    try:
        yield collector
    finally:
        collector.stop()
        gc.collect()


def running_session(
    tmp_path: Path, key: bytes, transport: str, cfg: Any = None
) -> Iterator[Any]:
    """A started session on the simulated network (no welcome job), stopped afterwards;
    ``cfg``: the user's config (default: every default)."""
    from eth_account import Account

    from milon_app.config import Config
    from milon_app.session.session import Session, SessionOptions

    # Tests that create their own jobs count them: no welcome job (test_welcome_job_gui.py).
    opts = SessionOptions(transport=transport, tick_s=0.1, welcome_job=False)
    s = Session(cfg or Config(), tmp_path, Account.from_key(key), opts)
    s.start()
    try:
        yield s
    finally:
        s.stop()


@pytest.fixture
def session(tmp_path: Path) -> Iterator[Any]:
    yield from running_session(tmp_path, b"\x11" * 32, "inprocess")  # THROWAWAY test key


@pytest.fixture
def ctx(qtbot: Any, session: Any) -> Iterator[Any]:
    """A GuiContext on the session, without the main window (for one tab at a time)."""
    from milon_app.gui.bridge import EventBridge
    from milon_app.gui.context import GuiContext
    from milon_app.gui.tasks import TaskRunner

    runner = TaskRunner()
    bridge = EventBridge(session.bus)
    notes: list[tuple[str, str]] = []
    c = GuiContext(session=session, runner=runner, bridge=bridge, notify=lambda t, m: notes.append((t, m)))
    c.notes = notes  # type: ignore[attr-defined]
    try:
        yield c
    finally:
        runner.wait_idle(10_000)
        bridge.close()
        runner.shutdown()


@pytest.fixture
def gui(qtbot: Any, session: Any) -> Iterator[Any]:
    """(window, ctx) with every tab built on the session."""
    from milon_app.gui.bridge import EventBridge
    from milon_app.gui.context import GuiContext
    from milon_app.gui.tasks import TaskRunner
    from milon_app.gui.window import MainWindow

    runner = TaskRunner()
    bridge = EventBridge(session.bus)
    ctx = GuiContext(session=session, runner=runner, bridge=bridge)
    window = MainWindow(ctx)
    qtbot.addWidget(window)
    window.show()
    try:
        yield window, ctx
    finally:
        window.close()
        runner.wait_idle(10_000)
        bridge.close()
        runner.shutdown()


def wait_until(qtbot: Any, check: Callable[[], Any], timeout_ms: int = 20_000) -> None:
    """Wait (processing Qt events) until ``check()`` is truthy."""
    qtbot.waitUntil(lambda: bool(check()), timeout=timeout_ms)


def refreshed(qtbot: Any, tab: Any, timeout_ms: int = 20_000) -> None:
    """Trigger a refresh of ``tab`` and wait for it to land: when a load was already under
    way, the refresh runs after it, so wait for that one too (``tab.loading``)."""
    before = tab.loads
    tab.refresh()
    qtbot.waitUntil(lambda: tab.loads > before and not tab.loading, timeout=timeout_ms)
