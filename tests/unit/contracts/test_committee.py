"""The validator committee of protocol v2: its draw, the verdict tally, the confirmation
threshold and the validators' pool (docs/protocol.md, steps 1, 5 and 6)."""

from __future__ import annotations

from milon_app.chain.bindings import Param

from .helpers import (
    ACCEPT_WINDOW,
    DELIVERY_PRIOR,
    ETHER,
    SLASH_BPS,
    approve,
    assert_conservation,
    assignment,
    by_address,
    commit,
    committee,
    committee_size_reference,
    confirm_all,
    create_job,
    delivery_after,
    draw_seed,
    events,
    federation_with_members,
    federation_with_stakes,
    fund,
    governed_suite,
    h,
    job_info,
    make_update,
    member_info,
    reveal,
    revealed_round,
    reverts,
    round_info,
    round_members,
    seat_info,
    seats_reference,
    set_param,
    start_round,
    start_round_tx,
    submit_verdict,
    tx,
)

STAKE = 10 * ETHER
CUT_BPS = 1_000
LIVENESS_BPS = 100


def past(client, deadline: int) -> None:
    client.increase_time(max(0, deadline - client.now()) + 1)


def bits(client, s, job_id, r, accounts) -> int:
    members = [a.lower() for a in round_members(client, s, job_id, r)]
    return sum(1 << members.index(m.address.lower()) for m in accounts)


def vote(client, s, job_id, r, voter, accepted) -> object:
    return submit_verdict(client, s, job_id, r, voter, [m.address for m in accepted])


def _drawn(client, s, receipt):
    (ev,) = events(s.jobs, receipt, "CommitteeDrawn")
    return ev["members"], ev["weights"]


def _check_draw(client, s, receipt, job_id, r, fed, requested=0):
    """CommitteeDrawn is exactly the reference draw over the active members' stakes: with no
    more members than seats every one with its stake as weight, else ``k`` seats drawn with
    replacement, a member's weight the seats it got. Returns the seated members."""
    candidates, _caps, stakes = client.call(
        s.registry.functions.roundCandidates(fed, bytes(32), 128)
    )
    k = committee_size_reference(requested, client.call(s.jobs.functions.params()))
    seats = seats_reference(draw_seed(client, receipt, job_id, r), stakes, k)
    members, weights = _drawn(client, s, receipt)
    assert members == [a for a, n in zip(candidates, seats, strict=True) if n > 0]
    assert weights == [n for n in seats if n > 0]
    assert len(set(members)) == len(members) <= max(k, len(candidates))
    if sum(1 for x in stakes if x > 0) > k:
        assert sum(weights) == k and len(members) <= k
    assert committee(client, s, job_id, r) == members
    rd = round_info(client, s, job_id, r)
    assert (rd["committeeCount"], rd["committeeWeight"]) == (len(members), sum(weights))
    for i, m in enumerate(members, start=1):
        seat = seat_info(client, s, job_id, r, m)
        assert (seat["index"], seat["weight"], seat["voted"], seat["confirmed"]) == (
            i, weights[i - 1], False, False,
        )  # fmt: skip
    return members


# ---------------------------------------------------------------- the draw


def test_committee_size_defaults_clamps_and_takes_everyone_when_fewer(client, suite, accounts):
    gov = accounts[9]
    s = governed_suite(client, suite, gov)
    members = accounts[1:10]  # nine members
    fed = federation_with_stakes(client, s, members, [STAKE * (i + 1) for i in range(9)])
    owner = accounts[0]

    def draw(requested: int, job_id: int | None = None) -> int:
        """Seats drawn for a new job (or ``job_id``) asking for ``requested``."""
        if job_id is None:
            job_id = create_job(client, s, owner, fed, totalEpochs=1, epochsPerRound=1,
                                committeeSize=requested)  # fmt: skip
        receipt = start_round_tx(client, s, job_id, owner)
        _check_draw(client, s, receipt, job_id, 1, fed, requested)
        return round_info(client, s, job_id, 1)["committeeWeight"]

    assert draw(0) == 7  # the governed default: 7 seats
    assert draw(3) == 3
    assert draw(31) == 450 * ETHER  # more seats than members: everyone, by stake
    # Bounds moved after a job was created: its size is clamped when the round is drawn.
    job_big = create_job(client, s, owner, fed, totalEpochs=1, epochsPerRound=1, committeeSize=8)
    job_small = create_job(client, s, owner, fed, totalEpochs=1, epochsPerRound=1,
                           committeeSize=4)  # fmt: skip
    set_param(client, s.jobs, gov, Param.COMMITTEE_MIN, 5)
    set_param(client, s.jobs, gov, Param.COMMITTEE_DEFAULT, 5)
    set_param(client, s.jobs, gov, Param.COMMITTEE_MAX, 6)
    assert draw(8, job_big) == 6
    assert draw(4, job_small) == 5
    assert draw(0) == 5  # the new default


def test_every_draw_matches_the_reference_and_is_stake_weighted(client, suite, accounts):
    """Many rounds on one chain: each committee is exactly the reference draw from the round's
    seed, and the member with ten times the stake holds far more of the seats."""
    gov = accounts[9]
    s = governed_suite(client, suite, gov)
    set_param(client, s.jobs, gov, Param.LAPSE_BPS, 0)  # rounds that lapse leave stakes alone
    members = accounts[1:7]
    stakes = [STAKE] * 5 + [10 * STAKE]
    fed = federation_with_stakes(client, s, members, stakes)
    rounds = 36
    job_id = create_job(client, s, accounts[0], fed, totalEpochs=rounds, epochsPerRound=1,
                        committeeSize=3)  # fmt: skip
    seats = {m.address: 0 for m in members}
    sat = {m.address: 0 for m in members}
    for r in range(1, rounds + 1):
        receipt = start_round_tx(client, s, job_id, accounts[0])
        for who in _check_draw(client, s, receipt, job_id, r, fed, 3):
            sat[who] += 1
            seats[who] += seat_info(client, s, job_id, r, who)["weight"]
        client.increase_time(ACCEPT_WINDOW + 1)
        tx(client, s.jobs.functions.timeoutRound(job_id), accounts[0])  # nobody accepted
    assert [member_info(client, s, fed, m.address)["stake"] for m in members] == stakes
    assert sum(seats.values()) == 3 * rounds
    heavy = members[5].address
    # 100 of 150 staked: about two thirds of the seats, and a seat in ~96 % of the committees.
    assert 0.5 <= seats[heavy] / (3 * rounds) <= 0.8, seats
    assert sat[heavy] >= 0.8 * rounds, sat
    assert max(sat[m.address] for m in members[:5]) <= 0.5 * rounds, sat


def test_members_without_stake_are_never_drawn(client, suite, accounts):
    """With a zero minimum stake a member slashed to nothing stays active: it still gets work,
    but it has no weight to sit on a committee with."""
    gov = accounts[9]
    s = governed_suite(client, suite, gov, floor=0, slash_bps=10_000)
    members = accounts[1:5]
    fed = federation_with_stakes(client, s, members, [STAKE] * 4, min_stake=0)
    job_id = create_job(client, s, accounts[0], fed, totalEpochs=8, epochsPerRound=4)
    r = start_round(client, s, job_id, accounts[0])
    for m in members:
        tx(client, s.jobs.functions.accept(job_id, r), m)
    past(client, round_info(client, s, job_id, r)["confirmDeadline"])
    tx(client, s.jobs.functions.timeoutRound(job_id), accounts[0])  # all no-shows: 100 % slashed
    # Top up three of them; the fourth stays at zero (and active: 0 is not below 0).
    for m in members[:3]:
        fund(client, s, m, STAKE)
        approve(client, s, m, s.registry.address, STAKE)
        tx(client, s.registry.functions.addStake(fed, STAKE), m)
    zero = members[3]
    assert member_info(client, s, fed, zero.address)["stake"] == 0
    assert member_info(client, s, fed, zero.address)["active"] is True
    receipt = start_round_tx(client, s, job_id, accounts[0])
    drawn = _check_draw(client, s, receipt, job_id, 2, fed)
    assert sorted(drawn) == sorted(m.address for m in members[:3])  # all of them, but not zero
    assert zero.address in round_members(client, s, job_id, 2)  # it still trains


# ---------------------------------------------------------------- the tally


def test_the_authors_own_seat_does_not_count_for_its_update(client, suite, accounts):
    owner, (a, b, c) = accounts[0], accounts[1:4]
    fed = federation_with_members(client, suite, [a, b, c]).fed_id
    job_id, r, _ = revealed_round(client, suite, owner, fed, [a, b, c], totalEpochs=3,
                                  epochsPerRound=3)  # fmt: skip
    vote(client, suite, job_id, r, a, [a, b, c])  # a accepts its own update
    vote(client, suite, job_id, r, b, [a, b, c])
    receipt = vote(client, suite, job_id, r, c, [b, c])  # c rejects a's
    (t,) = events(suite.jobs, receipt, "VerdictsTallied")
    # a's update: b yes, c no of the two seats that count: a tie, undecided (with a's own vote
    # it would have been 2 of 3, accepted). b's and c's: accepted by both other seats.
    assert (t["acceptedBits"], t["rejectedBits"]) == (bits(client, suite, job_id, r, [b, c]), 0)
    receipt = confirm_all(client, suite, job_id, r, by_address([a, b, c]), h("m"))[-1]
    assert {e["member"] for e in events(suite.jobs, receipt, "RewardCredited")} == {
        b.address,
        c.address,
    }
    assert events(suite.jobs, receipt, "MemberSlashed") == []  # undecided: neither paid nor slashed
    assert member_info(client, suite, fed, a.address)["stake"] == STAKE
    assert client.call(suite.jobs.functions.lastSlashedRound(job_id, a.address)) == 0


def test_majority_and_ties_by_stake_weight(client, suite, accounts):
    owner, ms = accounts[0], accounts[1:6]
    fed = federation_with_stakes(client, suite, ms, [STAKE] * 5)
    job_id, r, _ = revealed_round(client, suite, owner, fed, ms, totalEpochs=5, epochsPerRound=5)
    m0, m1, m2, m3, m4 = ms
    # m0's update: 3 of the 4 other seats accept -> accepted. m1's: 3 of 4 reject -> rejected.
    # m2's: 2 yes (m1, m3), 2 no (m0, m4) -> a tie, undecided. m3, m4: everyone accepts.
    verdicts = {
        m0: [m3, m4],
        m1: [m2, m3, m4],
        m2: [m0, m3, m4],
        m3: [m0, m2, m4],
        m4: [m0, m1, m3],
    }
    for v, acc in verdicts.items():
        receipt = vote(client, suite, job_id, r, v, acc)
    (t,) = events(suite.jobs, receipt, "VerdictsTallied")
    assert t["acceptedBits"] == bits(client, suite, job_id, r, [m0, m3, m4])
    assert t["rejectedBits"] == bits(client, suite, job_id, r, [m1])
    assert t["votedWeight"] == 5 * STAKE
    receipt = confirm_all(client, suite, job_id, r, by_address(ms), h("m"))[-1]
    assert {e["member"] for e in events(suite.jobs, receipt, "RewardCredited")} == {
        m0.address, m3.address, m4.address,
    }  # fmt: skip
    slashed = [(e["member"], e["amount"]) for e in events(suite.jobs, receipt, "MemberSlashed")]
    assert slashed == [(m1.address, STAKE * SLASH_BPS // 10_000)]  # m2 (tie) untouched
    assert member_info(client, suite, fed, m2.address)["stake"] == STAKE


def test_a_heavy_stake_outweighs_several_light_ones(client, suite, accounts):
    owner, ms = accounts[0], accounts[1:5]
    heavy, l1, l2, l3 = ms
    fed = federation_with_stakes(client, suite, ms, [40 * ETHER, STAKE, STAKE, STAKE])
    job_id, r, _ = revealed_round(client, suite, owner, fed, ms, totalEpochs=4, epochsPerRound=4)
    # The heavy seat (40) rejects l1's update, l2 and l3 (20) accept it: rejected.
    vote(client, suite, job_id, r, heavy, [heavy, l2, l3])
    for v in (l1, l2, l3):
        receipt = vote(client, suite, job_id, r, v, ms)
    (t,) = events(suite.jobs, receipt, "VerdictsTallied")
    assert t["rejectedBits"] == bits(client, suite, job_id, r, [l1])
    assert t["acceptedBits"] == bits(client, suite, job_id, r, [heavy, l2, l3])


def test_participation_is_checked_per_update_and_overall(client, suite, accounts):
    owner, ms = accounts[0], accounts[1:6]
    big, b, c, d, e = ms
    fed = federation_with_stakes(client, suite, ms, [40 * ETHER] + [STAKE] * 4)
    job_id, r, _ = revealed_round(client, suite, owner, fed, ms, totalEpochs=5, epochsPerRound=5)
    for v in (big, b, c):  # 60 of 80 staked voted: 75 % >= 2/3 overall
        vote(client, suite, job_id, r, v, ms)
    past(client, round_info(client, suite, job_id, r)["verdictDeadline"])
    receipt = tx(client, suite.jobs.functions.closeVerdicts(job_id), owner)
    (t,) = events(suite.jobs, receipt, "VerdictsTallied")
    # big's update: of the 40 that may judge it (its own seat left out), only b and c (20)
    # voted: 50 % < 2/3, undecided. Every other update had big's 40 and more: decided.
    assert t["acceptedBits"] == bits(client, suite, job_id, r, [b, c, d, e])
    assert t["rejectedBits"] == 0 and t["votedWeight"] == 60 * ETHER
    receipt = confirm_all(client, suite, job_id, r, by_address(ms), h("m"),
                          voters=[big.address, b.address, c.address])[-1]  # fmt: skip
    assert round_info(client, suite, job_id, r)["finalized"]  # 60 of 80 confirmed
    credited = {e_["member"] for e_ in events(suite.jobs, receipt, "RewardCredited")}
    assert credited == {b.address, c.address, d.address, e.address}
    absent = {x["member"]: x["amount"] for x in events(suite.jobs, receipt, "MemberSlashed")}
    assert absent == {d.address: STAKE * LIVENESS_BPS // 10_000,
                      e.address: STAKE * LIVENESS_BPS // 10_000}  # fmt: skip
    # big's undecided update is neither paid nor slashed; big still earns validator pay.
    assert big.address in {x["validator"] for x in events(suite.jobs, receipt, "ValidatorPaid")}
    assert member_info(client, suite, fed, big.address)["stake"] == 40 * ETHER


def test_too_little_participation_fails_the_round(client, suite, accounts):
    owner, ms = accounts[0], accounts[1:6]
    fed = federation_with_stakes(client, suite, ms, [STAKE] * 5)
    job_id, r, _ = revealed_round(client, suite, owner, fed, ms, totalEpochs=5, epochsPerRound=5)
    for v in ms[:3]:  # 30 of 50: 60 % < 2/3
        vote(client, suite, job_id, r, v, ms)
    rd = round_info(client, suite, job_id, r)
    with reverts("VerdictsOpen", rd["verdictDeadline"]):
        tx(client, suite.jobs.functions.closeVerdicts(job_id), owner)
    past(client, rd["verdictDeadline"])
    with reverts("VerdictClosed", rd["verdictDeadline"]):
        vote(client, suite, job_id, r, ms[3], ms)
    receipt = tx(client, suite.jobs.functions.closeVerdicts(job_id), owner)
    assert events(suite.jobs, receipt, "VerdictsTallied") == []
    assert events(suite.jobs, receipt, "RoundTimedOut") == [
        {"jobId": job_id, "round": r, "slashedCount": 2}
    ]
    # Contributors who revealed are neither paid nor slashed; the two absent seats lose 1 %.
    slashed = {x["member"]: x["amount"] for x in events(suite.jobs, receipt, "MemberSlashed")}
    assert slashed == {m.address: STAKE * LIVENESS_BPS // 10_000 for m in ms[3:]}
    assert events(suite.jobs, receipt, "RewardCredited") == []
    rd = round_info(client, suite, job_id, r)
    assert rd["timedOut"] and not rd["finalized"] and rd["acceptedBits"] == 0
    for m in ms:
        assert client.call(suite.jobs.functions.pendingWork(fed, m.address)) == 0
    assert job_info(client, suite, job_id)["escrowRemaining"] == 5 * ETHER
    assert_conservation(client, suite, [fed], [job_id])


def test_governed_majority_and_participation_thresholds(client, suite, accounts):
    gov = accounts[9]
    s = governed_suite(client, suite, gov)
    set_param(client, s.jobs, gov, Param.MAJORITY_BPS, 7_000)
    set_param(client, s.jobs, gov, Param.PARTICIPATION_BPS, 5_001)
    owner, ms = accounts[0], accounts[1:5]
    fed = federation_with_stakes(client, s, ms, [STAKE] * 4)
    job_id, r, _ = revealed_round(client, s, owner, fed, ms, totalEpochs=4, epochsPerRound=4)
    a, b, c, d = ms
    # Three of four vote (75 % > 50.01 %). a's update: b, c yes of b, c (d absent): 100 %,
    # accepted. b's: a yes, c no: 50 % yes, 50 % no: neither beats 70 %, undecided.
    # c's: a, b yes: accepted. d's: a, b yes, c no: 67 % < 70 %, undecided.
    vote(client, s, job_id, r, a, [b, c, d])
    vote(client, s, job_id, r, b, [a, c, d])
    vote(client, s, job_id, r, c, [a])
    past(client, round_info(client, s, job_id, r)["verdictDeadline"])
    receipt = tx(client, s.jobs.functions.closeVerdicts(job_id), owner)
    (t,) = events(s.jobs, receipt, "VerdictsTallied")
    assert t["acceptedBits"] == bits(client, s, job_id, r, [a, c])
    assert t["rejectedBits"] == 0


# ---------------------------------------------------------------- confirmation


def test_confirmation_threshold_is_a_share_of_the_committee_weight(client, suite, accounts):
    owner, ms = accounts[0], accounts[1:6]
    big, b, c = ms[:3]
    fed = federation_with_stakes(client, suite, ms, [40 * ETHER] + [STAKE] * 4)
    job_id, r, _ = revealed_round(client, suite, owner, fed, ms, totalEpochs=5, epochsPerRound=5)
    for v in ms:
        vote(client, suite, job_id, r, v, ms)
    fn = suite.jobs.functions
    for who, total in ((big, 40), (b, 50)):  # 50 %, 62.5 % of 80: not yet
        receipt = tx(client, fn.confirm(job_id, r, h("m")), who)
        (ev,) = events(suite.jobs, receipt, "ModelConfirmed")
        assert ev["weight"] == total * ETHER
        assert not round_info(client, suite, job_id, r)["finalized"]
    receipt = tx(client, fn.confirm(job_id, r, h("m")), c)  # 60 of 80 = 75 % >= 66.67 %
    assert events(suite.jobs, receipt, "RoundFinalized")
    assert events(suite.jobs, receipt, "ModelConfirmed")[0]["weight"] == 60 * ETHER


def test_governed_confirmation_threshold_of_everyone(client, suite, accounts):
    gov = accounts[9]
    s = governed_suite(client, suite, gov)
    set_param(client, s.jobs, gov, Param.CONFIRM_BPS, 10_000)
    owner, ms = accounts[0], accounts[1:5]
    fed = federation_with_stakes(client, s, ms, [STAKE] * 4)
    job_id, r, _ = revealed_round(client, s, owner, fed, ms, totalEpochs=4, epochsPerRound=4)
    for v in ms:
        vote(client, s, job_id, r, v, ms)
    receipts = confirm_all(client, s, job_id, r, by_address(ms), h("m"))
    assert len(receipts) == 4 and round_info(client, s, job_id, r)["finalized"]


# ---------------------------------------------------------------- the validators' pool


def test_validators_pool_agreement_confirmation_weights_and_conservation(client, suite, accounts):
    owner, ms = accounts[0], accounts[1:7]
    m0, m1, m2, m3, m4, m5 = ms
    stakes = [STAKE] * 5 + [30 * ETHER]
    fed = federation_with_stakes(client, suite, ms, stakes)
    reward = 3 * ETHER
    job_id, r, _ = revealed_round(client, suite, owner, fed, ms, totalEpochs=12, epochsPerRound=6,
                                  rewardPerEpoch=reward)  # fmt: skip
    # m0 dissents on two of the five updates it judges (60 % agreement < 80 %); m1 on one (80 %).
    vote(client, suite, job_id, r, m0, [m0, m1, m4, m5])
    vote(client, suite, job_id, r, m1, [m0, m1, m3, m4, m5])
    for v in (m2, m3, m4, m5):
        receipt = vote(client, suite, job_id, r, v, ms)
    (t,) = events(suite.jobs, receipt, "VerdictsTallied")
    assert t["acceptedBits"] == 0b111111  # the dissent does not carry: all accepted
    fn = suite.jobs.functions
    for v in (m0, m1, m2):  # 30 of 80
        tx(client, fn.confirm(job_id, r, h("m")), v)
    tx(client, fn.confirm(job_id, r, h("other")), m3)  # another hash: never paid
    receipt = tx(client, fn.confirm(job_id, r, h("m")), m5)  # 60 of 80: finalizes
    assert round_info(client, suite, job_id, r)["finalized"]
    credited = {x["member"]: x["amount"] for x in events(suite.jobs, receipt, "RewardCredited")}
    assert credited == {m.address: reward * 9 // 10 for m in ms}  # 1 epoch each, less 10 %
    pool = 6 * reward * CUT_BPS // 10_000
    paid = {x["validator"]: x["amount"] for x in events(suite.jobs, receipt, "ValidatorPaid")}
    # Paid: voted, agreed, and did not confirm another model: m1, m2, m4 (10 each: m4 did not
    # confirm, the round finalized without it) and m5 (30). Not m0 (dissent), not m3 (another
    # model).
    ok_weight = 60 * ETHER
    assert paid == {
        m1.address: pool * STAKE // ok_weight,
        m2.address: pool * STAKE // ok_weight,
        m4.address: pool * STAKE // ok_weight,
        m5.address: pool * 30 * ETHER // ok_weight,
    }
    escrow = 12 * reward
    j = job_info(client, suite, job_id)
    assert sum(credited.values()) + sum(paid.values()) + j["escrowRemaining"] == escrow
    assert j["escrowRemaining"] == escrow - 6 * reward + (pool - sum(paid.values()))
    for m in ms:
        owed = credited[m.address] + paid.get(m.address, 0)
        assert client.call(fn.claimable(m.address)) == owed
    assert events(suite.jobs, receipt, "MemberSlashed") == []  # everyone voted
    assert_conservation(client, suite, [fed], [job_id])
    # Nothing is paid twice: the round is closed to every settling call, claims pay once.
    for call in (fn.confirm(job_id, r, h("m")), fn.submitVerdict(job_id, r, 0, bytes(6))):
        with reverts("RoundClosed", job_id, r):
            tx(client, call, m4)
    with reverts("NoRoundInProgress", job_id):
        tx(client, fn.timeoutRound(job_id), owner)
    tx(client, fn.claim(), m5)
    with reverts("NothingToClaim"):
        tx(client, fn.claim(), m5)
    assert_conservation(client, suite, [fed], [job_id])


def test_an_absent_validator_loses_the_liveness_penalty_and_its_pay(client, suite, accounts):
    owner, ms = accounts[0], accounts[1:6]
    fed = federation_with_stakes(client, suite, ms, [STAKE] * 5)
    job_id, r, _ = revealed_round(client, suite, owner, fed, ms, totalEpochs=5, epochsPerRound=5)
    absent = ms[4]
    for v in ms[:4]:
        vote(client, suite, job_id, r, v, ms)
    past(client, round_info(client, suite, job_id, r)["verdictDeadline"])
    tx(client, suite.jobs.functions.closeVerdicts(job_id), owner)
    receipt = confirm_all(client, suite, job_id, r, by_address(ms), h("m"),
                          voters=[m.address for m in ms[:4]])[-1]  # fmt: skip
    assert [(x["member"], x["amount"]) for x in events(suite.jobs, receipt, "MemberSlashed")] == [
        (absent.address, STAKE * LIVENESS_BPS // 10_000)
    ]
    paid = {x["validator"] for x in events(suite.jobs, receipt, "ValidatorPaid")}
    assert absent.address not in paid
    # Its own update was judged by the four others and accepted: paid as a contributor.
    credited = {x["member"] for x in events(suite.jobs, receipt, "RewardCredited")}
    assert absent.address in credited
    # Absence does not bench it.
    assert client.call(suite.jobs.functions.lastSlashedRound(job_id, absent.address)) == 0


# ---------------------------------------------------------------- delivery record


def test_delivery_record_scales_the_next_split(client, suite, accounts):
    owner, (a, b, c) = accounts[0], accounts[1:4]
    fed = federation_with_stakes(client, suite, [a, b, c], [STAKE] * 3, [4, 4, 4])
    job_id, r, _ = revealed_round(client, suite, owner, fed, [a, b, c], totalEpochs=24,
                                  epochsPerRound=6)  # fmt: skip
    for v in (a, b, c):
        vote(client, suite, job_id, r, v, [a, b])  # c's update rejected
    confirm_all(client, suite, job_id, r, by_address([a, b, c]), h("m1"))
    rec = {m.address: delivery_after((0, 0), 2, 2) for m in (a, b)}
    rec[c.address] = delivery_after((0, 0), 2, 0)
    for m in (a, b, c):
        (taken, delivered), factor = client.call(suite.jobs.functions.delivery(fed, m.address))
        t, d = rec[m.address]
        assert (taken, delivered) == (t, d)
        assert factor == (d + DELIVERY_PRIOR) * 10_000 // (t + DELIVERY_PRIOR)
    assert client.call(suite.jobs.functions.delivery(fed, c.address))[1] == 5_000  # (0+2)/(2+2)
    # Round 2: c sits out (slashed in round 1). Round 3: c is back at half weight.
    r2 = start_round(client, suite, job_id, owner)
    assert round_members(client, suite, job_id, r2) == [a.address, b.address]
    assert [assignment(client, suite, job_id, r2, m.address)[:3] for m in (a, b)] == [
        (3, 0, 4),
        (3, 1, 4),
    ]  # fmt: skip  (epochs, index, weight: capacity 4 x factor 1)
    past(client, round_info(client, suite, job_id, r2)["acceptDeadline"])
    tx(client, suite.jobs.functions.timeoutRound(job_id), owner)  # a and b lapse
    rec[a.address] = delivery_after(rec[a.address], 3, 0)
    rec[b.address] = delivery_after(rec[b.address], 3, 0)
    for m in (a, b):
        assert client.call(suite.jobs.functions.delivery(fed, m.address))[0] == rec[m.address]
    # Round 3: a and b lapsed in round 2 and sit out; c is back, at half its capacity.
    r3 = start_round(client, suite, job_id, owner)
    assert round_members(client, suite, job_id, r3) == [c.address]
    weight_c = 4 * (rec[c.address][1] + DELIVERY_PRIOR) // (rec[c.address][0] + DELIVERY_PRIOR)
    assert assignment(client, suite, job_id, r3, c.address)[:3] == (6, 0, weight_c)
    assert weight_c == 2


def test_a_validator_that_let_its_own_assignment_lapse_is_not_paid(client, suite, accounts):
    """Missing work forfeits validator pay, whether the work was accepted and not delivered
    or never answered at all: a member that let its epochs lapse still votes with the
    majority, yet gets no share of the pool (the others do)."""
    s = suite
    lazy, *workers = accounts[1:4]
    fed = federation_with_members(client, s, [lazy, *workers])
    job_id = create_job(client, s, accounts[5], fed.fed_id, totalEpochs=6, epochsPerRound=6)
    r = start_round(client, s, job_id, accounts[5])
    for m in workers:
        tx(client, s.jobs.functions.accept(job_id, r), m)
    past(client, round_info(client, s, job_id, r)["acceptDeadline"])
    tx(client, s.jobs.functions.closeAcceptance(job_id), accounts[5])
    assert assignment(client, s, job_id, r, lazy.address)[3] == 6  # LAPSED
    ups = [make_update(m, job_id, r) for m in workers]
    for u in ups:
        commit(client, s, job_id, r, u)
    for u in ups:
        reveal(client, s, job_id, r, u)
    for v in (lazy, *workers):
        vote(client, s, job_id, r, v, workers)
    receipts = confirm_all(client, s, job_id, r, by_address(accounts), h("model"))
    paid = {e["validator"] for rc in receipts for e in events(s.jobs, rc, "ValidatorPaid")}
    assert paid == {m.address for m in workers}
