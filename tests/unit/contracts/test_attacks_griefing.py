"""Griefing a round by taking work and never delivering, or by voting for nonsense.

A member that accepts, commits and then never reveals (or never commits)
cannot hold the round: after the reveal deadline validators may propose
without it, the round finalizes, the griefer is slashed and sits out the
job's next round, and the others are paid. A round where nobody delivers is
closed by anyone with timeoutRound after the proposal deadline.
"""

from __future__ import annotations

from .helpers import (
    ETHER,
    commit,
    create_job,
    events,
    federation_with_members,
    make_update,
    member_info,
    reveal,
    reverts,
    round_info,
    sorted_addresses,
    start_round,
    tx,
)

STAKE = 10 * ETHER
SLASH_BPS = 1_000  # the dev deployment's slash rate


def past(client, deadline: int) -> None:
    client.increase_time(max(0, deadline - client.now()) + 1)


def _round(client, suite, accounts, quorum: int):
    honest, griefer = accounts[1:3], accounts[3]
    members = [*honest, griefer]
    fed = federation_with_members(client, suite, members, stake=STAKE).fed_id
    job_id = create_job(
        client, suite, accounts[8], fed, totalEpochs=6, epochsPerRound=3, validatorQuorum=quorum
    )
    r = start_round(client, suite, job_id, accounts[8])
    for m in members:
        tx(client, suite.jobs.functions.accept(job_id, r), m)
    return fed, job_id, r, list(honest), griefer


def test_a_member_that_never_reveals_is_slashed_benched_and_others_paid(client, suite, accounts):
    fed, job_id, r, honest, griefer = _round(client, suite, accounts, quorum=2)
    updates = {m.address: make_update(m, job_id, r) for m in [*honest, griefer]}
    for u in updates.values():
        commit(client, suite, job_id, r, u)
    for m in honest:
        reveal(client, suite, job_id, r, updates[m.address])

    model, accepted = b"\x02" * 32, sorted_addresses(honest)
    propose = suite.jobs.functions.propose(job_id, r, model, accepted)
    with reverts("ProposalNotOpen"):  # the griefer may still reveal until the deadline
        tx(client, propose, honest[0])
    past(client, round_info(client, suite, job_id, r)["revealDeadline"])
    with reverts("RevealClosed"):  # ...and not after it
        reveal(client, suite, job_id, r, updates[griefer.address])

    tx(client, propose, honest[0])
    receipt = tx(client, propose, honest[1])  # quorum of 2 honest validators
    assert round_info(client, suite, job_id, r)["finalized"]
    paid = {e["member"]: e["amount"] for e in events(suite.jobs, receipt, "RewardCredited")}
    assert set(paid) == set(accepted) and all(v == ETHER for v in paid.values())
    (slash,) = events(suite.jobs, receipt, "MemberSlashed")
    assert slash["member"] == griefer.address and slash["amount"] == STAKE * SLASH_BPS // 10_000
    assert member_info(client, suite, fed, griefer.address)["stake"] == STAKE - slash["amount"]
    assert client.call(suite.jobs.functions.claimable(griefer.address)) == 0
    # No stake hostage: its pending work is released; and it sits out the next round.
    assert client.call(suite.jobs.functions.pendingWork(fed, griefer.address)) == 0
    r2 = start_round(client, suite, job_id, accounts[8])
    in_round = set(client.call(suite.jobs.functions.roundMembers(job_id, r2)))
    assert in_round == {m.address for m in honest}


def test_accepting_and_never_committing_does_not_hold_the_round(client, suite, accounts):
    _fed, job_id, r, honest, griefer = _round(client, suite, accounts, quorum=1)
    updates = [make_update(m, job_id, r) for m in honest]
    for u in updates:
        commit(client, suite, job_id, r, u)
    with reverts("RevealNotOpen"):  # the griefer could still commit
        reveal(client, suite, job_id, r, updates[0])
    past(client, round_info(client, suite, job_id, r)["commitDeadline"])
    for u in updates:
        reveal(client, suite, job_id, r, u)
    # Everyone who committed revealed: proposals open at once, no need to wait the reveal window.
    fn = suite.jobs.functions.propose(job_id, r, b"\x03" * 32, sorted_addresses(honest))
    receipt = tx(client, fn, honest[0])
    assert {e["member"] for e in events(suite.jobs, receipt, "MemberSlashed")} == {griefer.address}


def test_a_validator_voting_nonsense_cannot_block_the_quorum(client, suite, accounts):
    _fed, job_id, r, honest, griefer = _round(client, suite, accounts, quorum=2)
    updates = [make_update(m, job_id, r) for m in [*honest, griefer]]
    for u in updates:
        commit(client, suite, job_id, r, u)
    for u in updates:
        reveal(client, suite, job_id, r, u)
    everyone = sorted_addresses([*honest, griefer])
    bogus = suite.jobs.functions.propose(job_id, r, b"\x0b" * 32, [griefer.address])
    tx(client, bogus, griefer)
    with reverts("AlreadyProposed"):  # one vote per validator
        tx(client, bogus, griefer)
    assert not round_info(client, suite, job_id, r)["finalized"]
    good = suite.jobs.functions.propose(job_id, r, b"\x0a" * 32, everyone)
    tx(client, good, honest[0])
    receipt = tx(client, good, honest[1])
    (fin,) = events(suite.jobs, receipt, "RoundFinalized")
    assert fin["newModelHash"] == b"\x0a" * 32 and fin["acceptedCount"] == 3


def test_a_round_nobody_delivers_is_closed_by_anyone_after_the_deadline(client, suite, accounts):
    fed, job_id, r, honest, griefer = _round(client, suite, accounts, quorum=1)
    outsider = accounts[7]  # not a member, not the owner
    with reverts("RoundNotStuck"):
        tx(client, suite.jobs.functions.timeoutRound(job_id), outsider)
    past(client, round_info(client, suite, job_id, r)["proposalDeadline"])
    escrow_before = client.call(suite.jobs.functions.job(job_id))[5]
    receipt = tx(client, suite.jobs.functions.timeoutRound(job_id), outsider)
    slashed = {e["member"] for e in events(suite.jobs, receipt, "MemberSlashed")}
    assert slashed == {m.address for m in [*honest, griefer]}
    assert client.call(suite.jobs.functions.job(job_id))[5] == escrow_before  # nobody paid
    for m in [*honest, griefer]:
        assert client.call(suite.jobs.functions.pendingWork(fed, m.address)) == 0
    # The job goes on: everyone was slashed, so nobody is benched.
    r2 = start_round(client, suite, job_id, outsider)
    assert r2 == r + 1 and len(client.call(suite.jobs.functions.roundMembers(job_id, r2))) == 3
