from __future__ import annotations

import datetime as dt

import pytest

from milon_app.errors import BadInputError
from milon_app.node.policy import AcceptPolicy


def at(hour: int) -> dt.datetime:
    return dt.datetime(2026, 1, 1, hour, 30)


def test_auto_accepts_within_limits():
    assert AcceptPolicy().decide(5) == (True, "policy: auto-accept")
    ok, why = AcceptPolicy(max_epochs=3).decide(5)
    assert ok is False and "over the limit of 3" in why


def test_hours_window_including_overnight():
    night = AcceptPolicy(hours=(22, 6))
    assert night.decide(1, at(23))[0] is True
    assert night.decide(1, at(3))[0] is True
    assert night.decide(1, at(12))[0] is False
    day = AcceptPolicy(hours=(9, 17))
    assert day.decide(1, at(10))[0] is True
    assert "outside working hours" in day.decide(1, at(18))[1]


def test_manual_and_never():
    assert AcceptPolicy(mode="manual").decide(1)[0] is None
    assert AcceptPolicy(mode="never").decide(1)[0] is False


@pytest.mark.parametrize(
    "kwargs", [{"mode": "sometimes"}, {"max_epochs": 0}, {"hours": (5, 5)}, {"hours": (25, 3)}]
)
def test_bad_policy(kwargs):
    with pytest.raises(BadInputError, match="accept policy"):
        AcceptPolicy(**kwargs)
