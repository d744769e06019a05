"""Run blocking work off the GUI thread and get the answer back on it.

Chain calls, the keyring, training and the network all block; a slot that
called them directly would freeze the window. Tabs hand such work to the
:class:`TaskRunner`; its callbacks run on the GUI thread through a queued
signal, so they may touch widgets.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import shiboken6
from PySide6.QtCore import QCoreApplication, QDeadlineTimer, QObject, Signal, Slot

from milon_app.errors import MilonError

log = logging.getLogger(__name__)
Done = Callable[[Any], None]
Failed = Callable[[BaseException], None]


def describe_error(exc: BaseException) -> str:
    """What a user should read: our errors say what is wrong; others get their type named."""
    if isinstance(exc, MilonError):
        return str(exc)
    return f"{type(exc).__name__}: {exc}"


class TaskRunner(QObject):
    _finished = Signal(object, object, object, object)  # on_done, on_error, result, exception
    failed = Signal(str, str)  # what, message: for a status line when no on_error was given
    busy_changed = Signal(int)

    def __init__(self, workers: int = 4, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="milon-gui-task")
        self._pending = 0
        self._reading = 0  # view loads still running (quitting waits for them: app._stop)
        self._closed = False
        self._lock = threading.Lock()
        self._finished.connect(self._deliver)

    @property
    def pending(self) -> int:
        with self._lock:
            return self._pending

    @property
    def views_reading(self) -> int:
        """Tasks run with ``view=True`` whose function has not returned yet."""
        with self._lock:
            return self._reading

    def run(
        self,
        fn: Callable[[], Any],
        on_done: Done | None = None,
        on_error: Failed | None = None,
        *,
        what: str = "",
        view: bool = False,
    ) -> Future[Any]:
        """Call ``fn()`` on a worker thread; ``on_done(result)`` or ``on_error(exc)`` after.

        After :meth:`shutdown` (the window is closing) work is dropped, not raised:
        a timer or signal may still fire once on the way out.
        """
        if self._closed:
            dropped: Future[Any] = Future()
            dropped.cancel()
            return dropped
        with self._lock:
            self._pending += 1
            self._reading += view
            count = self._pending
        self.busy_changed.emit(count)
        label = what or getattr(fn, "__name__", "task")

        def job() -> Any:
            try:
                try:
                    result = fn()
                finally:
                    with self._lock:
                        self._reading -= view
            except BaseException as exc:
                if not isinstance(exc, MilonError):
                    log.exception("%s failed", label)
                self._finished.emit(None, on_error or _reporter(self, label), None, exc)
                raise
            self._finished.emit(on_done, None, result, None)
            return result

        try:
            return self._pool.submit(job)
        except RuntimeError:  # shut down between the check above and now
            with self._lock:
                self._pending -= 1
                self._reading -= view
            dropped = Future()
            dropped.cancel()
            return dropped

    @Slot(object, object, object, object)
    def _deliver(
        self, on_done: Done | None, on_error: Failed | None, result: Any, exc: Any
    ) -> None:
        with self._lock:
            self._pending -= 1
            count = self._pending
        try:
            if exc is not None and on_error is not None and _alive(on_error):
                on_error(exc)
            elif exc is None and on_done is not None and _alive(on_done):
                on_done(result)
        finally:
            self.busy_changed.emit(count)

    def wait_idle(self, timeout_ms: int = 30_000) -> bool:
        """Process events until every task delivered (tests, shutdown)."""
        deadline = QDeadlineTimer(timeout_ms)
        while True:
            # events first: a delivered result may start follow-up work (a reload)
            QCoreApplication.processEvents()
            if self.pending == 0:
                return True
            if deadline.hasExpired():
                return False
            threading.Event().wait(0.005)

    def shutdown(self) -> None:
        self._closed = True
        self._pool.shutdown(wait=True, cancel_futures=True)


def _alive(callback: Callable[..., Any]) -> bool:
    """False for a method of a Qt object already deleted (a closed dialog whose work came
    back late): its answer is dropped instead of raising on a dead widget."""
    owner = getattr(callback, "__self__", None)
    return not isinstance(owner, QObject) or shiboken6.isValid(owner)


def _reporter(runner: TaskRunner, what: str) -> Failed:
    def report(exc: BaseException) -> None:
        runner.failed.emit(what, describe_error(exc))

    return report
