from __future__ import annotations

import json
import threading

import pytest

from milon_app.node.bus import EventBus
from milon_app.node.events import (
    Event,
    RoundFinalized,
    TrainingProgress,
    VerdictSubmitted,
    catalogue,
    event_to_dict,
)


def test_catalogue_is_typed_and_serialisable():
    kinds = catalogue()
    assert len(kinds) >= 20
    for cls in kinds:
        ev = cls()
        data = event_to_dict(ev)
        assert data["event"] == cls.__name__
        json.dumps(data)
        with pytest.raises(AttributeError):
            ev.node = "x"  # frozen


def test_tuples_and_bytes_serialise():
    ev = VerdictSubmitted(job_id=1, accepted=("0xa",), rejected=(("0xb", "nan"),))
    assert event_to_dict(ev)["rejected"] == [["0xb", "nan"]]


def test_subscribe_filters_by_type_and_unsubscribes():
    bus = EventBus()
    got: list[Event] = []
    unsub = bus.subscribe(got.append, RoundFinalized)
    bus.publish(TrainingProgress(step=1))
    bus.publish(RoundFinalized(round=2))
    unsub()
    bus.publish(RoundFinalized(round=3))
    assert [e.round for e in got] == [2]


def test_a_failing_subscriber_does_not_stop_others(caplog):
    bus = EventBus()
    got: list[Event] = []

    def bad(_e):
        raise RuntimeError("boom")

    bus.subscribe(bad)
    bus.subscribe(got.append)
    bus.publish(TrainingProgress())
    assert len(got) == 1
    assert "boom" in caplog.text


def test_wait_for_across_threads():
    bus = EventBus()
    t = threading.Timer(0.05, lambda: bus.publish(RoundFinalized(round=7)))
    t.start()
    ev = bus.wait_for(RoundFinalized, lambda e: e.round == 7, timeout=5)
    assert ev.round == 7
    with pytest.raises(TimeoutError, match="RoundFinalized"):
        bus.wait_for(RoundFinalized, lambda e: e.round == 8, timeout=0.05)


def test_history_is_bounded():
    bus = EventBus(history=3)
    for i in range(10):
        bus.publish(TrainingProgress(step=i))
    assert [e.step for e in bus.history()] == [7, 8, 9]
