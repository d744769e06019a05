"""Work a tick loop polls: started once per key, collected once when it is done."""

from __future__ import annotations

from collections.abc import Callable, Hashable
from concurrent.futures import Future
from typing import TypeVar

K = TypeVar("K", bound=Hashable)
T = TypeVar("T")


def poll_once(
    pending: dict[K, Future[T]], key: K, start: Callable[[], Future[T]]
) -> Future[T] | None:
    """The finished future for ``key`` (removed from ``pending``), or None while it runs.

    The first call for a key starts the work and returns None; a tick loop never waits."""
    future = pending.get(key)
    if future is None:
        pending[key] = start()
        return None
    if not future.done():
        return None
    del pending[key]
    return future
