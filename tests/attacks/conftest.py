"""Attack scenarios run on the shared deployment fixtures (tests/conftest.py), each in a
snapshot reverted afterwards; ``world`` wraps them for one test."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.attacks.common import World


@pytest.fixture
def world(client, suite, accounts) -> Iterator[World]:
    w = World(client, suite, accounts)
    try:
        yield w
    finally:
        w.close()
