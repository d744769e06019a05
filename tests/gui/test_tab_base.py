"""Tab plumbing: a refresh asked for while a load runs lands with the load after it; an
answer that comes back for a deleted widget is dropped."""

from __future__ import annotations

import threading
from types import SimpleNamespace
from typing import Any

from milon_app.gui.tabs.base import Tab
from milon_app.gui.tasks import TaskRunner
from tests.gui.conftest import wait_until


class Gated(Tab):
    """Each load waits for the test's go, then fails or returns the chain's 'news'."""

    def __init__(self, runner: TaskRunner, failures: int) -> None:
        super().__init__(SimpleNamespace(runner=runner, status=lambda _text: None))  # type: ignore[arg-type]
        self.go = threading.Event()
        self.failures = failures
        self.news = "old"
        self.shown: list[str] = []

    def load(self) -> Any:
        assert self.go.wait(10)
        self.go.clear()
        if self.failures:
            self.failures -= 1
            raise OSError("the RPC went away")
        return self.news

    def show_data(self, data: Any) -> None:
        self.shown.append(data)


def run(qtbot: Any, failures: int) -> Gated:
    runner = TaskRunner()
    tab = Gated(runner, failures)
    qtbot.addWidget(tab)
    tab.refresh()  # a load under way ...
    tab.news = "new"
    tab.refresh()  # ... when the chain changes: this refresh must not be lost
    assert tab.loading
    tab.go.set()
    wait_until(qtbot, lambda: tab.loads == 1)
    assert tab.loading  # the queued load runs now
    tab.go.set()
    wait_until(qtbot, lambda: not tab.loading)
    runner.shutdown()
    return tab


def test_a_refresh_during_a_load_runs_after_it(qtbot):
    tab = run(qtbot, failures=0)
    assert tab.shown == ["new", "new"] and tab.loads == 2


def test_a_refresh_during_a_failed_load_is_not_lost(qtbot):
    tab = run(qtbot, failures=1)
    assert tab.shown == ["new"] and tab.loads == 2


def test_an_answer_for_a_deleted_widget_is_dropped(qtbot):
    import shiboken6
    from PySide6.QtWidgets import QLabel

    runner = TaskRunner()
    label = QLabel()
    go = threading.Event()
    runner.run(lambda: go.wait(10) and "late", label.setText)
    shiboken6.delete(label)  # the dialog closed while its work ran
    go.set()
    assert runner.wait_idle(10_000)  # delivered without raising on the dead label
    runner.shutdown()
