"""A trio event loop on its own thread, driven by blocking calls from other threads.

libp2p is trio code; the node core, the daemon and the GUI are not. One
dedicated loop thread (measured faster than trio guest mode on Qt) owns every
libp2p object, and other threads reach it only through :meth:`TrioThread.call`,
which blocks the caller, never the loop.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import trio

from milon_app.errors import NetworkError

T = TypeVar("T")
Serve = Callable[..., Awaitable[None]]  # serve(stop_event, task_status=...)


class TrioThread:
    """Runs ``serve(stop_event, task_status=...)`` on a fresh trio loop in a thread."""

    def __init__(self, name: str) -> None:
        self._name = name
        self._thread: threading.Thread | None = None
        self._token: trio.lowlevel.TrioToken | None = None
        self._stop: trio.Event | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive() and self._token is not None

    def start(self, serve: Serve, timeout_s: float) -> None:
        if self._thread is not None:
            raise NetworkError(f"{self._name} was already started")
        # daemon: a host someone forgot to stop must not keep the process alive at exit
        self._thread = threading.Thread(
            target=self._run, args=(serve,), name=self._name, daemon=True
        )
        self._thread.start()
        if not self._ready.wait(timeout_s):
            self.stop(timeout_s)
            raise NetworkError(f"{self._name} did not start within {timeout_s:.0f} s")
        if self._error is not None:
            self._thread.join(timeout_s)
            raise NetworkError(f"{self._name} failed to start: {self._error}") from self._error

    def _run(self, serve: Serve) -> None:
        try:
            trio.run(self._main, serve)
        except BaseException as exc:  # surfaced to start(); the thread must not die loudly
            self._error = self._error or exc
        finally:
            self._token = None
            self._ready.set()

    async def _main(self, serve: Serve) -> None:
        self._stop = trio.Event()
        self._token = trio.lowlevel.current_trio_token()
        async with trio.open_nursery() as nursery:
            await nursery.start(serve, self._stop)
            self._ready.set()

    def call(self, afn: Callable[..., Awaitable[T]], *args: Any, timeout_s: float) -> T:
        """Run ``afn(*args)`` on the loop and wait for it; TimeoutError after ``timeout_s``."""
        token = self._token
        if token is None:
            raise NetworkError(f"{self._name} is not running")

        async def bounded() -> T:
            with trio.fail_after(max(timeout_s, 0.001)):
                return await afn(*args)

        try:
            return trio.from_thread.run(bounded, trio_token=token)
        except trio.TooSlowError:
            raise TimeoutError(f"timed out after {timeout_s:.1f} s") from None
        except trio.RunFinishedError:
            raise NetworkError(f"{self._name} stopped") from None

    def call_soon(self, fn: Callable[..., Any], *args: Any) -> None:
        """Run a plain function on the loop without waiting (no-op when stopped)."""
        token = self._token
        if token is None:
            return
        with contextlib.suppress(trio.RunFinishedError):
            token.run_sync_soon(fn, *args)

    def stop(self, timeout_s: float) -> None:
        thread, stop = self._thread, self._stop
        if thread is None:
            return
        if stop is not None:
            self.call_soon(stop.set)
        thread.join(timeout_s)
        if thread.is_alive():
            raise NetworkError(f"{self._name} did not stop within {timeout_s:.0f} s")
        self._thread = None
