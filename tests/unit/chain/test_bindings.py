"""One whole v2 round through the typed bindings, on the embedded chain and on anvil."""

from __future__ import annotations

import dataclasses
import hashlib

import pytest

from milon_app.chain.bindings import (
    AggregationRule,
    AssignmentState,
    JobParams,
    JobStatus,
    Milon,
    Param,
)
from milon_app.chain.errors import ContractRevert

ETHER = 10**18


def h(text: str) -> bytes:
    return hashlib.sha256(text.encode()).digest()


@pytest.fixture
def milon(suite):
    return Milon(suite)


def _params(fed: int, **kw) -> JobParams:
    p = {
        "fed_id": fed,
        "model_spec_hash": h("spec"),
        "dataset_spec_hash": h("data"),
        "initial_model_hash": h("m0"),
        "total_epochs": 10,
        "epochs_per_round": 10,
        "reward_per_epoch": ETHER,
        "aggregation_rule": AggregationRule.MEDIAN,
        "committee_size": 0,
        "round_duration": 600,
    }
    p.update(kw)
    return JobParams(**p)


def test_full_round_pays_by_capacity_and_the_committee(client, suite, accounts, milon):
    owner, members = accounts[0], accounts[1:5]
    fed = milon.create_federation(owner, "digits", h("meta"), 10 * ETHER)
    assert milon.federation(fed).name == "digits"
    for i, m in enumerate(members, start=1):
        milon.transfer(owner, m.address, 100 * ETHER)
        milon.join(m, fed, 10 * ETHER, capacity=i, peer_info=f"/ip4/127.0.0.1/tcp/{4000 + i}")
    assert milon.federation(fed).total_capacity == 10
    info = milon.member(fed, members[3].address)
    assert info.peer_info == "/ip4/127.0.0.1/tcp/4004"
    assert info.active and not info.suspended and info.withdrawable_at == 0
    params = milon.params()
    assert params[Param.COMMITTEE_DEFAULT] == 7 and params[Param.CONFIRM_BPS] == 6_666

    job_params = _params(fed, max_samples=5_000)
    job_id = milon.create_job(owner, job_params)
    job = milon.job(job_id)
    assert job.params == job_params and job.status is JobStatus.OPEN
    r = milon.start_round(owner, job_id)
    assigned = {m.address: milon.assignment(job_id, r, m.address) for m in members}
    assert [a.epochs for a in assigned.values()] == [1, 2, 3, 4]  # in proportion to capacity
    assert [a.index for a in assigned.values()] == [0, 1, 2, 3]
    assert milon.round_members(job_id, r) == [m.address for m in members]
    rnd = milon.round(job_id, r)
    assert rnd.share_cap == 5 and rnd.committee_count == 4 and not rnd.closed
    seats = milon.committee(job_id, r)
    assert sorted(seats) == sorted(m.address for m in members)
    assert all(milon.seat(job_id, r, s).seated for s in seats)
    assert not milon.seat(job_id, r, accounts[7].address).seated
    for m in members:
        assert milon.pending_work(fed, m.address) == 2  # its assignment and its committee seat

    salts = {}
    for m in members:
        milon.accept(m, job_id, r)
    for i, m in enumerate(members):
        salts[m.address] = h(f"salt{i}")
        c = Milon.commitment(h(f"u{i}"), 100, salts[m.address], m.address, job_id, r)
        onchain = client.call(
            suite.jobs.functions.commitmentOf(
                h(f"u{i}"), 100, salts[m.address], m.address, job_id, r
            )
        )
        assert c == bytes(onchain)
        milon.commit(m, job_id, r, c)
    for i, m in enumerate(members):
        milon.reveal(m, job_id, r, h(f"u{i}"), 100, salts[m.address])
        assert milon.assignment(job_id, r, m.address).state is AssignmentState.REVEALED

    # The committee rejects the 4th update; one reason code per round member.
    by = {m.address: m for m in members}
    n = len(members)
    for s in seats:
        milon.submit_verdict(by[s], job_id, r, 0b0111, bytes([0, 0, 0, 3]), n)
    rnd = milon.round(job_id, r)
    assert rnd.tallied and (rnd.accepted_bits, rnd.rejected_bits) == (0b0111, 0b1000)
    assert milon.seat(job_id, r, seats[0]).verdict == 0b0111
    milon.confirm(by[seats[0]], job_id, r, h("m1"), n)
    assert not milon.round(job_id, r).finalized  # 10 of 40 staked
    assert milon.seat(job_id, r, seats[0]).confirmed_hash == h("m1")
    for s in seats[1:3]:
        milon.confirm(by[s], job_id, r, h("m1"), n)
    rnd = milon.round(job_id, r)
    assert rnd.finalized and rnd.closed and rnd.epochs_trained == 6
    job = milon.job(job_id)
    assert job.global_model_hash == h("m1") and job.epochs_done == 6
    # The validators' pool goes to the seats that voted with the outcome and did not confirm
    # another model (the fourth never had to confirm), less any whose own update was rejected.
    pool = 6 * ETHER // 10
    paid = [s for s in seats if s != members[3].address]
    for i, m in enumerate(members[:3], start=1):
        validator = pool // len(paid) if m.address in paid else 0
        assert milon.claimable(m.address) == i * ETHER * 9 // 10 + validator
    assert milon.claimable(members[3].address) == 0
    assert milon.member(fed, members[3].address).stake == 9 * ETHER  # slashed 10 %
    assert milon.delivery_factor_bps(fed, members[3].address) == (0 + 2) * 10_000 // (4 + 2)
    assert milon.delivery_factor_bps(fed, members[2].address) == 10_000
    before = milon.balance(members[2].address)
    owed = milon.claimable(members[2].address)
    milon.claim(members[2])
    assert milon.balance(members[2].address) == before + owed
    with pytest.raises(ContractRevert, match="NothingToClaim"):
        milon.claim(members[2])
    assert milon.pending_work(fed, members[0].address) == 0


def _play(milon, members, owner, job_id, rejected: set[int], r: int = 0):
    """One round (``r``: one already started): everyone assigned accepts, commits and reveals;
    the committee rejects the updates of the members at the ``rejected`` positions and
    confirms the rest."""
    r = r or milon.start_round(owner, job_id)
    active = [m for m in members if milon.assignment(job_id, r, m.address).epochs > 0]
    for m in active:
        milon.accept(m, job_id, r)
    salts = {}
    for i, m in enumerate(active):
        salts[m.address] = h(f"s{r}{i}")
        c = Milon.commitment(h(f"u{r}{i}"), 10, salts[m.address], m.address, job_id, r)
        milon.commit(m, job_id, r, c)
    for i, m in enumerate(active):
        milon.reveal(m, job_id, r, h(f"u{r}{i}"), 10, salts[m.address])
    bits = sum(
        1 << milon.assignment(job_id, r, m.address).index
        for m in active
        if members.index(m) not in rejected
    )
    by = {m.address: m for m in members}
    n = len(active)
    for s in milon.committee(job_id, r):
        milon.submit_verdict(by[s], job_id, r, bits, bytes(n), n)
    for s in milon.committee(job_id, r):
        if milon.round(job_id, r).closed:
            break
        milon.confirm(by[s], job_id, r, h(f"m{r}"), n)
    assert milon.round(job_id, r).finalized
    return r, active


def _three_member_job(milon, owner, members) -> tuple[int, int]:
    """A federation of ``members`` (capacities 1, 2, 3), a job of 5 rounds of 6 epochs."""
    fed = milon.create_federation(owner, "bench", h("meta"), ETHER)
    for i, m in enumerate(members, start=1):
        milon.transfer(owner, m.address, 100 * ETHER)
        milon.join(m, fed, 10 * ETHER, capacity=i, peer_info="")
    return fed, milon.create_job(owner, _params(fed, total_epochs=30, epochs_per_round=6))


def test_a_slashed_member_sits_out_the_next_round(client, suite, accounts, milon):
    owner, members = accounts[0], accounts[1:4]
    fed, job_id = _three_member_job(milon, owner, members)
    r1, active1 = _play(milon, members, owner, job_id, rejected={2})
    assert len(active1) == 3
    slashed = milon.member(fed, members[2].address)
    assert slashed.stake == 9 * ETHER and slashed.active  # slashed in round 1, above the minimum
    r2 = milon.start_round(owner, job_id)
    assert milon.assignment(job_id, r2, members[2].address).epochs == 0  # benched
    # Capacities 1:2 would give 2 and 4; half the round each is the cap.
    assert milon.round(job_id, r2).share_cap == 3
    assert [milon.assignment(job_id, r2, m.address).epochs for m in members[:2]] == [3, 3]
    assert members[2].address in milon.committee(job_id, r2)  # benched from work, not seats
    assert client.call(suite.jobs.functions.lastSlashedRound(job_id, members[2].address)) == r1


def test_suspension_and_reinstatement_through_the_bindings(client, suite, accounts, milon):
    owner, (a, b) = accounts[0], accounts[1:3]
    fed = milon.create_federation(owner, "tight", h("meta"), 10 * ETHER)
    for m in (a, b):
        milon.transfer(owner, m.address, 100 * ETHER)
        milon.join(m, fed, 10 * ETHER, capacity=1, peer_info="")
    job_id = milon.create_job(owner, _params(fed, total_epochs=4, epochs_per_round=2))
    r = milon.start_round(owner, job_id)
    milon.accept(a, job_id, r)
    milon.decline(b, job_id, r)  # a never commits: a no-show, slashed below the minimum
    rnd = milon.round(job_id, r)
    client.increase_time(rnd.confirm_deadline - client.now() + 1)
    milon.timeout_round(owner, job_id, rnd.member_count, rnd.committee_count)
    info = milon.member(fed, a.address)
    assert info.suspended and not info.active and info.stake == 9 * ETHER
    assert milon.active_members(fed) == [b.address]
    milon.add_stake(a, fed, ETHER)
    info = milon.member(fed, a.address)
    assert info.active and not info.suspended and info.stake == 10 * ETHER
    assert milon.active_members(fed) == [b.address, a.address]


def test_an_earlier_round_reads_the_same_once_its_records_are_reused(
    client, suite, accounts, milon
):
    """TrainingJobs keeps one assignment record per job and member, which the member's next
    round overwrites: the bindings rebuild the earlier round's from its events, a record left
    from an earlier round is nothing in the current one (no commit or reveal on it), and the
    record's running totals say what the member took on before a round (privacy accounting)."""
    owner, members = accounts[0], accounts[1:4]
    _, job_id = _three_member_job(milon, owner, members)
    r1, _ = _play(milon, members, owner, job_id, rejected={2})
    before = {m.address: milon.assignment(job_id, r1, m.address) for m in members}
    assert all(a.weight == 0 and a.num_samples == 10 for a in before.values())  # revealed
    r2 = milon.start_round(owner, job_id)
    reused = members[:2]  # members[2] was slashed in round 1: it sits round 2 out
    for m in reused:
        raw = client.call(suite.jobs.functions.assignment(job_id, r1, m.address))
        assert raw[3] == AssignmentState.NONE  # the record holds round 2 now
        rebuilt = milon.assignment(job_id, r1, m.address)
        assert rebuilt == dataclasses.replace(before[m.address], weight=0)
        assert rebuilt.state is AssignmentState.REVEALED and rebuilt.update_hash != bytes(32)
        now = milon.assignment(job_id, r2, m.address)  # round 1's update hash is not round 2's
        assert now.state is AssignmentState.ASSIGNED and now.weight > 0
        assert now.commitment == now.update_hash == bytes(32)
        taken = (1, before[m.address].epochs)
        assert milon.taken_before(job_id, r2, m.address) == taken
    benched = members[2]
    assert milon.assignment(job_id, r1, benched.address) == before[benched.address]
    assert milon.assignment(job_id, r2, benched.address).state is AssignmentState.NONE
    assert milon.taken_before(job_id, r2, benched.address) == (1, before[benched.address].epochs)
    with pytest.raises(ContractRevert, match="NotAccepted"):
        milon.commit(benched, job_id, r2, h("c"))
    with pytest.raises(ContractRevert, match="NotCommitted"):
        milon.reveal(benched, job_id, r2, h(f"u{r1}2"), 10, h(f"s{r1}2"))
    # round 2 played out, round 3 started: round 2's epochs fold into each record's totals
    r2_epochs = {m.address: milon.assignment(job_id, r2, m.address).epochs for m in reused}
    _play(milon, members, owner, job_id, rejected=set(), r=r2)
    r3 = milon.start_round(owner, job_id)
    for m in reused:
        assert milon.assignment(job_id, r3, m.address).state is AssignmentState.ASSIGNED
        want = (2, before[m.address].epochs + r2_epochs[m.address])
        assert milon.taken_before(job_id, r3, m.address) == want
        assert milon.assignment(job_id, r2, m.address).epochs == r2_epochs[m.address]
