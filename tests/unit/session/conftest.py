"""A thread-leak check for the session tests, like the p2p transport's start/stop check."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest

SETTLE_S = 5.0  # a stopped thread may take a moment to finish its last step


def leftover_threads(before: set[threading.Thread], settle_s: float = SETTLE_S) -> list[str]:
    """Names of the threads started since ``before`` that are still alive after ``settle_s``."""

    def left() -> list[str]:
        return sorted(t.name for t in threading.enumerate() if t not in before and t.is_alive())

    deadline = time.monotonic() + settle_s
    while left() and time.monotonic() < deadline:
        time.sleep(0.05)
    return left()


@pytest.fixture
def no_thread_left() -> Iterator[None]:
    """Fails the test when a thread started during it (or by fixtures set up after this one)
    is still alive once they are torn down."""
    before = set(threading.enumerate())
    yield
    assert leftover_threads(before) == [], "threads left running"
