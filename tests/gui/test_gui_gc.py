"""Cyclic garbage made on a worker thread is collected on the GUI thread (gui/gui_gc.py)."""

from __future__ import annotations

import gc
import threading
from typing import Any

from tests.gui.conftest import wait_until


class Cycle:
    """Half of a reference cycle that records the thread that finalizes it."""

    died_on: list[str] = []

    def __init__(self) -> None:
        self.me = self

    def __del__(self) -> None:
        Cycle.died_on.append(threading.current_thread().name)


N = 2_000  # past the youngest generation's threshold (700 by default), made on the worker


def make_garbage() -> None:
    for _ in range(N):
        Cycle()


def test_cycles_from_a_worker_die_on_the_gui_thread(qtbot: Any, gui_thread_gc: Any) -> None:
    assert not gc.isenabled()
    Cycle.died_on.clear()
    worker = threading.Thread(target=make_garbage, name="worker")
    worker.start()
    worker.join(10)
    wait_until(qtbot, lambda: len(Cycle.died_on) == N, 10_000)
    assert set(Cycle.died_on) == {threading.main_thread().name}
    assert gui_thread_gc.collections > 0


def test_stop_restores_automatic_collection(qtbot: Any) -> None:
    from milon_app.gui.gui_gc import GuiThreadCollector

    assert not gc.isenabled()  # the autouse collector of this test
    inner = GuiThreadCollector()
    inner.stop()
    assert not gc.isenabled()  # it found collection off: it leaves it off
