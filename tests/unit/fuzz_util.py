"""Shared pieces of the property-based parser tests (``test_*_fuzz.py``).

Every parser that takes outside bytes promises one thing: it returns a valid
object or raises the project's typed error, never another exception. These
helpers state that promise once, and bound the memory a whole fuzz run may add.
"""

from __future__ import annotations

import contextlib
import resource
from collections.abc import Callable, Iterator
from typing import Any

from hypothesis import HealthCheck, settings

# Modest budgets: the whole fuzz set runs in well under a minute on a 2-core machine.
FUZZ = settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
FUZZ_SLOW = settings(FUZZ, max_examples=60)  # each example talks to a real peer or server

MAX_RSS_GROWTH = 512 << 20  # a parser that honours its limits never needs this much


def outcome(
    fn: Callable[[], Any], allowed: type[BaseException] | tuple[type[BaseException], ...]
) -> Any:
    """``fn()``'s value, or None when it raised one of ``allowed``; anything else fails the test."""
    try:
        return fn()
    except allowed as exc:
        assert str(exc), "a refusal must say what is wrong"
        return None


def peak_rss() -> int:
    """This process's peak resident memory in bytes (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


@contextlib.contextmanager
def bounded_memory(limit: int = MAX_RSS_GROWTH) -> Iterator[None]:
    """Fails when the peak RSS grows by more than ``limit`` inside the block."""
    before = peak_rss()
    yield
    grown = peak_rss() - before
    assert grown <= limit, f"peak memory grew by {grown >> 20} MiB (limit {limit >> 20} MiB)"
