"""The daemon's structured log carries the committee's events whole, and it names what keeps
a node out of a federation instead of sending a join that must revert."""

from __future__ import annotations

import io
import json

from milon_app.chain.bindings import Member
from milon_app.daemon.runner import EventLogger, membership_problem
from milon_app.node import events as ev

A, B = "0x" + "a" * 40, "0x" + "b" * 40


def logged(event):
    out = io.StringIO()
    EventLogger(out)(event)
    (line,) = out.getvalue().splitlines()
    return json.loads(line)


def test_committee_events_are_logged_with_every_field():
    drawn = logged(
        ev.CommitteeDrawn(node=A, job_id=1, round=2, members=(A, B), weights=(5, 7), seated=True)
    )
    assert drawn["event"] == "CommitteeDrawn" and drawn["members"] == [A, B]
    assert drawn["weights"] == [5, 7] and drawn["seated"] is True
    verdict = logged(
        ev.VerdictSubmitted(
            node=A, job_id=1, round=2, accepted=(A,), rejected=((B, "harmful: loss 9.1 vs 0.4"),)
        )
    )
    assert verdict["rejected"] == [[B, "harmful: loss 9.1 vs 0.4"]] and verdict["accepted"] == [A]
    tallied = logged(ev.VerdictsTallied(job_id=1, round=2, accepted=(A,), rejected=(B,)))
    assert tallied["rejected"] == [B] and tallied["undecided"] == []
    assert logged(ev.ModelConfirmed(job_id=1, round=2, model_hash="ab" * 32))["model_hash"]
    paid = logged(ev.ValidatorPaid(job_id=1, round=2, amount=10**17))
    assert paid["amount"] == "0.1" and paid["amount_wei"] == 10**17


def test_amounts_are_milon_and_wei_only_under_names_that_say_so():
    """Issue 22 item 8: people read MILON; the exact integer stays in `<name>_wei`."""
    joined = logged(ev.FederationJoined(fed_id=1, stake=50 * 10**18, capacity=7))
    assert (joined["stake"], joined["stake_wei"], joined["capacity"]) == ("50", 50 * 10**18, 7)
    done = logged(ev.JobCompleted(job_id=2, refund=0))
    assert done["refund"] == "0" and done["refund_wei"] == 0
    credited = logged(ev.RewardCredited(job_id=1, round=1, amount=6 * 10**18))
    assert credited["amount"] == "6"
    for line in (joined, done, credited):
        for key, value in line.items():
            assert key.endswith("_wei") or not (isinstance(value, int) and value >= 10**15), key


def test_no_v1_event_is_left_in_the_catalogue():
    names = {c.__name__ for c in ev.catalogue()}
    assert {
        "CommitteeDrawn",
        "VerdictSubmitted",
        "VerdictsTallied",
        "ModelConfirmed",
        "ValidatorPaid",
    } <= names
    assert not names & {"UpdatesValidated", "ProposalSubmitted"}


def member(**kw):
    base = dict(
        stake=0,
        capacity=1,
        peer_info="",
        joined_at=1,
        leave_requested_at=0,
        withdrawable_at=0,
        active=False,
        admitted=False,
        suspended=False,
    )
    return Member(**{**base, **kw})


def test_membership_problems_are_named():
    assert membership_problem(3, member()) == ""  # never joined, or withdrawn: may join
    suspended = membership_problem(3, member(stake=9, suspended=True))
    assert "suspended in federation 3" in suspended and "milon fed add-stake 3" in suspended
    leaving = membership_problem(3, member(stake=10, leave_requested_at=5, withdrawable_at=65))
    assert "still locked" in leaving and "milon fed withdraw 3" in leaving
