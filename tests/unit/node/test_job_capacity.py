"""The contributor measures its capacity on each job's model and declares it for that model.

On the embedded chain with the in-process hub: an owner and two contributors (1 and 2 CPU
threads) meet a digits-MLP job. Each benchmarks the job's spec in its worker (the tick that
starts it returns at once), keeps the score in its state DB under (spec hash, device,
threads), and declares it with ``setModelCapacity`` under the job's modelSpecHash; the job's
next split reads it. A restarted node finds the score in its state DB: it declares again only
when the chain holds another value.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from milon_app.chain.client import ChainClient
from milon_app.chain.deploy import deploy_suite
from milon_app.compute.datasets import DatasetSpec
from milon_app.compute.model_spec import digits_mlp
from milon_app.node.build import NodeOptions, build_node
from milon_app.node.bus import EventBus
from milon_app.node.capacity import JobCapacity
from milon_app.node.core import NodeCore
from milon_app.node.events import JobCapacityMeasured
from milon_app.node.owner import JobRequest
from milon_app.node.policy import AcceptPolicy
from milon_app.p2p.inprocess import InProcessHub

ETHER = 10**18
SECONDS = 0.3  # the benchmark's length: short, a test needs only a score


@dataclass
class Fed:
    owner: NodeCore
    nodes: list[NodeCore]
    fed_id: int
    bus: EventBus

    def tick(self) -> None:
        for nd in [self.owner, *self.nodes]:
            nd.tick()

    def measured(self, node: NodeCore) -> list[JobCapacityMeasured]:
        found = self.bus.history(JobCapacityMeasured)
        return [e for e in found if isinstance(e, JobCapacityMeasured) and e.node == node.address]


@pytest.fixture
def fed(tmp_path) -> Iterator[Fed]:
    client = ChainClient.embedded()
    owner_acct, accts = client.dev_accounts[0], client.dev_accounts[1:3]
    suite = deploy_suite(client, owner_acct, dev=True)
    hub, bus = InProcessHub(), EventBus()

    def on_hub(acct, store, _bootstrap):
        return hub.transport(acct.address, store), None

    def node(acct, name, **kw) -> NodeCore:
        return build_node(acct, suite, bus, tmp_path / name, on_hub, NodeOptions(device="cpu", **kw))

    owner = node(owner_acct, "owner", roles=("owner",))
    # they decline every assignment: this test is about the capacity, not the training
    nodes = [node(a, f"n{i}", roles=("contributor",), policy=AcceptPolicy(mode="never"),
                  threads=i + 1) for i, a in enumerate(accts)]  # fmt: skip
    fed_id = owner.milon.create_federation(owner_acct, "capacity", b"\0" * 32, ETHER)
    owner.start()
    for nd in nodes:
        nd.contributor.capacity.duration_s = SECONDS
        owner.milon.transfer(owner_acct, nd.address, 100 * ETHER)
        nd.start()
        nd.join(fed_id, 10 * ETHER, 5, "")
    f = Fed(owner, nodes, fed_id, bus)
    yield f
    for nd in [owner, *nodes]:
        nd.stop()
        nd.state.close()


def _job(fed: Fed) -> int:
    req = JobRequest(fed_id=fed.fed_id, spec=digits_mlp(), total_epochs=8, epochs_per_round=4,
                     dataset=DatasetSpec(kind="builtin", name="digits"),
                     reward_per_epoch=ETHER)  # fmt: skip
    return fed.owner.owner.create_job(req)


def test_each_contributor_measures_the_jobs_model_and_declares_it(fed: Fed):
    job_id = _job(fed)
    spec = digits_mlp()
    key = fed.owner.milon.job(job_id).params.model_spec_hash
    assert key.hex() == spec.spec_hash()  # the job's modelSpecHash is the spec's content hash
    # One tick: the owner opens round 1 (split by the join capacities, 5 and 5), then the
    # contributors meet the job and start the benchmark in their workers, and return.
    fed.tick()
    for nd in fed.nodes:
        threads = nd.threads or 0
        assert nd.state.capacity(spec.spec_hash(), "cpu", threads) is None  # not measured inline
        assert (spec.spec_hash(), "cpu", threads) in nd.contributor.capacity._running
    deadline = time.monotonic() + 60
    while not all(fed.measured(nd) for nd in fed.nodes) and time.monotonic() < deadline:
        time.sleep(0.05)
        fed.tick()
    m = fed.owner.milon
    for nd in fed.nodes:
        (e,) = fed.measured(nd)
        assert (e.job_id, e.fed_id, e.model_spec_hash) == (job_id, fed.fed_id, key.hex())
        assert (e.device, e.threads, e.declared, e.cached) == ("cpu", nd.threads, True, False)
        assert nd.state.capacity(spec.spec_hash(), "cpu", e.threads) == e.score
        assert m.model_capacity(fed.fed_id, nd.address, key) == e.score
        assert m.member(fed.fed_id, nd.address).capacity == 5  # the general one is untouched
    scores = [fed.measured(nd)[0].score for nd in fed.nodes]
    candidates = m.round_candidates(fed.fed_id, key)
    assert [(c.capacity, c.per_model) for c in candidates] == [(s, True) for s in scores]
    assert [c.capacity for c in m.round_candidates(fed.fed_id)] == [5, 5]  # no key: general

    # A restart: the score comes from the state DB, and nothing is sent when it is on chain.
    nd = fed.nodes[0]
    again = JobCapacity(nd.services, duration_s=SECONDS)
    nd.contributor.capacity = again
    ctx = nd.context(job_id)
    again.step(ctx)
    assert not again._running  # no benchmark
    last = fed.measured(nd)[-1]
    assert (last.score, last.declared, last.cached) == (scores[0], False, True)
    # The chain holds another value (declared by hand): a restarted node declares its own.
    m.set_model_capacity(nd.account, fed.fed_id, key, scores[0] + 1)
    again = JobCapacity(nd.services, duration_s=SECONDS)
    again.step(ctx)
    assert fed.measured(nd)[-1].declared is True
    assert m.model_capacity(fed.fed_id, nd.address, key) == scores[0]


def test_a_node_with_the_benchmark_off_declares_nothing(fed: Fed):
    for nd in fed.nodes:
        nd.contributor.capacity.duration_s = 0
    job_id = _job(fed)
    for _ in range(3):
        fed.tick()
    key = fed.owner.milon.job(job_id).params.model_spec_hash
    assert not fed.bus.history(JobCapacityMeasured)
    for nd in fed.nodes:
        assert fed.owner.milon.model_capacity(fed.fed_id, nd.address, key) == 0
