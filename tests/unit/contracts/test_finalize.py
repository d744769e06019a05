"""TrainingJobs settlement: validator proposals, finalization, slashing, timeouts, claims."""

from __future__ import annotations

from web3.logs import DISCARD

from .helpers import (
    ACCEPT_WINDOW,
    ETHER,
    JOB_COMPLETED,
    JOB_OPEN,
    PROPOSAL_WINDOW,
    REVEAL_WINDOW,
    ROUND_DURATION,
    assert_conservation,
    balance,
    commit,
    create_job,
    events,
    federation_with_members,
    h,
    job_info,
    make_update,
    member_info,
    reveal,
    reverts,
    round_info,
    round_to_revealed,
    sorted_addresses,
    start_round,
    tx,
)

STAKE = 10 * ETHER


def test_quorum_of_one_finalizes_pays_and_completes(client, suite, accounts):
    owner, members = accounts[0], accounts[1:3]
    fed, job_id, r, _ = round_to_revealed(
        client,
        suite,
        owner,
        members,
        [1, 3],
        totalEpochs=4,
        epochsPerRound=4,
        rewardPerEpoch=2 * ETHER,
    )
    accepted = sorted_addresses(members)
    receipt = tx(
        client, suite.jobs.functions.propose(job_id, r, h("model-1"), accepted), members[0]
    )
    (fin,) = events(suite.jobs, receipt, "RoundFinalized")
    assert fin == {
        "jobId": job_id,
        "round": r,
        "newModelHash": h("model-1"),
        "acceptedCount": 2,
        "epochsTrained": 4,
    }
    credited = {e["member"]: e["amount"] for e in events(suite.jobs, receipt, "RewardCredited")}
    assert credited == {members[0].address: 2 * ETHER, members[1].address: 6 * ETHER}
    assert events(suite.jobs, receipt, "JobCompleted") == [
        {"jobId": job_id, "finalModelHash": h("model-1"), "refund": 0}
    ]
    assert events(suite.jobs, receipt, "MemberSlashed") == []
    j = job_info(client, suite, job_id)
    assert (j["status"], j["epochsDone"], j["escrowRemaining"]) == (JOB_COMPLETED, 4, 0)
    assert j["globalModelHash"] == j["finalModelHash"] == h("model-1")
    rd = round_info(client, suite, job_id, r)
    assert (rd["finalized"], rd["epochsTrained"], rd["newModelHash"]) == (True, 4, h("model-1"))
    for m in members:
        assert client.call(suite.jobs.functions.pendingWork(fed.fed_id, m.address)) == 0
    assert client.call(suite.jobs.functions.claimable(members[1].address)) == 6 * ETHER
    assert_conservation(client, suite, [fed.fed_id], [job_id])
    with reverts("RoundClosed", job_id, r):
        tx(client, suite.jobs.functions.propose(job_id, r, h("model-1"), accepted), members[1])
    with reverts("JobNotOpen", job_id):
        tx(client, suite.jobs.functions.startRound(job_id), owner)


def test_rejected_update_is_slashed_and_epochs_return_to_pool(client, suite, accounts):
    owner, members = accounts[0], accounts[1:4]
    fed, job_id, r, _ = round_to_revealed(
        client, suite, owner, members, totalEpochs=6, epochsPerRound=3
    )
    treasury_before = balance(client, suite, suite.timelock.address)
    accepted = sorted_addresses(members[:2])
    receipt = tx(
        client, suite.jobs.functions.propose(job_id, r, h("model-1"), accepted), members[2]
    )
    assert events(suite.jobs, receipt, "MemberSlashed") == [
        {"jobId": job_id, "round": r, "member": members[2].address, "amount": STAKE // 10}
    ]
    assert (
        member_info(client, suite, fed.fed_id, members[2].address)["stake"] == STAKE - STAKE // 10
    )
    assert balance(client, suite, suite.timelock.address) - treasury_before == STAKE // 10
    assert client.call(suite.jobs.functions.claimable(members[2].address)) == 0
    j = job_info(client, suite, job_id)
    assert (j["epochsDone"], j["status"], j["escrowRemaining"]) == (2, JOB_OPEN, 4 * ETHER)
    r2 = start_round(client, suite, job_id, owner)
    assert round_info(client, suite, job_id, r2)["epochs"] == 3
    assert round_info(client, suite, job_id, r2)["baseModelHash"] == h("model-1")
    assert_conservation(client, suite, [fed.fed_id], [job_id])


def test_missing_commit_or_reveal_is_slashed_at_finalization(client, suite, accounts):
    owner, (a, b, c, d) = accounts[0], accounts[1:5]
    fed = federation_with_members(client, suite, [a, b, c, d])
    job_id = create_job(client, suite, owner, fed.fed_id, totalEpochs=4, epochsPerRound=4)
    r = start_round(client, suite, job_id, owner)
    ua, ub = make_update(a, job_id, r), make_update(b, job_id, r)
    for m in (a, b, c):
        tx(client, suite.jobs.functions.accept(job_id, r), m)
    tx(client, suite.jobs.functions.decline(job_id, r), d)
    commit(client, suite, job_id, r, ua)
    commit(client, suite, job_id, r, ub)  # c accepted but never commits; b never reveals
    client.increase_time(ACCEPT_WINDOW + ROUND_DURATION + 1)
    reveal(client, suite, job_id, r, ua)
    with reverts("ProposalNotOpen"):  # b committed and has not revealed; deadline not passed
        tx(client, suite.jobs.functions.propose(job_id, r, h("m1"), [a.address]), d)
    client.increase_time(REVEAL_WINDOW)
    receipt = tx(client, suite.jobs.functions.propose(job_id, r, h("m1"), [a.address]), d)
    slashed = {e["member"] for e in events(suite.jobs, receipt, "MemberSlashed")}
    assert slashed == {b.address, c.address}  # d declined: not slashed
    assert member_info(client, suite, fed.fed_id, d.address)["stake"] == STAKE
    assert client.call(suite.jobs.functions.claimable(a.address)) > 0
    assert_conservation(client, suite, [fed.fed_id], [job_id])


def test_propose_rejections(client, suite, accounts):
    owner, members = accounts[0], accounts[1:3]
    _fed, job_id, r, _ = round_to_revealed(
        client, suite, owner, members, totalEpochs=4, epochsPerRound=4, validatorQuorum=2
    )
    lo, hi = sorted_addresses(members)
    fn = suite.jobs.functions.propose
    with reverts("NotValidator", accounts[6].address):
        tx(client, fn(job_id, r, h("m1"), [lo, hi]), accounts[6])
    with reverts("NotSorted"):
        tx(client, fn(job_id, r, h("m1"), [hi, lo]), members[0])
    with reverts("NotSorted"):
        tx(client, fn(job_id, r, h("m1"), [lo, lo]), members[0])
    with reverts("NotRevealed", accounts[6].address):
        tx(client, fn(job_id, r, h("m1"), [accounts[6].address]), members[0])
    with reverts("ZeroModelHash"):
        tx(client, fn(job_id, r, b"\0" * 32, [lo]), members[0])
    with reverts("ModelChangedWithoutUpdates"):
        tx(client, fn(job_id, r, h("m1"), []), members[0])
    with reverts("WrongRound", 2, 1):
        tx(client, fn(job_id, 2, h("m1"), [lo]), members[0])
    receipt = tx(client, fn(job_id, r, h("m1"), [lo, hi]), members[0])
    key = client.call(suite.jobs.functions.proposalKey(h("m1"), [lo, hi]))
    (ev,) = events(suite.jobs, receipt, "RoundProposed")
    assert (ev["key"], ev["votes"], ev["validator"]) == (key, 1, members[0].address)
    assert client.call(suite.jobs.functions.proposalVotes(job_id, r, key)) == 1
    assert client.call(suite.jobs.functions.hasProposed(job_id, r, members[0].address)) is True
    assert round_info(client, suite, job_id, r)["finalized"] is False
    with reverts("AlreadyProposed", members[0].address):
        tx(client, fn(job_id, r, h("m1"), [lo, hi]), members[0])
    rd = round_info(client, suite, job_id, r)
    client.increase_time(ACCEPT_WINDOW + ROUND_DURATION + REVEAL_WINDOW + PROPOSAL_WINDOW + 1)
    with reverts("ProposalClosed", rd["proposalDeadline"]):
        tx(client, fn(job_id, r, h("m1"), [lo, hi]), members[1])


def test_disagreeing_validators_need_a_matching_quorum(client, suite, accounts):
    owner, members, validator = accounts[0], accounts[1:3], accounts[3]
    fed, job_id, r, _ = round_to_revealed(
        client, suite, owner, members, totalEpochs=2, epochsPerRound=2, validatorQuorum=2
    )
    from .helpers import join

    join(client, suite, validator, fed.fed_id)  # joined after the round started: validates only
    both = sorted_addresses(members)
    fn = suite.jobs.functions.propose
    tx(client, fn(job_id, r, h("m1"), both), members[0])
    tx(client, fn(job_id, r, h("m2"), both), members[1])  # different model: separate tally
    assert round_info(client, suite, job_id, r)["finalized"] is False
    receipt = tx(client, fn(job_id, r, h("m1"), both), validator)
    assert len(events(suite.jobs, receipt, "RoundFinalized")) == 1
    assert job_info(client, suite, job_id)["globalModelHash"] == h("m1")


def test_empty_accepted_set_keeps_model_and_slashes_all(client, suite, accounts):
    owner, members = accounts[0], accounts[1:3]
    fed, job_id, r, _ = round_to_revealed(
        client, suite, owner, members, totalEpochs=2, epochsPerRound=2
    )
    receipt = tx(client, suite.jobs.functions.propose(job_id, r, h("model-0"), []), members[0])
    assert {e["member"] for e in events(suite.jobs, receipt, "MemberSlashed")} == {
        m.address for m in members
    }
    j = job_info(client, suite, job_id)
    assert (j["epochsDone"], j["globalModelHash"], j["escrowRemaining"]) == (
        0,
        h("model-0"),
        2 * ETHER,
    )
    assert_conservation(client, suite, [fed.fed_id], [job_id])


def test_timeout_slashes_only_members_that_did_not_reveal(client, suite, accounts):
    owner, (a, b, c) = accounts[0], accounts[1:4]
    fed = federation_with_members(client, suite, [a, b, c])
    job_id = create_job(client, suite, owner, fed.fed_id, totalEpochs=3, epochsPerRound=3)
    r = start_round(client, suite, job_id, owner)
    ua, ub = make_update(a, job_id, r), make_update(b, job_id, r)
    for m in (a, b, c):
        tx(client, suite.jobs.functions.accept(job_id, r), m)
    commit(client, suite, job_id, r, ua)
    commit(client, suite, job_id, r, ub)
    client.increase_time(ACCEPT_WINDOW + ROUND_DURATION + 1)
    reveal(client, suite, job_id, r, ua)
    rd = round_info(client, suite, job_id, r)
    with reverts("RoundNotStuck", rd["proposalDeadline"]):
        tx(client, suite.jobs.functions.timeoutRound(job_id), owner)
    client.increase_time(REVEAL_WINDOW + PROPOSAL_WINDOW + 1)
    receipt = tx(client, suite.jobs.functions.timeoutRound(job_id), accounts[7])  # permissionless
    assert events(suite.jobs, receipt, "RoundTimedOut") == [
        {"jobId": job_id, "round": r, "slashedCount": 2}
    ]
    assert {e["member"] for e in events(suite.jobs, receipt, "MemberSlashed")} == {
        b.address,
        c.address,
    }
    assert member_info(client, suite, fed.fed_id, a.address)["stake"] == STAKE
    assert client.call(suite.jobs.functions.claimable(a.address)) == 0  # revealed but not paid
    for m in (a, b, c):
        assert client.call(suite.jobs.functions.pendingWork(fed.fed_id, m.address)) == 0
    j = job_info(client, suite, job_id)
    assert (j["epochsDone"], j["globalModelHash"], j["escrowRemaining"]) == (
        0,
        h("model-0"),
        3 * ETHER,
    )
    assert round_info(client, suite, job_id, r)["timedOut"] is True
    with reverts("NoRoundInProgress", job_id):
        tx(client, suite.jobs.functions.timeoutRound(job_id), owner)
    with reverts("RoundClosed", job_id, r):
        tx(client, suite.jobs.functions.propose(job_id, r, h("m"), [a.address]), a)
    assert start_round(client, suite, job_id, owner) == 2
    assert_conservation(client, suite, [fed.fed_id], [job_id])


def test_claim_pays_once_effects_before_transfer(client, suite, accounts):
    owner, members = accounts[0], accounts[1:3]
    _, job_id, r, _ = round_to_revealed(
        client, suite, owner, members, totalEpochs=2, epochsPerRound=2
    )
    tx(
        client,
        suite.jobs.functions.propose(job_id, r, h("m1"), sorted_addresses(members)),
        members[0],
    )
    m = members[0]
    before = balance(client, suite, m.address)
    receipt = tx(client, suite.jobs.functions.claim(), m)
    (claimed,) = events(suite.jobs, receipt, "Claimed")
    assert claimed == {"account": m.address, "amount": ETHER}
    assert balance(client, suite, m.address) - before == ETHER
    assert client.call(suite.jobs.functions.claimable(m.address)) == 0
    # Checks-effects-interactions: the state change (and its event) precede the token transfer.
    claimed_log = suite.jobs.events.Claimed().process_receipt(receipt, errors=DISCARD)[0]
    transfer_log = suite.token.events.Transfer().process_receipt(receipt, errors=DISCARD)[0]
    assert claimed_log["logIndex"] < transfer_log["logIndex"]
    with reverts("NothingToClaim"):
        tx(client, suite.jobs.functions.claim(), m)
    with reverts("NothingToClaim"):
        tx(client, suite.jobs.functions.claim(), accounts[6])


def test_stake_is_locked_while_work_is_pending(client, suite, accounts):
    owner, (a, b) = accounts[0], accounts[1:3]
    fed = federation_with_members(client, suite, [a, b])
    job_id = create_job(client, suite, owner, fed.fed_id, totalEpochs=2, epochsPerRound=2)
    r = start_round(client, suite, job_id, owner)
    ua = make_update(a, job_id, r)
    tx(client, suite.jobs.functions.accept(job_id, r), a)
    tx(client, suite.jobs.functions.decline(job_id, r), b)
    tx(client, suite.registry.functions.requestLeave(fed.fed_id), a)  # leaving does not cancel work
    client.increase_time(ACCEPT_WINDOW + 1)
    with reverts("WorkPending", fed.fed_id, a.address, 1):
        tx(client, suite.registry.functions.withdrawStake(fed.fed_id), a)
    commit(client, suite, job_id, r, ua)
    reveal(client, suite, job_id, r, ua)
    with reverts("NotValidator", a.address):  # inactive members do not validate
        tx(client, suite.jobs.functions.propose(job_id, r, h("m1"), [a.address]), a)
    tx(client, suite.jobs.functions.propose(job_id, r, h("m1"), [a.address]), b)
    tx(client, suite.registry.functions.withdrawStake(fed.fed_id), a)
    assert balance(client, suite, a.address) == STAKE
    tx(client, suite.jobs.functions.claim(), a)
    assert balance(client, suite, a.address) == STAKE + 2 * ETHER
    assert_conservation(client, suite, [fed.fed_id], [job_id])
