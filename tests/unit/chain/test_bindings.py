"""One whole round through the typed bindings, on the embedded chain and on anvil."""

from __future__ import annotations

import hashlib

import pytest

from milon_app.chain.bindings import (
    AggregationRule,
    AssignmentState,
    JobParams,
    JobStatus,
    Milon,
)
from milon_app.chain.errors import ContractRevert

ETHER = 10**18


def h(text: str) -> bytes:
    return hashlib.sha256(text.encode()).digest()


@pytest.fixture
def milon(suite):
    return Milon(suite)


def test_full_round_pays_by_capacity(client, suite, accounts, milon):
    owner, members = accounts[0], accounts[1:5]
    fed = milon.create_federation(owner, "digits", h("meta"), 10 * ETHER)
    assert milon.federation(fed).name == "digits"
    for i, m in enumerate(members, start=1):
        milon.transfer(owner, m.address, 100 * ETHER)
        milon.join(m, fed, 10 * ETHER, capacity=i, peer_info=f"/ip4/127.0.0.1/tcp/{4000 + i}")
    assert milon.federation(fed).total_capacity == 10
    assert milon.member(fed, members[3].address).peer_info == "/ip4/127.0.0.1/tcp/4004"

    params = JobParams(
        fed_id=fed,
        model_spec_hash=h("spec"),
        dataset_spec_hash=h("data"),
        initial_model_hash=h("m0"),
        total_epochs=10,
        epochs_per_round=10,
        reward_per_epoch=ETHER,
        aggregation_rule=AggregationRule.MEDIAN,
        validator_quorum=2,
        round_duration=600,
    )
    job_id = milon.create_job(owner, params)
    job = milon.job(job_id)
    assert job.params == params and job.status is JobStatus.OPEN
    r = milon.start_round(owner, job_id)
    epochs = {m.address: milon.assignment(job_id, r, m.address).epochs for m in members}
    assert list(epochs.values()) == [1, 2, 3, 4]  # in proportion to capacity 1:2:3:4

    salts = {}
    for m in members:
        milon.accept(m, job_id, r)
    for i, m in enumerate(members):
        salts[m.address] = h(f"salt{i}")
        c = Milon.commitment(h(f"u{i}"), 100, salts[m.address], m.address, job_id, r)
        onchain = client.call(
            suite.jobs.functions.commitmentOf(h(f"u{i}"), 100, salts[m.address], m.address, job_id, r)
        )
        assert c == bytes(onchain)
        milon.commit(m, job_id, r, c)
    for i, m in enumerate(members):
        milon.reveal(m, job_id, r, h(f"u{i}"), 100, salts[m.address])
        assert milon.assignment(job_id, r, m.address).state is AssignmentState.REVEALED
    accepted = [m.address for m in members[:3]]  # validators reject the 4th update
    milon.propose(members[0], job_id, r, h("m1"), accepted)
    assert not milon.round(job_id, r).finalized
    milon.propose(members[1], job_id, r, h("m1"), list(reversed(accepted)))
    rnd = milon.round(job_id, r)
    assert rnd.finalized and rnd.epochs_trained == 6
    job = milon.job(job_id)
    assert job.global_model_hash == h("m1") and job.epochs_done == 6
    for m in members[:3]:
        assert milon.claimable(m.address) == epochs[m.address] * ETHER
    assert milon.claimable(members[3].address) == 0
    assert milon.member(fed, members[3].address).stake < 10 * ETHER  # slashed
    before = milon.balance(members[2].address)
    milon.claim(members[2])
    assert milon.balance(members[2].address) == before + 3 * ETHER
    with pytest.raises(ContractRevert, match="NothingToClaim"):
        milon.claim(members[2])
    assert milon.pending_work(fed, members[0].address) == 0


def _play(milon, client, members, job_id, accepted_idx, proposer):
    """Start a round, everyone assigned trains and reveals; `accepted_idx` are accepted."""
    r = milon.start_round(proposer, job_id)
    salts = {}
    active = [m for m in members if milon.assignment(job_id, r, m.address).epochs > 0]
    for m in active:
        milon.accept(m, job_id, r)
    for i, m in enumerate(active):
        salts[m.address] = h(f"s{r}{i}")
        milon.commit(m, job_id, r, Milon.commitment(h(f"u{r}{i}"), 10, salts[m.address],
                                                    m.address, job_id, r))
    for i, m in enumerate(active):
        milon.reveal(m, job_id, r, h(f"u{r}{i}"), 10, salts[m.address])
    accepted = [members[i].address for i in accepted_idx if members[i] in active]
    milon.propose(active[0] if active[0] in [members[i] for i in accepted_idx] else members[0],
                  job_id, r, h(f"m{r}"), accepted)
    return r, active


def test_a_slashed_member_sits_out_the_next_round(client, suite, accounts, milon):
    owner, members = accounts[0], accounts[1:4]
    fed = milon.create_federation(owner, "bench", h("meta"), 10 * ETHER)
    for i, m in enumerate(members, start=1):
        milon.transfer(owner, m.address, 100 * ETHER)
        milon.join(m, fed, 10 * ETHER, capacity=i, peer_info="")
    params = JobParams(fed_id=fed, model_spec_hash=h("s"), dataset_spec_hash=h("d"),
                       initial_model_hash=h("m0"), total_epochs=30, epochs_per_round=6,
                       reward_per_epoch=ETHER, aggregation_rule=AggregationRule.MEDIAN,
                       validator_quorum=1, round_duration=600)
    job_id = milon.create_job(owner, params)
    r1, active1 = _play(milon, client, members, job_id, [0, 1], owner)
    assert len(active1) == 3
    assert milon.member(fed, members[2].address).stake < 10 * ETHER  # slashed in round 1
    r2 = milon.start_round(owner, job_id)
    assert milon.assignment(job_id, r2, members[2].address).epochs == 0  # benched
    assert [milon.assignment(job_id, r2, m.address).epochs for m in members[:2]] == [2, 4]
    assert client.call(suite.jobs.functions.lastSlashedRound(job_id, members[2].address)) == r1
