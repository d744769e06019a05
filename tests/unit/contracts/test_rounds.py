"""TrainingJobs rounds: capacity split, accept/decline and re-split, commit and reveal."""

from __future__ import annotations

import random

from .helpers import (
    ACCEPT_WINDOW,
    ACCEPTED,
    ASSIGNED,
    COMMITTED,
    DECLINED,
    NONE,
    PROPOSAL_WINDOW,
    REVEAL_WINDOW,
    REVEALED,
    ROUND_DURATION,
    assignment,
    commit,
    commitment,
    create_job,
    events,
    federation_with_members,
    h,
    make_update,
    reveal,
    reverts,
    round_info,
    split_reference,
    start_round,
    tx,
)


def epochs_of(client, suite, job_id, r, members):
    return [assignment(client, suite, job_id, r, m.address)[0] for m in members]


# ---------------------------------------------------------------- start and split


def test_start_round_splits_by_capacity(client, suite, accounts):
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
    assert rd["proposalDeadline"] == rd["revealDeadline"] + PROPOSAL_WINDOW
    assert (rd["epochs"], rd["memberCount"], rd["assignedCount"], rd["finalized"]) == (
        10,
        4,
        4,
        False,
    )
    assert rd["baseModelHash"] == h("model-0")
    assert client.call(suite.jobs.functions.roundMembers(job_id, 1)) == [m.address for m in members]
    assert assignment(client, suite, job_id, 1, members[3].address)[:3] == (4, 4, ASSIGNED)
    with reverts("RoundInProgress", job_id, 1):
        tx(client, suite.jobs.functions.startRound(job_id), owner)


def test_split_remainder_goes_to_largest_fraction_then_lower_index(client, suite, accounts):
    members = accounts[1:4]
    fed = federation_with_members(client, suite, members, [3, 3, 3])
    job_id = create_job(client, suite, accounts[0], fed.fed_id, totalEpochs=10, epochsPerRound=10)
    r = start_round(client, suite, job_id, accounts[0])
    assert epochs_of(client, suite, job_id, r, members) == [4, 3, 3]


def test_members_with_zero_share_get_no_assignment(client, suite, accounts):
    members = accounts[1:4]
    fed = federation_with_members(client, suite, members, [1, 5, 1])
    job_id = create_job(client, suite, accounts[0], fed.fed_id, totalEpochs=2, epochsPerRound=2)
    r = start_round(client, suite, job_id, accounts[0])
    # 2*1/7 = 0 r2, 2*5/7 = 1 r3, 2*1/7 = 0 r2: the remainder goes to index 1.
    assert epochs_of(client, suite, job_id, r, members) == [0, 2, 0]
    assert client.call(suite.jobs.functions.roundMembers(job_id, r)) == [members[1].address]
    assert assignment(client, suite, job_id, r, members[0].address)[2] == NONE
    with reverts("NotAssigned", members[0].address):
        tx(client, suite.jobs.functions.accept(job_id, r), members[0])


def test_split_view_matches_reference_model(client, suite):
    rng = random.Random(7)
    cases = [
        (10, [1, 2, 3, 4]),
        (10, [3, 3, 3]),
        (7, [1, 1, 1]),
        (5, [3, 3, 0, 3]),
        (0, [1, 2]),
        (3, [0, 0]),
        (1, [5]),
        (100, [7, 11, 13]),
        (4, [2**63, 1, 2**63]),
    ]
    cases += [
        (
            rng.randint(0, 500),
            [rng.choice([0, 1, rng.randint(1, 10**6)]) for _ in range(rng.randint(1, 12))],
        )
        for _ in range(25)
    ]
    for total, weights in cases:
        got = client.call(suite.jobs.functions.splitEpochs(total, weights))
        assert got == split_reference(total, weights), (total, weights)
        if any(weights):
            assert sum(got) == total


def test_round_epochs_are_capped_by_what_is_left(client, suite, accounts):
    members = accounts[1:3]
    fed = federation_with_members(client, suite, members)
    job_id = create_job(client, suite, accounts[0], fed.fed_id, totalEpochs=5, epochsPerRound=4)
    r = start_round(client, suite, job_id, accounts[0])
    assert round_info(client, suite, job_id, r)["epochs"] == 4
    assert client.call(suite.jobs.functions.roundMembers(job_id, r)) == [m.address for m in members]


def test_start_round_needs_active_members(client, suite, accounts):
    m = accounts[1]
    fed = federation_with_members(client, suite, [m])
    job_id = create_job(client, suite, accounts[0], fed.fed_id)
    tx(client, suite.registry.functions.requestLeave(fed.fed_id), m)
    with reverts("NoActiveMembers", fed.fed_id):
        tx(client, suite.jobs.functions.startRound(job_id), accounts[0])


def test_round_member_cap_takes_first_in_join_order(client, suite, accounts):
    gov, members = accounts[9], accounts[1:4]
    fed = federation_with_members(client, suite, members, [1, 1, 100])
    jobs = client.deploy(
        "TrainingJobs", suite.token.address, suite.registry.address, gov.address, sender=accounts[0]
    )
    tx(client, jobs.functions.setMaxRoundMembers(2), gov)
    from types import SimpleNamespace

    s = SimpleNamespace(
        token=suite.token, registry=suite.registry, jobs=jobs, deployer=suite.deployer
    )
    job_id = create_job(client, s, accounts[0], fed.fed_id, totalEpochs=4, epochsPerRound=4)
    tx(client, jobs.functions.startRound(job_id), accounts[0])
    assert client.call(jobs.functions.roundMembers(job_id, 1)) == [
        members[0].address,
        members[1].address,
    ]


# ---------------------------------------------------------------- accept / decline


def test_accept_marks_pending_work(client, suite, accounts):
    members = accounts[1:3]
    fed = federation_with_members(client, suite, members, [1, 1])
    job_id = create_job(client, suite, accounts[0], fed.fed_id, totalEpochs=4, epochsPerRound=4)
    r = start_round(client, suite, job_id, accounts[0])
    receipt = tx(client, suite.jobs.functions.accept(job_id, r), members[0])
    assert events(suite.jobs, receipt, "AssignmentAccepted") == [
        {"jobId": job_id, "round": r, "member": members[0].address, "epochs": 2}
    ]
    assert assignment(client, suite, job_id, r, members[0].address)[2] == ACCEPTED
    assert client.call(suite.jobs.functions.pendingWork(fed.fed_id, members[0].address)) == 1
    assert client.call(suite.jobs.functions.pendingWork(fed.fed_id, members[1].address)) == 0
    rd = round_info(client, suite, job_id, r)
    assert (rd["assignedCount"], rd["acceptedCount"]) == (1, 1)

    with reverts("AlreadyResponded", members[0].address):
        tx(client, suite.jobs.functions.accept(job_id, r), members[0])
    with reverts("AlreadyResponded", members[0].address):
        tx(client, suite.jobs.functions.decline(job_id, r), members[0])
    with reverts("NotAssigned", accounts[5].address):
        tx(client, suite.jobs.functions.accept(job_id, r), accounts[5])
    with reverts("WrongRound", 2, 1):
        tx(client, suite.jobs.functions.accept(job_id, 2), members[1])
    with reverts("WrongRound", 0, 1):
        tx(client, suite.jobs.functions.decline(job_id, 0), members[1])
    client.increase_time(ACCEPT_WINDOW + 1)
    with reverts("AcceptClosed", rd["acceptDeadline"]):
        tx(client, suite.jobs.functions.accept(job_id, r), members[1])
    with reverts("AcceptClosed", rd["acceptDeadline"]):
        tx(client, suite.jobs.functions.decline(job_id, r), members[1])


def test_decline_resplits_by_capacity_over_remaining_members(client, suite, accounts):
    members = accounts[1:5]
    fed = federation_with_members(client, suite, members, [1, 2, 3, 4])
    job_id = create_job(client, suite, accounts[0], fed.fed_id, totalEpochs=10, epochsPerRound=10)
    r = start_round(client, suite, job_id, accounts[0])
    tx(client, suite.jobs.functions.accept(job_id, r), members[2])  # accepted members still share
    receipt = tx(client, suite.jobs.functions.decline(job_id, r), members[3])
    assert events(suite.jobs, receipt, "AssignmentDeclined") == [
        {"jobId": job_id, "round": r, "member": members[3].address, "epochs": 4}
    ]
    # 4 epochs over capacities 1,2,3: floors 0,1,2 with remainders 4,2,0 -> +1 to index 0.
    assert [(e["member"], e["epochs"]) for e in events(suite.jobs, receipt, "EpochsAssigned")] == [
        (members[0].address, 2),
        (members[1].address, 3),
        (members[2].address, 5),
    ]
    assert epochs_of(client, suite, job_id, r, members) == [2, 3, 5, 0]
    assert assignment(client, suite, job_id, r, members[3].address)[2] == DECLINED

    receipt = tx(client, suite.jobs.functions.decline(job_id, r), members[0])
    # 2 epochs over capacities 2,3: floors 0,1 with remainders 4,1 -> +1 to index 0.
    assert epochs_of(client, suite, job_id, r, members) == [0, 4, 6, 0]
    assert sum(epochs_of(client, suite, job_id, r, members)) == 10


def test_last_decline_returns_epochs_to_the_pool(client, suite, accounts):
    m = accounts[1]
    fed = federation_with_members(client, suite, [m])
    job_id = create_job(client, suite, accounts[0], fed.fed_id, totalEpochs=4, epochsPerRound=2)
    r = start_round(client, suite, job_id, accounts[0])
    receipt = tx(client, suite.jobs.functions.decline(job_id, r), m)
    assert events(suite.jobs, receipt, "EpochsAssigned") == []
    with reverts("RoundNotStuck"):
        tx(client, suite.jobs.functions.timeoutRound(job_id), accounts[0])
    client.increase_time(ACCEPT_WINDOW + 1)
    tx(client, suite.jobs.functions.timeoutRound(job_id), accounts[0])
    r2 = start_round(client, suite, job_id, accounts[0])
    assert (r2, round_info(client, suite, job_id, r2)["epochs"]) == (2, 2)


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
    _, _, state, samples, stored_c, stored_u = assignment(
        client, suite, job_id, r, members[0].address
    )
    assert (state, samples, stored_c, stored_u) == (REVEALED, 100, c0, ups[0].update_hash)
    assert assignment(client, suite, job_id, r, members[1].address)[2] == COMMITTED
    rd = round_info(client, suite, job_id, r)
    assert (rd["acceptedCount"], rd["committedCount"], rd["revealedCount"]) == (2, 2, 1)
    with reverts("AlreadyRevealed", members[0].address):
        reveal(client, suite, job_id, r, ups[0])
    with reverts("AlreadyCommitted", members[0].address):
        commit(client, suite, job_id, r, ups[0])
    with reverts("AlreadyCommitted", members[1].address):
        commit(client, suite, job_id, r, ups[1])


def test_commit_rejections(client, suite, accounts):
    members = accounts[1:3]
    fed = federation_with_members(client, suite, members)
    job_id = create_job(client, suite, accounts[0], fed.fed_id, totalEpochs=4, epochsPerRound=4)
    r = start_round(client, suite, job_id, accounts[0])
    with reverts("NotAccepted", members[0].address):  # assigned, not accepted
        commit(client, suite, job_id, r, make_update(members[0], job_id, r))
    with reverts("NotAccepted", accounts[6].address):  # not in the round
        commit(client, suite, job_id, r, make_update(accounts[6], job_id, r))
    tx(client, suite.jobs.functions.accept(job_id, r), members[0])
    with reverts("ZeroCommitment"):
        tx(client, suite.jobs.functions.commit(job_id, r, b"\0" * 32), members[0])
    with reverts("WrongRound", 2, 1):
        tx(client, suite.jobs.functions.commit(job_id, 2, h("c")), members[0])
    rd = round_info(client, suite, job_id, r)
    client.increase_time(ACCEPT_WINDOW + ROUND_DURATION + 1)
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
