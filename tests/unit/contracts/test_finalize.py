"""TrainingJobs settlement: committee verdicts, confirmation, finalization, slashing, timeouts,
claims (protocol v2, docs/protocol.md)."""

from __future__ import annotations

from web3.logs import DISCARD

from .helpers import (
    ACCEPT_WINDOW,
    ETHER,
    JOB_COMPLETED,
    JOB_OPEN,
    LAPSED,
    REVEAL_WINDOW,
    ROUND_DURATION,
    SLASH_BPS,
    assert_conservation,
    assignment,
    balance,
    by_address,
    commit,
    committee,
    confirm_all,
    create_job,
    events,
    federation_with_members,
    finish_round,
    h,
    job_info,
    make_update,
    member_info,
    reveal,
    reverts,
    round_info,
    round_to_revealed,
    start_round,
    submit_verdict,
    tx,
    vote_all,
)

STAKE = 10 * ETHER
CUT_BPS = 1_000  # validators' share of each accepted epoch's reward
LIVENESS_BPS = 100
LAPSE_BPS = 200


def past(client, deadline: int) -> None:
    client.increase_time(max(0, deadline - client.now()) + 1)


def net(amount: int) -> int:
    """What an accepted contributor is credited for ``amount`` of reward (less the cut)."""
    return amount - amount * CUT_BPS // 10_000


def test_committee_accepts_all_finalizes_pays_and_completes(client, suite, accounts):
    owner, members = accounts[0], accounts[1:5]
    fed, job_id, r, _ = round_to_revealed(
        client, suite, owner, members, [1, 1, 1, 3],
        totalEpochs=6, epochsPerRound=6, rewardPerEpoch=2 * ETHER,
    )  # fmt: skip
    who = by_address(members)
    seats = committee(client, suite, job_id, r)
    assert sorted(seats) == sorted(m.address for m in members)  # fewer than the default: all
    everyone = [m.address for m in members]
    votes = vote_all(client, suite, job_id, r, who, everyone)
    (tallied,) = events(suite.jobs, votes[-1], "VerdictsTallied")
    assert tallied == {"jobId": job_id, "round": r, "acceptedBits": 0b1111, "rejectedBits": 0,
                       "votedWeight": 4 * STAKE}  # fmt: skip
    assert all(not events(suite.jobs, v, "VerdictsTallied") for v in votes[:-1])
    confirms = confirm_all(client, suite, job_id, r, who, h("model-1"))
    assert len(confirms) == 3  # 30 of 40 staked >= 2/3; 20 of 40 is not
    receipt = confirms[-1]
    (fin,) = events(suite.jobs, receipt, "RoundFinalized")
    assert fin == {"jobId": job_id, "round": r, "newModelHash": h("model-1"), "acceptedCount": 4,
                   "epochsTrained": 6}  # fmt: skip
    credited = {e["member"]: e["amount"] for e in events(suite.jobs, receipt, "RewardCredited")}
    assert credited == {
        **{m.address: net(2 * ETHER) for m in members[:3]},
        members[3].address: net(6 * ETHER),
    }
    pool = 12 * ETHER * CUT_BPS // 10_000
    paid = {e["validator"]: e["amount"] for e in events(suite.jobs, receipt, "ValidatorPaid")}
    # Every seat voted with the outcome; the fourth did not get to confirm (the round had
    # finalized), which does not cost it its share.
    assert paid == {v: pool // 4 for v in seats}
    assert events(suite.jobs, receipt, "JobCompleted") == [
        {"jobId": job_id, "finalModelHash": h("model-1"), "refund": 0}
    ]
    assert events(suite.jobs, receipt, "MemberSlashed") == []
    j = job_info(client, suite, job_id)
    assert (j["status"], j["epochsDone"], j["escrowRemaining"]) == (JOB_COMPLETED, 6, 0)
    assert j["globalModelHash"] == j["finalModelHash"] == h("model-1")
    rd = round_info(client, suite, job_id, r)
    assert (rd["finalized"], rd["epochsTrained"], rd["newModelHash"]) == (True, 6, h("model-1"))
    assert (rd["acceptedBits"], rd["rejectedBits"], rd["tallied"]) == (0b1111, 0, True)
    for m in members:
        assert client.call(suite.jobs.functions.pendingWork(fed.fed_id, m.address)) == 0
        expected = credited[m.address] + paid.get(m.address, 0)
        assert client.call(suite.jobs.functions.claimable(m.address)) == expected
    assert sum(credited.values()) + sum(paid.values()) == 12 * ETHER  # to the wei
    assert_conservation(client, suite, [fed.fed_id], [job_id])
    with reverts("RoundClosed", job_id, r):
        tx(client, suite.jobs.functions.confirm(job_id, r, h("model-1")), who[seats[3].lower()])
    with reverts("JobNotOpen", job_id):
        tx(client, suite.jobs.functions.startRound(job_id), owner)


def test_rejected_update_is_slashed_benched_and_epochs_return_to_pool(client, suite, accounts):
    owner, members = accounts[0], accounts[1:4]
    fed, job_id, r, _ = round_to_revealed(
        client, suite, owner, members, totalEpochs=6, epochsPerRound=3
    )
    treasury_before = balance(client, suite, suite.timelock.address)
    votes = vote_all(client, suite, job_id, r, by_address(members),
                     [m.address for m in members[:2]])  # fmt: skip
    (tallied,) = events(suite.jobs, votes[-1], "VerdictsTallied")
    assert (tallied["acceptedBits"], tallied["rejectedBits"]) == (0b011, 0b100)
    assert events(suite.jobs, votes[-1], "MemberSlashed") == []  # settled only at finalization
    receipt = confirm_all(client, suite, job_id, r, by_address(members), h("model-1"))[-1]
    assert events(suite.jobs, receipt, "MemberSlashed") == [
        {"jobId": job_id, "round": r, "member": members[2].address, "amount": STAKE // 10}
    ]
    assert (
        member_info(client, suite, fed.fed_id, members[2].address)["stake"] == STAKE - STAKE // 10
    )
    assert balance(client, suite, suite.timelock.address) - treasury_before == STAKE // 10
    assert client.call(suite.jobs.functions.lastSlashedRound(job_id, members[2].address)) == r
    assert [e["member"] for e in events(suite.jobs, receipt, "RewardCredited")] == [
        m.address for m in members[:2]
    ]
    # It voted with the majority and confirmed the model, but its own work was rejected:
    # no validator pay either. The other two share the pool.
    validators = {e["validator"] for e in events(suite.jobs, receipt, "ValidatorPaid")}
    assert validators == {m.address for m in members[:2]}
    assert client.call(suite.jobs.functions.claimable(members[2].address)) == 0
    j = job_info(client, suite, job_id)
    assert (j["epochsDone"], j["status"]) == (2, JOB_OPEN)
    paid = 2 * net(ETHER) + sum(e["amount"] for e in events(suite.jobs, receipt, "ValidatorPaid"))
    assert j["escrowRemaining"] == 6 * ETHER - paid
    r2 = start_round(client, suite, job_id, owner)
    assert round_info(client, suite, job_id, r2)["epochs"] == 3
    assert round_info(client, suite, job_id, r2)["baseModelHash"] == h("model-1")
    in_round = client.call(suite.jobs.functions.roundMembers(job_id, r2))
    assert in_round == [m.address for m in members[:2]]  # the slashed member sits out
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
    with reverts("VerdictNotOpen"):  # b committed and has not revealed; deadline not passed
        submit_verdict(client, suite, job_id, r, d, [a.address])
    client.increase_time(REVEAL_WINDOW)
    with reverts("VerdictOnUnrevealed", 1 << 1):  # b's update was never revealed
        submit_verdict(client, suite, job_id, r, d, [a.address, b.address])
    receipt = finish_round(client, suite, job_id, r, [a, b, c, d], [a.address])
    slashed = {e["member"]: e["amount"] for e in events(suite.jobs, receipt, "MemberSlashed")}
    assert slashed == {b.address: STAKE // 10, c.address: STAKE // 10}  # d declined: never
    assert member_info(client, suite, fed.fed_id, d.address)["stake"] == STAKE
    epochs_a = assignment(client, suite, job_id, r, a.address)[0]
    assert epochs_a == 2  # its own epoch plus d's declined one (lowest index wins the tie)
    credited = {e["member"]: e["amount"] for e in events(suite.jobs, receipt, "RewardCredited")}
    assert credited == {a.address: net(epochs_a * ETHER)}
    assert round_info(client, suite, job_id, r)["epochsTrained"] == 2
    for m in (a, b, c, d):
        assert client.call(suite.jobs.functions.pendingWork(fed.fed_id, m.address)) == 0
    assert_conservation(client, suite, [fed.fed_id], [job_id])


def test_verdict_and_confirm_rejections(client, suite, accounts):
    owner, members = accounts[0], accounts[1:6]
    _fed, job_id, r, _ = round_to_revealed(
        client, suite, owner, members, totalEpochs=4, epochsPerRound=4
    )
    who = by_address(members)
    seats = committee(client, suite, job_id, r)
    assert len(seats) == 5  # fewer members than seats: everyone sits
    outsider = accounts[7]
    voter = who[seats[0].lower()]
    n = len(client.call(suite.jobs.functions.roundMembers(job_id, r)))
    assert n == 4  # 4 epochs, 5 members: one got none
    fn = suite.jobs.functions
    with reverts("NotOnCommittee", outsider.address):
        tx(client, fn.submitVerdict(job_id, r, 1, bytes(n)), outsider)
    with reverts("VerdictOnUnrevealed", 1 << 4):  # no round member 4
        tx(client, fn.submitVerdict(job_id, r, 0b10001, bytes(n)), voter)
    with reverts("WrongRound", 2, 1):
        tx(client, fn.submitVerdict(job_id, 2, 1, bytes(n)), voter)
    with reverts("NotTallied"):
        tx(client, fn.confirm(job_id, r, h("m1")), voter)
    receipt = tx(client, fn.submitVerdict(job_id, r, 0b1111, bytes([0, 1, 2, 3])), voter)
    assert events(suite.jobs, receipt, "VerdictSubmitted") == [
        {"jobId": job_id, "round": r, "validator": voter.address, "acceptBits": 0b1111,
         "reasons": bytes([0, 1, 2, 3])}
    ]  # fmt: skip
    with reverts("AlreadyVoted", voter.address):
        tx(client, fn.submitVerdict(job_id, r, 0b1111, bytes(n)), voter)
    rd = round_info(client, suite, job_id, r)
    assert (rd["votedCount"], rd["votedWeight"], rd["tallied"]) == (1, STAKE, False)
    with reverts("VerdictsOpen", rd["verdictDeadline"]):
        tx(client, fn.closeVerdicts(job_id), owner)
    for s in seats[1:]:
        tx(client, fn.submitVerdict(job_id, r, 0b1111, bytes(n)), who[s.lower()])
    assert round_info(client, suite, job_id, r)["tallied"]
    with reverts("RoundClosed", job_id, r):  # already tallied
        tx(client, fn.closeVerdicts(job_id), owner)
    tx(client, fn.confirm(job_id, r, h("m1")), voter)
    with reverts("AlreadyConfirmed", voter.address):
        tx(client, fn.confirm(job_id, r, h("m1")), voter)
    with reverts("ZeroModelHash"):
        tx(client, fn.confirm(job_id, r, b"\0" * 32), who[seats[1].lower()])
    with reverts("NotOnCommittee", outsider.address):
        tx(client, fn.confirm(job_id, r, h("m1")), outsider)
    assert not round_info(client, suite, job_id, r)["finalized"]  # 10 of 50 confirmed
    with reverts("RoundNotStuck", rd["confirmDeadline"]):
        tx(client, fn.timeoutRound(job_id), owner)
    past(client, rd["confirmDeadline"])
    with reverts("ConfirmClosed", rd["confirmDeadline"]):
        tx(client, fn.confirm(job_id, r, h("m1")), who[seats[1].lower()])
    # Unconfirmed: the round fails, and nobody who revealed (or voted) is slashed for it.
    receipt = tx(client, fn.timeoutRound(job_id), owner)
    assert events(suite.jobs, receipt, "RoundTimedOut") == [
        {"jobId": job_id, "round": r, "slashedCount": 0}
    ]
    assert events(suite.jobs, receipt, "RewardCredited") == []
    assert round_info(client, suite, job_id, r)["timedOut"]


def test_disagreeing_confirmations_need_the_threshold_on_one_hash(client, suite, accounts):
    owner, members = accounts[0], accounts[1:5]
    fed, job_id, r, _ = round_to_revealed(
        client, suite, owner, members, totalEpochs=4, epochsPerRound=4
    )
    who = by_address(members)
    vote_all(client, suite, job_id, r, who, [m.address for m in members])
    seats = committee(client, suite, job_id, r)
    fn = suite.jobs.functions
    tx(client, fn.confirm(job_id, r, h("m1")), who[seats[0].lower()])
    receipt = tx(client, fn.confirm(job_id, r, h("m2")), who[seats[1].lower()])
    assert events(suite.jobs, receipt, "ModelConfirmed") == [
        {"jobId": job_id, "round": r, "validator": seats[1], "modelHash": h("m2"), "weight": STAKE}
    ]
    receipt = tx(client, fn.confirm(job_id, r, h("m1")), who[seats[2].lower()])
    (ev,) = events(suite.jobs, receipt, "ModelConfirmed")
    assert ev["weight"] == 2 * STAKE  # on m1: 50 % < 2/3 (m2 counts apart)
    assert not round_info(client, suite, job_id, r)["finalized"]
    receipt = tx(client, fn.confirm(job_id, r, h("m1")), who[seats[3].lower()])
    (fin,) = events(suite.jobs, receipt, "RoundFinalized")
    assert fin["newModelHash"] == h("m1")
    assert job_info(client, suite, job_id)["globalModelHash"] == h("m1")
    paid = {e["validator"] for e in events(suite.jobs, receipt, "ValidatorPaid")}
    assert paid == {seats[0], seats[2], seats[3]}  # not the one that confirmed another model
    assert client.call(fn.seat(job_id, r, seats[1]))[5] == h("m2")
    assert_conservation(client, suite, [fed.fed_id], [job_id])


def test_empty_accepted_set_keeps_model_and_slashes_all(client, suite, accounts):
    owner, members = accounts[0], accounts[1:3]
    fed, job_id, r, _ = round_to_revealed(
        client, suite, owner, members, totalEpochs=2, epochsPerRound=2
    )
    receipt = vote_all(client, suite, job_id, r, by_address(members), [])[-1]
    (fin,) = events(suite.jobs, receipt, "RoundFinalized")  # no confirmation needed
    assert (fin["newModelHash"], fin["acceptedCount"], fin["epochsTrained"]) == (h("model-0"), 0, 0)
    assert {e["member"] for e in events(suite.jobs, receipt, "MemberSlashed")} == {
        m.address for m in members
    }
    assert events(suite.jobs, receipt, "ValidatorPaid") == []  # nothing accepted, no pool
    j = job_info(client, suite, job_id)
    assert (j["epochsDone"], j["globalModelHash"], j["escrowRemaining"]) == (
        0,
        h("model-0"),
        2 * ETHER,
    )
    assert_conservation(client, suite, [fed.fed_id], [job_id])


def test_timeout_slashes_no_shows_and_absent_validators_not_revealers(client, suite, accounts):
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
    with reverts("RoundNotStuck", rd["confirmDeadline"]):
        tx(client, suite.jobs.functions.timeoutRound(job_id), owner)
    past(client, rd["confirmDeadline"])
    receipt = tx(client, suite.jobs.functions.timeoutRound(job_id), accounts[7])  # permissionless
    # No-shows b and c lose slash-bps; the committee (everyone) never voted on a's update:
    # each loses the liveness penalty on what it has left.
    assert events(suite.jobs, receipt, "RoundTimedOut") == [
        {"jobId": job_id, "round": r, "slashedCount": 5}
    ]
    slashes = [(e["member"], e["amount"]) for e in events(suite.jobs, receipt, "MemberSlashed")]
    after_miss = STAKE - STAKE * SLASH_BPS // 10_000
    assert sorted(slashes) == sorted([
        (b.address, STAKE // 10), (c.address, STAKE // 10),
        (a.address, STAKE * LIVENESS_BPS // 10_000),
        (b.address, after_miss * LIVENESS_BPS // 10_000),
        (c.address, after_miss * LIVENESS_BPS // 10_000),
    ])  # fmt: skip
    assert member_info(client, suite, fed.fed_id, a.address)["stake"] == STAKE - STAKE // 100
    assert client.call(suite.jobs.functions.claimable(a.address)) == 0  # revealed but not paid
    assert client.call(suite.jobs.functions.lastSlashedRound(job_id, a.address)) == 0  # absence
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
        submit_verdict(client, suite, job_id, r, a, [a.address])
    assert start_round(client, suite, job_id, owner) == 2
    assert_conservation(client, suite, [fed.fed_id], [job_id])


def test_unanswered_assignments_lapse_when_the_round_settles(client, suite, accounts):
    """Nobody called closeAcceptance: the round still settles after its deadlines, the silent
    member loses the lapse penalty, and its stake is not locked forever (pendingWork 0)."""
    owner, (a, b) = accounts[0], accounts[1:3]
    fed = federation_with_members(client, suite, [a, b])
    job_id = create_job(client, suite, owner, fed.fed_id, totalEpochs=4, epochsPerRound=2)
    r = start_round(client, suite, job_id, owner)
    tx(client, suite.jobs.functions.accept(job_id, r), a)  # b never answers
    tx(client, suite.registry.functions.requestLeave(fed.fed_id), b)
    past(client, round_info(client, suite, job_id, r)["confirmDeadline"])
    receipt = tx(client, suite.jobs.functions.timeoutRound(job_id), owner)
    assert [e["member"] for e in events(suite.jobs, receipt, "AssignmentLapsed")] == [b.address]
    slashed = {e["member"]: e["amount"] for e in events(suite.jobs, receipt, "MemberSlashed")}
    assert slashed == {a.address: STAKE // 10, b.address: STAKE * LAPSE_BPS // 10_000}
    assert assignment(client, suite, job_id, r, b.address)[3] == LAPSED
    rd = round_info(client, suite, job_id, r)
    assert rd["assignedCount"] == 0 and (rd["finalized"] or rd["timedOut"])
    for m in (a, b):
        assert client.call(suite.jobs.functions.pendingWork(fed.fed_id, m.address)) == 0
    client.increase_time(61)
    tx(client, suite.registry.functions.withdrawStake(fed.fed_id), b)
    assert balance(client, suite, b.address) == STAKE - STAKE * LAPSE_BPS // 10_000
    assert_conservation(client, suite, [fed.fed_id], [job_id])


def test_unanswered_assignments_lapse_when_verdicts_close(client, suite, accounts):
    owner, (a, b) = accounts[0], accounts[1:3]
    fed = federation_with_members(client, suite, [a, b])
    job_id = create_job(client, suite, owner, fed.fed_id, totalEpochs=4, epochsPerRound=2)
    r = start_round(client, suite, job_id, owner)
    tx(client, suite.jobs.functions.accept(job_id, r), a)
    past(client, round_info(client, suite, job_id, r)["verdictDeadline"])
    receipt = tx(client, suite.jobs.functions.closeVerdicts(job_id), owner)
    assert [e["member"] for e in events(suite.jobs, receipt, "AssignmentLapsed")] == [b.address]
    assert round_info(client, suite, job_id, r)["finalized"]  # nothing revealed: base model
    for m in (a, b):
        assert client.call(suite.jobs.functions.pendingWork(fed.fed_id, m.address)) == 0


def test_a_round_everyone_declined_closes_at_once_with_nothing_trained(client, suite, accounts):
    owner, members = accounts[0], accounts[1:3]
    fed = federation_with_members(client, suite, members)
    job_id = create_job(client, suite, owner, fed.fed_id, totalEpochs=4, epochsPerRound=2)
    r = start_round(client, suite, job_id, owner)
    for m in members:
        tx(client, suite.jobs.functions.decline(job_id, r), m)
    receipt = tx(client, suite.jobs.functions.closeVerdicts(job_id), owner)  # nothing to judge
    (fin,) = events(suite.jobs, receipt, "RoundFinalized")
    assert (fin["acceptedCount"], fin["epochsTrained"]) == (0, 0)
    assert events(suite.jobs, receipt, "MemberSlashed") == []  # no absent-validator penalty
    assert job_info(client, suite, job_id)["escrowRemaining"] == 4 * ETHER
    assert start_round(client, suite, job_id, owner) == 2


def test_claim_pays_once_effects_before_transfer(client, suite, accounts):
    owner, members = accounts[0], accounts[1:3]
    _, job_id, r, _ = round_to_revealed(
        client, suite, owner, members, totalEpochs=2, epochsPerRound=2
    )
    finish_round(client, suite, job_id, r, members, [m.address for m in members])
    m = members[0]
    owed = client.call(suite.jobs.functions.claimable(m.address))
    pool = 2 * ETHER * CUT_BPS // 10_000
    assert owed == net(ETHER) + pool // 2  # its update, and half the pool as a validator
    before = balance(client, suite, m.address)
    receipt = tx(client, suite.jobs.functions.claim(), m)
    (claimed,) = events(suite.jobs, receipt, "Claimed")
    assert claimed == {"account": m.address, "amount": owed}
    assert balance(client, suite, m.address) - before == owed
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
    with reverts("WorkPending", fed.fed_id, a.address, 2):  # its assignment and its seat
        tx(client, suite.registry.functions.withdrawStake(fed.fed_id), a)
    commit(client, suite, job_id, r, ua)
    reveal(client, suite, job_id, r, ua)
    # Its committee seat (drawn while it was active) still counts: a finishes what it took on.
    finish_round(client, suite, job_id, r, [a, b], [a.address])
    tx(client, suite.registry.functions.withdrawStake(fed.fed_id), a)
    assert balance(client, suite, a.address) == STAKE
    owed = client.call(suite.jobs.functions.claimable(a.address))
    # Its one epoch (b's declined one left the round: half of it is a's cap) and half the pool.
    assert owed == net(ETHER) + ETHER * CUT_BPS // 10_000 // 2
    tx(client, suite.jobs.functions.claim(), a)
    assert balance(client, suite, a.address) == STAKE + owed
    assert_conservation(client, suite, [fed.fed_id], [job_id])
