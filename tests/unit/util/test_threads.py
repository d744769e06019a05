"""after_thread: a resource is released only once the thread using it has ended."""

from __future__ import annotations

import threading

from milon_app.util.threads import after_thread


def test_released_at_once_when_the_thread_is_gone():
    done: list[str] = []
    after_thread(None, lambda: done.append("none"))
    t = threading.Thread(target=lambda: None)
    t.start()
    t.join()
    after_thread(t, lambda: done.append("ended"))
    assert done == ["none", "ended"]


def test_released_only_after_a_running_thread_ends():
    go, released = threading.Event(), threading.Event()
    order: list[str] = []

    def work() -> None:
        go.wait(10)
        order.append("thread ended")

    t = threading.Thread(target=work, name="busy")
    t.start()
    after_thread(t, lambda: (order.append("released"), released.set()))
    assert order == [] and not released.is_set()  # the thread still runs: nothing released
    go.set()
    assert released.wait(10)
    assert order == ["thread ended", "released"]
