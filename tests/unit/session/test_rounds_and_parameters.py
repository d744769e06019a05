"""A round's phase in words and the governed parameters' units, without a chain."""

from __future__ import annotations

import dataclasses

import pytest

from milon_app.chain.bindings import Round
from milon_app.session.parameters import format_value, unit_of
from milon_app.session.rounds import round_phase

T0 = 1_000_000
BASE = Round(
    epochs=6,
    epochs_trained=0,
    share_cap=3,
    member_count=3,
    assigned_count=3,
    accepted_count=0,
    committed_count=0,
    revealed_count=0,
    committee_count=3,
    voted_count=0,
    started_at=T0,
    accept_deadline=T0 + 300,
    commit_deadline=T0 + 900,
    reveal_deadline=T0 + 1200,
    verdict_deadline=T0 + 1500,
    confirm_deadline=T0 + 1800,
    committee_weight=30,
    voted_weight=0,
    revealed_bits=0,
    accepted_bits=0,
    rejected_bits=0,
    base_model_hash=b"\0" * 32,
    new_model_hash=b"\0" * 32,
    tallied=False,
    finalized=False,
    timed_out=False,
)


def at(now, **changes):
    return round_phase(dataclasses.replace(BASE, **changes), now)


def test_each_phase_with_the_deadline_that_matters():
    assert at(T0 + 10).key == "accept" and at(T0 + 10).deadline == T0 + 300
    answered = {"assigned_count": 0, "accepted_count": 3}
    commit = at(T0 + 10, **answered)
    assert (commit.key, commit.deadline) == ("commit", T0 + 900)  # everyone answered early
    committed = {**answered, "committed_count": 3}
    assert at(T0 + 10, **committed).key == "reveal"
    revealed = {**committed, "revealed_count": 3, "revealed_bits": 7}
    verdict = at(T0 + 10, **revealed)
    assert (verdict.key, verdict.deadline) == ("verdict", T0 + 1500)
    assert "committee judges" in verdict.text
    late = at(T0 + 1501, **revealed)
    assert late.key == "verdict" and "anyone may tally" in late.text
    confirm = at(T0 + 1600, **revealed, tallied=True, accepted_bits=3)
    assert (confirm.key, confirm.deadline) == ("confirm", T0 + 1800) and confirm.open


def test_closed_and_stuck_rounds_have_no_deadline():
    assert at(T0, finalized=True).key == "finalized" and not at(T0, finalized=True).open
    assert at(T0, timed_out=True).text == "timed out"
    # nobody accepted and the accept window is over: anyone may time the round out
    stuck = at(T0 + 301)
    assert stuck.key == "stuck" and stuck.deadline is None and "time it out" in stuck.text
    assert at(T0 + 1801, assigned_count=0, accepted_count=3).key == "stuck"
    lapsing = at(T0 + 301, assigned_count=1, accepted_count=2)
    assert lapsing.key == "accept" and "lapse" in lapsing.text


@pytest.mark.parametrize(
    ("name", "value", "text"),
    [
        ("min-stake-floor", 25 * 10**17, "2.5 MILON"),
        ("participation-bps", 6_667, "6,667 bps (66.67%)"),
        ("slash-bps", 1_000, "1,000 bps (10%)"),
        ("verdict-window", 300, "300 s (5m)"),
        ("leave-cooldown", 7 * 86400 + 3600, "608,400 s (7d 1h)"),
        ("accept-window", 45, "45 s"),
        ("committee-max", 31, "31"),
        ("max-epochs-per-round", 10_000, "10,000"),
    ],
)
def test_parameter_values_read_in_their_units(name, value, text):
    assert format_value(name, value) == text


def test_units():
    assert unit_of("min-stake-floor") == "MILON"
    assert unit_of("agreement-bps") == "bps"
    assert unit_of("confirm-window") == "s"
    assert unit_of("max-members") == ""
