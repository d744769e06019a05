"""Griefing a round: taking work and never delivering, never answering, voting for nonsense.

A member that accepts, commits and then never reveals (or never commits) cannot hold the
round: after the reveal deadline the committee judges what was revealed, the round finalizes,
the griefer is slashed and sits out the job's next round, and the others are paid. A member
that never answers its assignment lapses at closeAcceptance and its epochs go to the others.
A committee member voting against everything is outvoted and earns nothing from the
validators' pool; its bogus confirmation alone finalizes nothing. A round where nobody delivers
is closed by anyone with timeoutRound after the confirmation deadline.

Five members, so one griefer's absence from the committee still leaves every honest update
with more than two thirds of the weight that may judge it (its author's seat excluded).
"""

from __future__ import annotations

from .helpers import (
    ETHER,
    SLASH_BPS,
    by_address,
    commit,
    committee,
    confirm_all,
    create_job,
    events,
    federation_with_members,
    finish_round,
    make_update,
    member_info,
    reveal,
    reverts,
    round_info,
    seated,
    start_round,
    submit_verdict,
    tx,
    vote_all,
)

STAKE = 10 * ETHER
LIVENESS_BPS = 100


def past(client, deadline: int) -> None:
    client.increase_time(max(0, deadline - client.now()) + 1)


def _round(client, suite, accounts, *, accept: bool = True):
    honest, griefer = list(accounts[1:5]), accounts[5]
    members = [*honest, griefer]
    fed = federation_with_members(client, suite, members, stake=STAKE).fed_id
    job_id = create_job(client, suite, accounts[8], fed, totalEpochs=10, epochsPerRound=5)
    r = start_round(client, suite, job_id, accounts[8])
    assert len(committee(client, suite, job_id, r)) == 5
    if accept:
        for m in members:
            tx(client, suite.jobs.functions.accept(job_id, r), m)
    return fed, job_id, r, honest, griefer


def test_a_member_that_never_reveals_is_slashed_benched_and_others_paid(client, suite, accounts):
    fed, job_id, r, honest, griefer = _round(client, suite, accounts)
    updates = {m.address: make_update(m, job_id, r) for m in [*honest, griefer]}
    for u in updates.values():
        commit(client, suite, job_id, r, u)
    for m in honest:
        reveal(client, suite, job_id, r, updates[m.address])

    accepted = [m.address for m in honest]
    with reverts("VerdictNotOpen"):  # the griefer may still reveal until the deadline
        submit_verdict(client, suite, job_id, r, honest[0], accepted)
    past(client, round_info(client, suite, job_id, r)["revealDeadline"])
    with reverts("RevealClosed"):  # ...and not after it
        reveal(client, suite, job_id, r, updates[griefer.address])

    # The griefer does not vote either: four of five seats still decide every honest update.
    who = by_address(honest)
    vote_all(client, suite, job_id, r, who, accepted, voters=[m.address for m in honest])
    past(client, round_info(client, suite, job_id, r)["verdictDeadline"])
    tx(client, suite.jobs.functions.closeVerdicts(job_id), accounts[8])
    rd = round_info(client, suite, job_id, r)
    assert rd["acceptedBits"] == sum(
        1 << i
        for i, a in enumerate(client.call(suite.jobs.functions.roundMembers(job_id, r)))
        if a in accepted
    )
    receipt = confirm_all(client, suite, job_id, r, who, b"\x02" * 32, voters=accepted)[-1]
    assert round_info(client, suite, job_id, r)["finalized"]
    paid = {e["member"]: e["amount"] for e in events(suite.jobs, receipt, "RewardCredited")}
    assert set(paid) == set(accepted) and all(v == ETHER * 9 // 10 for v in paid.values())
    slashes = [e["amount"] for e in events(suite.jobs, receipt, "MemberSlashed")
               if e["member"] == griefer.address]  # fmt: skip
    missing = STAKE * SLASH_BPS // 10_000
    assert slashes == [missing, (STAKE - missing) * LIVENESS_BPS // 10_000]  # no-show, absent
    assert member_info(client, suite, fed, griefer.address)["stake"] == STAKE - sum(slashes)
    assert client.call(suite.jobs.functions.claimable(griefer.address)) == 0
    # No stake hostage: its pending work is released; and it sits out the next round.
    assert client.call(suite.jobs.functions.pendingWork(fed, griefer.address)) == 0
    r2 = start_round(client, suite, job_id, accounts[8])
    in_round = set(client.call(suite.jobs.functions.roundMembers(job_id, r2)))
    assert in_round == {m.address for m in honest}


def test_accepting_and_never_committing_does_not_hold_the_round(client, suite, accounts):
    _fed, job_id, r, honest, griefer = _round(client, suite, accounts)
    updates = [make_update(m, job_id, r) for m in honest]
    for u in updates:
        commit(client, suite, job_id, r, u)
    with reverts("RevealNotOpen"):  # the griefer could still commit
        reveal(client, suite, job_id, r, updates[0])
    past(client, round_info(client, suite, job_id, r)["commitDeadline"])
    for u in updates:
        reveal(client, suite, job_id, r, u)
    # Everyone who committed revealed: verdicts open at once, no need to wait the reveal window.
    assert client.now() < round_info(client, suite, job_id, r)["revealDeadline"]
    receipt = finish_round(client, suite, job_id, r, [*honest, griefer],
                           [m.address for m in honest])  # fmt: skip
    slashed = {e["member"] for e in events(suite.jobs, receipt, "MemberSlashed")}
    assert slashed == {griefer.address}


def test_never_answering_lapses_and_the_epochs_go_to_the_others(client, suite, accounts):
    fed, job_id, r, honest, griefer = _round(client, suite, accounts, accept=False)
    for m in honest:
        tx(client, suite.jobs.functions.accept(job_id, r), m)
    # The silent member holds nobody up: commits need not wait for acceptance to close (the
    # honest members here wait, to be re-split its epochs once it lapses).
    past(client, round_info(client, suite, job_id, r)["acceptDeadline"])
    receipt = tx(client, suite.jobs.functions.closeAcceptance(job_id), accounts[7])  # anyone
    assert [e["member"] for e in events(suite.jobs, receipt, "AssignmentLapsed")] == [
        griefer.address
    ]
    lapse = STAKE * 200 // 10_000
    assert [(e["member"], e["amount"]) for e in events(suite.jobs, receipt, "MemberSlashed")] == [
        (griefer.address, lapse)
    ]
    epochs = [client.call(suite.jobs.functions.assignment(job_id, r, m.address))[0] for m in honest]
    assert sum(epochs) == 5 and max(epochs) <= round_info(client, suite, job_id, r)["shareCap"]
    # Its lapsed assignment no longer locks its stake; its committee seat does, until the round
    # closes.
    assert client.call(suite.jobs.functions.pendingWork(fed, griefer.address)) == seated(
        client, suite, job_id, r, griefer.address
    )
    updates = [make_update(m, job_id, r) for m in honest]
    for u in updates:
        commit(client, suite, job_id, r, u)
    for u in updates:
        reveal(client, suite, job_id, r, u)
    receipt = finish_round(client, suite, job_id, r, [*honest, griefer],
                           [m.address for m in honest])  # fmt: skip
    assert round_info(client, suite, job_id, r)["epochsTrained"] == 5
    assert client.call(suite.jobs.functions.lastSlashedRound(job_id, griefer.address)) == r


def test_a_validator_voting_nonsense_is_outvoted_and_unpaid(client, suite, accounts):
    _fed, job_id, r, honest, griefer = _round(client, suite, accounts)
    updates = [make_update(m, job_id, r) for m in [*honest, griefer]]
    for u in updates:
        commit(client, suite, job_id, r, u)
    for u in updates:
        reveal(client, suite, job_id, r, u)
    everyone = [m.address for m in [*honest, griefer]]
    submit_verdict(client, suite, job_id, r, griefer, [])  # rejects every update
    with reverts("AlreadyVoted", griefer.address):  # one vote per seat
        submit_verdict(client, suite, job_id, r, griefer, [griefer.address])
    vote_all(client, suite, job_id, r, by_address(honest), everyone,
             voters=[m.address for m in honest])  # fmt: skip
    rd = round_info(client, suite, job_id, r)
    assert rd["tallied"] and rd["acceptedBits"] == 0b11111 and rd["rejectedBits"] == 0
    # A bogus model confirmed by the griefer alone (10 of 50) finalizes nothing.
    tx(client, suite.jobs.functions.confirm(job_id, r, b"\x0b" * 32), griefer)
    assert not round_info(client, suite, job_id, r)["finalized"]
    receipt = confirm_all(client, suite, job_id, r, by_address(honest), b"\x0a" * 32,
                          voters=[m.address for m in honest])[-1]  # fmt: skip
    (fin,) = events(suite.jobs, receipt, "RoundFinalized")
    assert fin["newModelHash"] == b"\x0a" * 32 and fin["acceptedCount"] == 5
    validators = {e["validator"] for e in events(suite.jobs, receipt, "ValidatorPaid")}
    assert griefer.address not in validators and validators <= {m.address for m in honest}
    # Its own (accepted) update is paid like any other: disagreeing is not slashed.
    assert events(suite.jobs, receipt, "MemberSlashed") == []


def test_a_round_nobody_delivers_is_closed_by_anyone_after_the_deadline(client, suite, accounts):
    fed, job_id, r, honest, griefer = _round(client, suite, accounts)
    outsider = accounts[7]  # not a member, not the owner
    with reverts("RoundNotStuck"):
        tx(client, suite.jobs.functions.timeoutRound(job_id), outsider)
    past(client, round_info(client, suite, job_id, r)["confirmDeadline"])
    escrow_before = client.call(suite.jobs.functions.job(job_id))[5]
    receipt = tx(client, suite.jobs.functions.timeoutRound(job_id), outsider)
    slashed = [e["member"] for e in events(suite.jobs, receipt, "MemberSlashed")]
    # Each no-show once; nothing was revealed, so nobody is penalised as an absent validator.
    assert sorted(slashed) == sorted(m.address for m in [*honest, griefer])
    assert client.call(suite.jobs.functions.job(job_id))[5] == escrow_before  # nobody paid
    for m in [*honest, griefer]:
        assert client.call(suite.jobs.functions.pendingWork(fed, m.address)) == 0
    # The job goes on: everyone was slashed, so nobody is benched.
    r2 = start_round(client, suite, job_id, outsider)
    assert r2 == r + 1 and len(client.call(suite.jobs.functions.roundMembers(job_id, r2))) == 5
