"""The node's phase predicates mirror the contract's (checked against it in integration)."""

from __future__ import annotations

from dataclasses import replace

from milon_app.chain.bindings import Round
from milon_app.compute.model_spec import digits_cnn, digits_mlp
from milon_app.compute.weights import encode_state
from milon_app.node.jobs import (
    acceptance_closed,
    acceptance_lapsed,
    commit_closed,
    round_stuck,
    verdict_open,
    verdicts_closable,
    weights_limit,
)

R = Round(
    epochs=10, epochs_trained=0, share_cap=5, member_count=3, assigned_count=0,
    accepted_count=3, committed_count=3, revealed_count=0, committee_count=3, voted_count=0,
    started_at=0, accept_deadline=100, commit_deadline=200, reveal_deadline=300,
    verdict_deadline=400, confirm_deadline=500, committee_weight=30, voted_weight=0,
    revealed_bits=0, accepted_bits=0, rejected_bits=0, base_model_hash=b"\0" * 32,
    new_model_hash=b"\0" * 32, tallied=False, finalized=False, timed_out=False,
)  # fmt: skip


def test_training_waits_for_every_assigned_member_to_answer():
    assert acceptance_closed(R)
    assert not acceptance_closed(replace(R, assigned_count=1))


def test_commit_closes_early_when_everyone_committed():
    assert commit_closed(R, 50)
    assert not commit_closed(replace(R, committed_count=2), 50)
    assert commit_closed(replace(R, committed_count=2), 201)
    # a member has not answered yet: commits stay open until the deadline
    assert not commit_closed(replace(R, assigned_count=1), 101)
    assert commit_closed(replace(R, assigned_count=1), 201)


def test_verdicts_open_when_all_revealed_or_late():
    assert not verdict_open(R, 50)
    assert verdict_open(replace(R, revealed_count=3), 50)
    assert verdict_open(R, 301)


def test_keepers_lapse_unanswered_assignments_only_once_someone_accepted():
    late = replace(R, assigned_count=1, accepted_count=2)
    assert not acceptance_lapsed(late, 100)
    assert acceptance_lapsed(late, 101)
    assert not acceptance_lapsed(replace(late, accepted_count=0), 101)  # a timeout instead


def test_verdicts_closable_after_the_window_or_with_nothing_to_judge():
    revealed = replace(R, revealed_count=3, revealed_bits=0b111)
    assert not verdicts_closable(revealed, 399)
    assert verdicts_closable(revealed, 401)
    nothing = replace(R, committed_count=0, accepted_count=0)
    assert verdicts_closable(nothing, 50)
    assert not verdicts_closable(replace(revealed, tallied=True), 401)


def test_stuck_rounds():
    assert not round_stuck(R, 499)
    assert round_stuck(R, 501)
    assert round_stuck(replace(R, accepted_count=0, committed_count=0), 101)
    assert not round_stuck(replace(R, finalized=True), 1000)


def test_weights_limit_fits_the_model_and_little_more():
    for spec in (digits_mlp(), digits_cnn()):
        size = len(encode_state(spec.build(0).state_dict()))
        assert size <= weights_limit(spec) <= size + 64 * 1024
