"""The node's phase predicates mirror the contract's (checked against it in integration)."""

from __future__ import annotations

from dataclasses import replace

from milon_app.chain.bindings import Round
from milon_app.node.jobs import commit_closed, proposal_open, round_stuck

R = Round(
    epochs=10, epochs_trained=0, member_count=3, assigned_count=0, accepted_count=3,
    committed_count=3, revealed_count=0, started_at=0, accept_deadline=100,
    commit_deadline=200, reveal_deadline=300, proposal_deadline=400,
    base_model_hash=b"\0" * 32, new_model_hash=b"\0" * 32, finalized=False, timed_out=False,
)


def test_commit_closes_early_when_everyone_committed():
    assert commit_closed(R, 50)
    assert not commit_closed(replace(R, committed_count=2), 50)
    assert commit_closed(replace(R, committed_count=2), 201)
    # someone could still accept: not closed before the accept deadline
    assert not commit_closed(replace(R, assigned_count=1), 50)
    assert commit_closed(replace(R, assigned_count=1), 101)


def test_proposals_open_when_all_revealed_or_late():
    assert not proposal_open(R, 50)
    assert proposal_open(replace(R, revealed_count=3), 50)
    assert proposal_open(R, 301)


def test_stuck_rounds():
    assert not round_stuck(R, 399)
    assert round_stuck(R, 401)
    assert round_stuck(replace(R, accepted_count=0, committed_count=0), 101)
    assert not round_stuck(replace(R, finalized=True), 1000)
