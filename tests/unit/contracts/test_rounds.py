"""TrainingJobs rounds: capped capacity split, accept/decline/lapse and re-split, commit, reveal."""

from __future__ import annotations

import random

from milon_app.chain.bindings import Param

from .helpers import (
    ACCEPT_WINDOW,
    ACCEPTED,
    ASSIGNED,
    COMMITTED,
    CONFIRM_WINDOW,
    DECLINED,
    DELIVERY_PRIOR,
    ETHER,
    LAPSED,
    NONE,
    REVEAL_WINDOW,
    REVEALED,
    ROUND_DURATION,
    VERDICT_WINDOW,
    assignment,
    commit,
    commitment,
    committee,
    create_job,
    delivery_after,
    events,
    federation_with_members,
    governed_suite,
    h,
    make_update,
    reveal,
    reverts,
    round_info,
    round_split_reference,
    seated,
    set_param,
    share_cap_reference,
    start_round,
    tx,
)


def epochs_of(client, suite, job_id, r, members):
    return [assignment(client, suite, job_id, r, m.address)[0] for m in members]


def past(client, deadline: int) -> None:
    client.increase_time(max(0, deadline - client.now()) + 1)


# ---------------------------------------------------------------- start and split


def test_start_round_splits_by_capacity_and_draws_a_committee(client, suite, accounts):
    owner, members = accounts[0], accounts[1:5]
    fed = federation_with_members(client, suite, members, [1, 2, 3, 4])
    job_id = create_job(client, suite, owner, fed.fed_id, totalEpochs=20, epochsPerRound=10)
    receipt = tx(client, suite.jobs.functions.startRound(job_id), accounts[7])  # permissionless
    assert events(suite.jobs, receipt, "RoundStarted") == [
        {"jobId": job_id, "round": 1, "epochs": 10, "globalModelHash": h("model-0")}
    ]
    assigned = events(suite.jobs, receipt, "EpochsAssigned")
    assert [(e["member"], e["epochs"]) for e in assigned] == [
        (m.address, n) for m, n in zip(members, [1, 2, 3, 4], strict=True)
    ]
    rd = round_info(client, suite, job_id, 1)
    assert rd["acceptDeadline"] == rd["startedAt"] + ACCEPT_WINDOW
    assert rd["commitDeadline"] == rd["acceptDeadline"] + ROUND_DURATION
    assert rd["revealDeadline"] == rd["commitDeadline"] + REVEAL_WINDOW
    assert rd["verdictDeadline"] == rd["revealDeadline"] + VERDICT_WINDOW
    assert rd["confirmDeadline"] == rd["verdictDeadline"] + CONFIRM_WINDOW
    assert (rd["epochs"], rd["memberCount"], rd["assignedCount"], rd["finalized"]) == (
        10,
        4,
        4,
        False,
    )
    assert rd["shareCap"] == share_cap_reference(10, [1, 2, 3, 4]) == 5
    assert rd["baseModelHash"] == h("model-0")
    assert not (rd["tallied"] or rd["timedOut"] or rd["revealedBits"] or rd["votedWeight"])
    assert client.call(suite.jobs.functions.roundMembers(job_id, 1)) == [m.address for m in members]
    # (epochs, index in the round = bit in verdicts, weight the split used, state)
    assert assignment(client, suite, job_id, 1, members[3].address)[:4] == (4, 3, 4, ASSIGNED)
    assert assignment(client, suite, job_id, 1, members[0].address)[:4] == (1, 0, 1, ASSIGNED)
    # Fewer members than the smallest committee: every one of them sits on it, by stake.
    (drawn,) = events(suite.jobs, receipt, "CommitteeDrawn")
    assert sorted(drawn["members"]) == sorted(m.address for m in members)
    assert drawn["weights"] == [10 * ETHER] * 4
    assert committee(client, suite, job_id, 1) == drawn["members"]
    assert (rd["committeeCount"], rd["committeeWeight"]) == (4, 40 * ETHER)
    with reverts("RoundInProgress", job_id, 1):
        tx(client, suite.jobs.functions.startRound(job_id), owner)


def test_split_remainder_goes_to_largest_fraction_then_lower_index(client, suite, accounts):
    members = accounts[1:4]
    fed = federation_with_members(client, suite, members, [3, 3, 3])
    job_id = create_job(client, suite, accounts[0], fed.fed_id, totalEpochs=10, epochsPerRound=10)
    r = start_round(client, suite, job_id, accounts[0])
    assert epochs_of(client, suite, job_id, r, members) == [4, 3, 3]


def test_share_cap_spreads_what_one_member_would_take(client, suite, accounts):
    """Capacities 1:5:1 would give the middle member both epochs; the cap (half the round, at
    most twice the equal share, never below the equal share) gives it one."""
    members = accounts[1:4]
    fed = federation_with_members(client, suite, members, [1, 5, 1])
    job_id = create_job(client, suite, accounts[0], fed.fed_id, totalEpochs=2, epochsPerRound=2)
    r = start_round(client, suite, job_id, accounts[0])
    assert round_info(client, suite, job_id, r)["shareCap"] == 1
    # 1 epoch to the capped member; the other over capacities 1:1, the tie to the lower index.
    assert epochs_of(client, suite, job_id, r, members) == [1, 1, 0]
    assert client.call(suite.jobs.functions.roundMembers(job_id, r)) == [
        members[0].address,
        members[1].address,
    ]
    assert assignment(client, suite, job_id, r, members[2].address)[3] == NONE
    with reverts("NotAssigned", members[2].address):
        tx(client, suite.jobs.functions.accept(job_id, r), members[2])


def test_a_huge_capacity_takes_at_most_the_cap(client, suite, accounts):
    members = accounts[1:4]
    top = 2**64 - 1
    fed = federation_with_members(client, suite, members, [top, 1, 1])
    job_id = create_job(client, suite, accounts[0], fed.fed_id, totalEpochs=9, epochsPerRound=9)
    r = start_round(client, suite, job_id, accounts[0])
    cap = round_info(client, suite, job_id, r)["shareCap"]
    assert cap == share_cap_reference(9, [top, 1, 1]) == 5  # half of 9, rounded up
    assert epochs_of(client, suite, job_id, r, members) == [5, 2, 2]


def test_split_matches_the_reference_for_random_federations(client, suite, accounts):
    """Random capacities, several jobs in a row. Each round times out with every assignment
    lapsing, so the delivery records (per federation) fall and scale the next job's split."""
    rng = random.Random(21)
    members = accounts[1:7]
    caps = [rng.randint(1, 40) for _ in members]
    fed = federation_with_members(client, suite, members, caps)
    records = [(0, 0)] * len(members)  # (taken, delivered)
    for epochs in (1, 5, 13, 60):
        job_id = create_job(client, suite, accounts[0], fed.fed_id, totalEpochs=epochs,
                            epochsPerRound=epochs)  # fmt: skip
        r = start_round(client, suite, job_id, accounts[0])
        weights = [
            max(1, c * (d + DELIVERY_PRIOR) // (t + DELIVERY_PRIOR))
            for c, (t, d) in zip(caps, records, strict=True)
        ]
        expected = round_split_reference(epochs, weights)
        got = epochs_of(client, suite, job_id, r, members)
        assert got == expected, (epochs, weights)
        assert sum(expected) == epochs
        for i, m in enumerate(members):
            if got[i]:
                assert assignment(client, suite, job_id, r, m.address)[2] == weights[i]
        client.increase_time(ACCEPT_WINDOW + 1)
        tx(client, suite.jobs.functions.timeoutRound(job_id), accounts[0])  # all lapse
        records = [delivery_after(rec, e, 0) if e else rec
                   for rec, e in zip(records, got, strict=True)]  # fmt: skip
        for m, (t, d) in zip(members, records, strict=True):
            (taken, delivered), _ = client.call(
                suite.jobs.functions.delivery(fed.fed_id, m.address)
            )
            assert (taken, delivered) == (t, d)


def test_round_epochs_are_capped_by_what_is_left(client, suite, accounts):
    members = accounts[1:3]
    fed = federation_with_members(client, suite, members)
    job_id = create_job(client, suite, accounts[0], fed.fed_id, totalEpochs=5, epochsPerRound=4)
    r = start_round(client, suite, job_id, accounts[0])
    assert round_info(client, suite, job_id, r)["epochs"] == 4
    assert client.call(suite.jobs.functions.roundMembers(job_id, r)) == [m.address for m in members]


def test_start_round_needs_two_active_members(client, suite, accounts):
    """An update is judged without its author's seat: a round of one could never accept one."""
    a, b = accounts[1:3]
    fed = federation_with_members(client, suite, [a, b])
    job_id = create_job(client, suite, accounts[0], fed.fed_id)
    tx(client, suite.registry.functions.requestLeave(fed.fed_id), b)
    with reverts("TooFewMembers", fed.fed_id, 1):
        tx(client, suite.jobs.functions.startRound(job_id), accounts[0])
    tx(client, suite.registry.functions.requestLeave(fed.fed_id), a)
    with reverts("TooFewMembers", fed.fed_id, 0):
        tx(client, suite.jobs.functions.startRound(job_id), accounts[0])


def test_round_member_cap_takes_first_in_join_order(client, suite, accounts):
    gov, members = accounts[9], accounts[1:4]
    s = governed_suite(client, suite, gov)
    fed = federation_with_members(client, s, members, [1, 1, 100])
    set_param(client, s.jobs, gov, Param.MAX_ROUND_MEMBERS, 2)
    job_id = create_job(client, s, accounts[0], fed.fed_id, totalEpochs=4, epochsPerRound=4)
    tx(client, s.jobs.functions.startRound(job_id), accounts[0])
    first_two = [members[0].address, members[1].address]
    assert client.call(s.jobs.functions.roundMembers(job_id, 1)) == first_two
    assert sorted(committee(client, s, job_id, 1)) == sorted(first_two)  # drawn from them only


def test_governed_windows_set_the_next_rounds_deadlines(client, suite, accounts):
    gov = accounts[9]
    s = governed_suite(client, suite, gov)
    fed = federation_with_members(client, s, accounts[1:3])
    windows = {Param.ACCEPT_WINDOW: 61, Param.REVEAL_WINDOW: 62, Param.VERDICT_WINDOW: 63,
               Param.CONFIRM_WINDOW: 64}  # fmt: skip
    for p, v in windows.items():
        set_param(client, s.jobs, gov, p, v)
    job_id = create_job(client, s, accounts[0], fed.fed_id, roundDuration=65)
    r = start_round(client, s, job_id, accounts[0])
    rd = round_info(client, s, job_id, r)
    assert rd["acceptDeadline"] - rd["startedAt"] == 61
    assert rd["commitDeadline"] - rd["acceptDeadline"] == 65
    assert rd["revealDeadline"] - rd["commitDeadline"] == 62
    assert rd["verdictDeadline"] - rd["revealDeadline"] == 63
    assert rd["confirmDeadline"] - rd["verdictDeadline"] == 64


# ---------------------------------------------------------------- accept / decline / lapse


def test_assignment_locks_the_stake_and_accept_records_it(client, suite, accounts):
    members = accounts[1:3]
    fed = federation_with_members(client, suite, members, [1, 1])
    job_id = create_job(client, suite, accounts[0], fed.fed_id, totalEpochs=4, epochsPerRound=4)
    r = start_round(client, suite, job_id, accounts[0])
    # Assigned work locks the stake at once, whether or not it is accepted yet (and so does a
    # committee seat: both members sit on it).
    for m in members:
        assert seated(client, suite, job_id, r, m.address) == 1
        assert client.call(suite.jobs.functions.pendingWork(fed.fed_id, m.address)) == 2
    receipt = tx(client, suite.jobs.functions.accept(job_id, r), members[0])
    assert events(suite.jobs, receipt, "AssignmentAccepted") == [
        {"jobId": job_id, "round": r, "member": members[0].address, "epochs": 2}
    ]
    assert assignment(client, suite, job_id, r, members[0].address)[3] == ACCEPTED
    assert client.call(suite.jobs.functions.pendingWork(fed.fed_id, members[0].address)) == 2
    rd = round_info(client, suite, job_id, r)
    assert (rd["assignedCount"], rd["acceptedCount"]) == (1, 1)
    # Declining releases the assignment's lock (the seat keeps its own).
    tx(client, suite.jobs.functions.decline(job_id, r), members[1])
    assert client.call(suite.jobs.functions.pendingWork(fed.fed_id, members[1].address)) == 1

    with reverts("AlreadyResponded", members[0].address):
        tx(client, suite.jobs.functions.accept(job_id, r), members[0])
    with reverts("AlreadyResponded", members[0].address):
        tx(client, suite.jobs.functions.decline(job_id, r), members[0])
    with reverts("AlreadyResponded", members[1].address):
        tx(client, suite.jobs.functions.accept(job_id, r), members[1])
    with reverts("NotAssigned", accounts[5].address):
        tx(client, suite.jobs.functions.accept(job_id, r), accounts[5])
    with reverts("WrongRound", 2, 1):
        tx(client, suite.jobs.functions.accept(job_id, 2), members[1])
    with reverts("WrongRound", 0, 1):
        tx(client, suite.jobs.functions.decline(job_id, 0), members[1])


def test_accept_and_decline_close_at_the_deadline(client, suite, accounts):
    members = accounts[1:3]
    fed = federation_with_members(client, suite, members)
    job_id = create_job(client, suite, accounts[0], fed.fed_id, totalEpochs=4, epochsPerRound=4)
    r = start_round(client, suite, job_id, accounts[0])
    rd = round_info(client, suite, job_id, r)
    client.increase_time(ACCEPT_WINDOW + 1)
    with reverts("AcceptClosed", rd["acceptDeadline"]):
        tx(client, suite.jobs.functions.accept(job_id, r), members[1])
    with reverts("AcceptClosed", rd["acceptDeadline"]):
        tx(client, suite.jobs.functions.decline(job_id, r), members[1])


def test_accept_needs_an_active_member(client, suite, accounts):
    members = accounts[1:3]
    fed = federation_with_members(client, suite, members)
    job_id = create_job(client, suite, accounts[0], fed.fed_id, totalEpochs=4, epochsPerRound=4)
    r = start_round(client, suite, job_id, accounts[0])
    tx(client, suite.registry.functions.requestLeave(fed.fed_id), members[0])
    with reverts("NotEligible", members[0].address):
        tx(client, suite.jobs.functions.accept(job_id, r), members[0])
    tx(client, suite.jobs.functions.decline(job_id, r), members[0])  # it can still give it back
    assert assignment(client, suite, job_id, r, members[0].address)[3] == DECLINED
    seat = seated(client, suite, job_id, r, members[0].address)
    assert client.call(suite.jobs.functions.pendingWork(fed.fed_id, members[0].address)) == seat


def test_decline_resplits_by_capacity_within_the_cap(client, suite, accounts):
    members = accounts[1:5]
    fed = federation_with_members(client, suite, members, [1, 2, 3, 4])
    job_id = create_job(client, suite, accounts[0], fed.fed_id, totalEpochs=10, epochsPerRound=10)
    r = start_round(client, suite, job_id, accounts[0])
    assert round_info(client, suite, job_id, r)["shareCap"] == 5
    tx(client, suite.jobs.functions.accept(job_id, r), members[2])  # accepted members still share
    receipt = tx(client, suite.jobs.functions.decline(job_id, r), members[3])
    assert events(suite.jobs, receipt, "AssignmentDeclined") == [
        {"jobId": job_id, "round": r, "member": members[3].address, "epochs": 4}
    ]
    # 4 epochs over weights 1,2,3 (room 4,3,2): floors 0,1,2 with remainders 4,2,0 -> +1 to
    # index 0. EpochsAssigned carries each member's new total.
    assert [(e["member"], e["epochs"]) for e in events(suite.jobs, receipt, "EpochsAssigned")] == [
        (members[0].address, 2),
        (members[1].address, 3),
        (members[2].address, 5),
    ]
    assert epochs_of(client, suite, job_id, r, members) == [2, 3, 5, 0]
    assert assignment(client, suite, job_id, r, members[3].address)[3] == DECLINED

    tx(client, suite.jobs.functions.decline(job_id, r), members[0])
    # members[2] is at the cap (5): both freed epochs go to members[1], which reaches it too.
    assert epochs_of(client, suite, job_id, r, members) == [0, 5, 5, 0]
    assert round_info(client, suite, job_id, r)["epochs"] == 10


def test_epochs_nobody_has_room_for_leave_the_round(client, suite, accounts):
    members = accounts[1:3]
    fed = federation_with_members(client, suite, members)
    job_id = create_job(client, suite, accounts[0], fed.fed_id, totalEpochs=8, epochsPerRound=4)
    r = start_round(client, suite, job_id, accounts[0])
    assert round_info(client, suite, job_id, r)["shareCap"] == 2  # half the round each
    tx(client, suite.jobs.functions.decline(job_id, r), members[0])
    assert epochs_of(client, suite, job_id, r, members) == [0, 2]
    assert round_info(client, suite, job_id, r)["epochs"] == 2  # the other 2 stay in the job


def test_last_decline_returns_epochs_to_the_pool(client, suite, accounts):
    a, b = accounts[1:3]
    fed = federation_with_members(client, suite, [a, b])
    job_id = create_job(client, suite, accounts[0], fed.fed_id, totalEpochs=4, epochsPerRound=2)
    r = start_round(client, suite, job_id, accounts[0])
    tx(client, suite.jobs.functions.decline(job_id, r), a)  # b is at the cap: a's epoch leaves
    assert round_info(client, suite, job_id, r)["epochs"] == 1
    receipt = tx(client, suite.jobs.functions.decline(job_id, r), b)
    assert events(suite.jobs, receipt, "EpochsAssigned") == []
    assert round_info(client, suite, job_id, r)["epochs"] == 0
    with reverts("RoundNotStuck"):
        tx(client, suite.jobs.functions.timeoutRound(job_id), accounts[0])
    client.increase_time(ACCEPT_WINDOW + 1)
    receipt = tx(client, suite.jobs.functions.timeoutRound(job_id), accounts[0])
    assert events(suite.jobs, receipt, "MemberSlashed") == []  # declining is never penalised
    r2 = start_round(client, suite, job_id, accounts[0])
    assert (r2, round_info(client, suite, job_id, r2)["epochs"]) == (2, 2)


def test_close_acceptance_lapses_the_silent_and_resplits_to_acceptors(client, suite, accounts):
    members = accounts[1:5]
    fed = federation_with_members(client, suite, members)
    job_id = create_job(client, suite, accounts[0], fed.fed_id, totalEpochs=8, epochsPerRound=8)
    r = start_round(client, suite, job_id, accounts[0])
    rd = round_info(client, suite, job_id, r)
    assert rd["shareCap"] == 4 and epochs_of(client, suite, job_id, r, members) == [2, 2, 2, 2]
    for m in members[:2]:
        tx(client, suite.jobs.functions.accept(job_id, r), m)
    with reverts("AcceptanceOpen", rd["acceptDeadline"]):
        tx(client, suite.jobs.functions.closeAcceptance(job_id), accounts[7])
    client.increase_time(ACCEPT_WINDOW + 1)
    treasury = client.call(suite.token.functions.balanceOf(suite.timelock.address))
    receipt = tx(client, suite.jobs.functions.closeAcceptance(job_id), accounts[7])  # anyone
    lapsed = events(suite.jobs, receipt, "AssignmentLapsed")
    assert [(e["member"], e["epochs"]) for e in lapsed] == [(m.address, 2) for m in members[2:]]
    lapse = 10 * ETHER * 200 // 10_000  # lapse-bps: 2 % of the stake
    assert [(e["member"], e["amount"]) for e in events(suite.jobs, receipt, "MemberSlashed")] == [
        (m.address, lapse) for m in members[2:]
    ]
    assert (
        client.call(suite.token.functions.balanceOf(suite.timelock.address)) == treasury + 2 * lapse
    )
    # The 4 freed epochs go to those who accepted, up to the cap of 4 each.
    assert epochs_of(client, suite, job_id, r, members) == [4, 4, 0, 0]
    for m in members[2:]:
        assert assignment(client, suite, job_id, r, m.address)[3] == LAPSED
        seat = seated(client, suite, job_id, r, m.address)  # the seat stays until the round ends
        assert client.call(suite.jobs.functions.pendingWork(fed.fed_id, m.address)) == seat
        assert client.call(suite.jobs.functions.lastSlashedRound(job_id, m.address)) == r
    rd = round_info(client, suite, job_id, r)
    assert (rd["assignedCount"], rd["acceptedCount"], rd["epochs"]) == (0, 2, 8)
    with reverts("NothingLapsed"):
        tx(client, suite.jobs.functions.closeAcceptance(job_id), accounts[7])
    commit(client, suite, job_id, r, make_update(members[0], job_id, r))  # acceptance closed


def test_lapsed_epochs_beyond_the_cap_leave_the_round(client, suite, accounts):
    members = accounts[1:4]
    fed = federation_with_members(client, suite, members)
    job_id = create_job(client, suite, accounts[0], fed.fed_id, totalEpochs=9, epochsPerRound=9)
    r = start_round(client, suite, job_id, accounts[0])
    assert round_info(client, suite, job_id, r)["shareCap"] == 5
    tx(client, suite.jobs.functions.accept(job_id, r), members[0])
    client.increase_time(ACCEPT_WINDOW + 1)
    tx(client, suite.jobs.functions.closeAcceptance(job_id), accounts[0])
    assert epochs_of(client, suite, job_id, r, members) == [5, 0, 0]
    assert round_info(client, suite, job_id, r)["epochs"] == 5


# ---------------------------------------------------------------- commit / reveal


def test_commit_and_reveal_happy_path(client, suite, accounts):
    members = accounts[1:3]
    fed = federation_with_members(client, suite, members)
    job_id = create_job(client, suite, accounts[0], fed.fed_id, totalEpochs=4, epochsPerRound=4)
    r = start_round(client, suite, job_id, accounts[0])
    ups = [make_update(m, job_id, r) for m in members]
    for m in members:
        tx(client, suite.jobs.functions.accept(job_id, r), m)
    receipt = commit(client, suite, job_id, r, ups[0])
    assert receipt["gasUsed"] < 100_000
    c0 = commitment(ups[0].update_hash, 100, ups[0].salt, members[0].address, job_id, r)
    assert events(suite.jobs, receipt, "UpdateCommitted") == [
        {"jobId": job_id, "round": r, "member": members[0].address, "commitment": c0}
    ]
    assert (
        client.call(
            suite.jobs.functions.commitmentOf(
                ups[0].update_hash, 100, ups[0].salt, members[0].address, job_id, r
            )
        )
        == c0
    )
    with reverts("RevealNotOpen"):  # members[1] accepted and has not committed yet
        reveal(client, suite, job_id, r, ups[0])
    commit(client, suite, job_id, r, ups[1])
    receipt = reveal(client, suite, job_id, r, ups[0])  # all committed: reveal opens early
    assert events(suite.jobs, receipt, "UpdateRevealed") == [
        {
            "jobId": job_id,
            "round": r,
            "member": members[0].address,
            "updateHash": ups[0].update_hash,
            "numSamples": 100,
        }
    ]
    _, index, _, state, samples, stored_c, stored_u = assignment(
        client, suite, job_id, r, members[0].address
    )
    # once revealed, the commitment's slot holds the update hash (the view shows it as such)
    got = (index, state, samples, stored_c, stored_u)
    assert got == (0, REVEALED, 100, bytes(32), ups[0].update_hash)
    assert assignment(client, suite, job_id, r, members[1].address)[3] == COMMITTED
    rd = round_info(client, suite, job_id, r)
    assert (rd["acceptedCount"], rd["committedCount"], rd["revealedCount"]) == (2, 2, 1)
    assert rd["revealedBits"] == 0b01
    with reverts("AlreadyRevealed", members[0].address):
        reveal(client, suite, job_id, r, ups[0])
    with reverts("AlreadyCommitted", members[0].address):
        commit(client, suite, job_id, r, ups[0])
    with reverts("AlreadyCommitted", members[1].address):
        commit(client, suite, job_id, r, ups[1])
    reveal(client, suite, job_id, r, ups[1])
    assert round_info(client, suite, job_id, r)["revealedBits"] == 0b11


def test_commit_rejections(client, suite, accounts):
    members = accounts[1:3]
    fed = federation_with_members(client, suite, members)
    job_id = create_job(client, suite, accounts[0], fed.fed_id, totalEpochs=4, epochsPerRound=4)
    r = start_round(client, suite, job_id, accounts[0])
    rd = round_info(client, suite, job_id, r)
    with reverts("NotAccepted", accounts[6].address):  # not in the round
        commit(client, suite, job_id, r, make_update(accounts[6], job_id, r))
    tx(client, suite.jobs.functions.decline(job_id, r), members[1])
    with reverts("ZeroCommitment"):
        tx(client, suite.jobs.functions.commit(job_id, r, b"\0" * 32), members[0])
    with reverts("WrongRound", 2, 1):
        tx(client, suite.jobs.functions.commit(job_id, 2, h("c")), members[0])
    with reverts("NotAccepted", members[1].address):  # declined
        commit(client, suite, job_id, r, make_update(members[1], job_id, r))
    # Committing accepts, but only within the accept window (members[0] never answered).
    client.increase_time(ACCEPT_WINDOW + 1)
    with reverts("AcceptClosed", rd["acceptDeadline"]):
        commit(client, suite, job_id, r, make_update(members[0], job_id, r))
    client.increase_time(ROUND_DURATION)
    with reverts("CommitClosed", rd["commitDeadline"]):
        commit(client, suite, job_id, r, make_update(members[0], job_id, r))


def test_reveal_rejections(client, suite, accounts):
    a, b, c = accounts[1:4]
    fed = federation_with_members(client, suite, [a, b, c])
    job_id = create_job(client, suite, accounts[0], fed.fed_id, totalEpochs=3, epochsPerRound=3)
    r = start_round(client, suite, job_id, accounts[0])
    ua, ub = make_update(a, job_id, r), make_update(b, job_id, r)
    for m in (a, b, c):
        tx(client, suite.jobs.functions.accept(job_id, r), m)
    commit(client, suite, job_id, r, ua)
    # b copies a's commitment: the commitment binds the sender, so b cannot open it.
    ca = commitment(ua.update_hash, ua.num_samples, ua.salt, a.address, job_id, r)
    tx(client, suite.jobs.functions.commit(job_id, r, ca), b)
    with reverts("RevealNotOpen"):  # c accepted and has not committed; deadline not passed
        reveal(client, suite, job_id, r, ua)
    rd = round_info(client, suite, job_id, r)
    client.increase_time(ACCEPT_WINDOW + ROUND_DURATION + 1)  # commit deadline passed: reveal opens
    with reverts("BadReveal"):
        tx(
            client,
            suite.jobs.functions.reveal(job_id, r, ua.update_hash, ua.num_samples, ua.salt),
            b,
        )
    with reverts("BadReveal"):  # wrong salt
        tx(
            client,
            suite.jobs.functions.reveal(job_id, r, ua.update_hash, ua.num_samples, h("x")),
            a,
        )
    with reverts("BadReveal"):  # wrong sample count
        tx(client, suite.jobs.functions.reveal(job_id, r, ua.update_hash, 99, ua.salt), a)
    with reverts("NotCommitted", c.address):
        reveal(client, suite, job_id, r, make_update(c, job_id, r))
    with reverts("NotCommitted", accounts[6].address):
        reveal(client, suite, job_id, r, make_update(accounts[6], job_id, r))
    reveal(client, suite, job_id, r, ua)
    client.increase_time(REVEAL_WINDOW)
    with reverts("RevealClosed", rd["revealDeadline"]):
        reveal(client, suite, job_id, r, ub)


def test_zero_samples_are_refused_and_replays_are_left_to_the_committee(client, suite, accounts):
    """A commitment to zero samples never opens. A hash another member revealed (or one
    revealed in an earlier round) opens like any other: judging replays and copies is the
    committee's (``REPLAY``, duplicates; tests/attacks/test_replay.py), which saves the
    22k-gas slot per reveal an on-chain set of revealed hashes cost."""
    a, b, c = accounts[1:4]
    fed = federation_with_members(client, suite, [a, b, c])
    job_id = create_job(client, suite, accounts[0], fed.fed_id, totalEpochs=6, epochsPerRound=3)
    r = start_round(client, suite, job_id, accounts[0])
    for m in (a, b, c):
        tx(client, suite.jobs.functions.accept(job_id, r), m)
    same = h("the-same-update")
    ua = make_update(a, job_id, r)
    ua.update_hash = same
    ub = make_update(b, job_id, r)
    ub.update_hash = same  # b commits to the very update a commits to (its own salt)
    uc = make_update(c, job_id, r)
    uc.num_samples = 0
    for u in (ua, ub, uc):
        commit(client, suite, job_id, r, u)
    with reverts("ZeroSamples"):  # a commitment to zero samples can never be opened
        reveal(client, suite, job_id, r, uc)
    reveal(client, suite, job_id, r, ua)
    reveal(client, suite, job_id, r, ub)
    assert round_info(client, suite, job_id, r)["revealedBits"] == 0b011


def test_a_record_left_from_an_earlier_round_opens_nothing_in_the_next(client, suite, accounts):
    """Assignment slots are reused across a job's rounds (issue 18). A member slashed in round
    1 sits round 2 out; its slot still holds round 1's committed record, and that record must
    not let it commit, reveal or accept in round 2."""
    a, b, c = accounts[1:4]
    fed = federation_with_members(client, suite, [a, b, c])
    job_id = create_job(client, suite, accounts[0], fed.fed_id, totalEpochs=6, epochsPerRound=3)
    r = start_round(client, suite, job_id, accounts[0])
    ups = {m.address: make_update(m, job_id, r) for m in (a, b, c)}
    for u in ups.values():
        commit(client, suite, job_id, r, u)
    past(client, round_info(client, suite, job_id, r)["commitDeadline"])
    for m in (a, b):
        reveal(client, suite, job_id, r, ups[m.address])  # c keeps its commitment unopened
    past(client, round_info(client, suite, job_id, r)["confirmDeadline"])
    tx(client, suite.jobs.functions.timeoutRound(job_id), accounts[0])
    r2 = start_round(client, suite, job_id, accounts[0])
    members = [x.lower() for x in client.call(suite.jobs.functions.roundMembers(job_id, r2))]
    assert c.address.lower() not in members  # slashed as a no-show in round 1
    with reverts("NotAccepted"):
        commit(client, suite, job_id, r2, make_update(c, job_id, r2))
    with reverts("NotAssigned"):
        tx(client, suite.jobs.functions.accept(job_id, r2), c)
    with reverts("NotCommitted"):
        reveal(client, suite, job_id, r2, ups[c.address])
