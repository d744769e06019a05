"""Each role on its own, on the embedded chain with the in-process hub.

A small federation (an owner and two contributors) is built per test; the
test then drives ticks by hand and checks one role's decision.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import pytest
import torch

from milon_app.chain.bindings import AssignmentState, JobStatus
from milon_app.chain.client import ChainClient
from milon_app.chain.deploy import deploy_suite
from milon_app.compute.datasets import DatasetSpec, load_dataset
from milon_app.compute.model_spec import digits_mlp
from milon_app.node.build import NodeOptions, build_node
from milon_app.node.bus import EventBus
from milon_app.node.core import NodeCore, TensorData
from milon_app.node.events import (
    AssignmentDecision,
    ModelConfirmed,
    RoundTimedOut,
    Slashed,
    VerdictsTallied,
    VerdictSubmitted,
)
from milon_app.node.owner import JobRequest
from milon_app.node.policy import AcceptPolicy
from milon_app.p2p.inprocess import InProcessHub

ETHER = 10**18


@dataclass
class Fed:
    client: ChainClient
    owner: NodeCore
    nodes: list[NodeCore]
    fed_id: int
    bus: EventBus

    def tick(self, times: int = 1) -> None:
        """Tick every node; while one is training, give its worker time (ticks are fast)."""
        for _ in range(times):
            busy = False
            for nd in [*self.nodes, self.owner]:
                busy = nd.tick() or busy
            if busy:
                time.sleep(0.05)

    def job(self, **kw) -> int:
        spec = digits_mlp()
        req = JobRequest(
            fed_id=self.fed_id,
            spec=spec,
            dataset=DatasetSpec(kind="builtin", name="digits"),
            total_epochs=kw.get("epochs", 4),
            epochs_per_round=kw.get("epochs", 4),
            reward_per_epoch=ETHER,
            committee_size=kw.get("committee", 0),
        )
        return self.owner.owner.create_job(req)

    def close(self) -> None:
        for nd in [*self.nodes, self.owner]:
            nd.stop()
            nd.state.close()


@pytest.fixture
def fed(tmp_path):
    client = ChainClient.embedded()
    owner_acct, accts = client.dev_accounts[0], client.dev_accounts[1:3]
    suite = deploy_suite(client, owner_acct, dev=True)
    hub, bus = InProcessHub(), EventBus()
    data = load_dataset(DatasetSpec(kind="builtin", name="digits"))
    policies = [AcceptPolicy(), AcceptPolicy(mode="manual")]

    def on_hub(acct, store, _bootstrap):
        return hub.transport(acct.address, store), None  # no membership check: fewer reads

    def node(acct, name, **kw) -> NodeCore:
        return build_node(acct, suite, bus, tmp_path / name, on_hub, NodeOptions(**kw))

    owner = node(owner_acct, "owner", roles=("owner", "keeper"))
    owner.owner.eval_data = (data.x_test, data.y_test)
    nodes = [
        node(
            a,
            f"n{i}",
            policy=policies[i],
            threads=1,
            data=TensorData(data.x_train[i::2], data.y_train[i::2]),
        )
        for i, a in enumerate(accts)
    ]
    fed_id = owner.milon.create_federation(owner_acct, "roles", b"\0" * 32, ETHER)
    owner.start()
    for i, nd in enumerate(nodes):
        owner.milon.transfer(owner_acct, nd.address, 100 * ETHER)
        nd.start()
        nd.join(fed_id, 10 * ETHER, 100 * (i + 1), "")
    f = Fed(client, owner, nodes, fed_id, bus)
    yield f
    f.close()


def test_owner_opens_rounds_and_contributor_policy_decides(fed):
    job_id = fed.job()
    fed.tick(2)  # the owner opens the round at the end of a tick; members act on the next
    job = fed.owner.milon.job(job_id)
    assert job.current_round == 1
    auto, manual = fed.nodes
    # the auto node accepts by its commit (issue 18): it trains at once, sends no `accept`
    assert auto.state.assignment_decision(job_id, 1) == "accepted"
    state = fed.owner.milon.assignment(job_id, 1, auto.address).state
    assert state in (AssignmentState.ASSIGNED, AssignmentState.COMMITTED)
    assert not [t for t in auto.milon.client.transactions(auto.address) if t.action == "accept"]
    # the manual node waits for its user: nothing sent, a decision event asks for it
    assert fed.owner.milon.assignment(job_id, 1, manual.address).state is AssignmentState.ASSIGNED
    ask = [e for e in fed.bus.history(AssignmentDecision) if e.node == manual.address]
    assert ask and "waiting for the user" in ask[0].reason
    manual.contributor.respond(job_id, 1, 2, False, "user declined")
    # declined epochs go to the remaining member only within the per-member cap (half the
    # round here), so they leave the round and are trained in a later one
    assert fed.owner.milon.assignment(job_id, 1, auto.address).epochs == 2
    assert fed.owner.milon.round(job_id, 1).epochs == 2


def test_committee_votes_confirms_and_round_finalizes(fed):
    job_id = fed.job()
    fed.nodes[1].policy = AcceptPolicy()  # both accept
    for _ in range(600):
        fed.tick()
        if fed.owner.milon.job(job_id).status is JobStatus.COMPLETED:
            break
        torch.set_num_threads(1)
    assert fed.owner.milon.job(job_id).status is JobStatus.COMPLETED
    # both members sit on the committee (fewer members than seats) and judged both updates
    verdicts = [e for e in fed.bus.history(VerdictSubmitted) if e.job_id == job_id]
    assert {e.node for e in verdicts} == {nd.address for nd in fed.nodes}
    assert all(len(e.accepted) == 2 and not e.rejected for e in verdicts)
    tallies = [e for e in fed.bus.history(VerdictsTallied) if e.job_id == job_id]
    assert tallies and set(tallies[0].accepted) == {nd.address for nd in fed.nodes}
    confirmed = {e.model_hash for e in fed.bus.history(ModelConfirmed) if e.job_id == job_id}
    final = fed.owner.milon.job(job_id).final_model_hash.hex()
    assert confirmed == {final}  # every committee member aggregated the same bytes
    results = fed.owner.state.round_results(job_id)
    assert results and results[0][2] is not None and results[0][2] > 0.5  # owner evaluated


def test_keeper_times_out_a_round_no_committee_judged(fed):
    for nd in fed.nodes:  # members train and reveal, but nobody judges
        nd.policy = AcceptPolicy()
        nd.roles = frozenset({"contributor"})
    job_id = fed.job()
    for _ in range(600):
        fed.tick()
        rnd = fed.owner.milon.round(job_id, 1)
        if rnd.revealed_count == 2:
            break
    assert rnd.revealed_count == 2 and not rnd.finalized
    stakes = {nd.address: fed.owner.milon.member(fed.fed_id, nd.address).stake for nd in fed.nodes}
    fed.client.increase_time(rnd.verdict_deadline - fed.client.now() + 1)
    fed.tick()
    assert fed.owner.milon.round(job_id, 1).timed_out
    assert any(e.job_id == job_id for e in fed.bus.history(RoundTimedOut))
    # revealed members are neither paid nor slashed for their work when the committee fails;
    # as committee members that never voted, each loses the (small) liveness penalty
    liveness = fed.owner.milon.params().values[15]
    for nd in fed.nodes:
        after = fed.owner.milon.member(fed.fed_id, nd.address).stake
        assert after == stakes[nd.address] - stakes[nd.address] * liveness // 10_000
        assert fed.owner.milon.claimable(nd.address) == 0
    fed.tick()
    assert fed.owner.milon.job(job_id).current_round == 2  # the owner opens the next round
    # each node reports the slashes it read from the chain, with the job's federation
    slashed = {(e.fed_id, e.member, e.amount) for e in fed.bus.history(Slashed)}
    assert slashed == {
        (fed.fed_id, nd.address, stakes[nd.address] * liveness // 10_000) for nd in fed.nodes
    }


def test_owner_exports_the_trained_model(fed, tmp_path):
    for nd in fed.nodes:
        nd.policy = AcceptPolicy()
    job_id = fed.job()
    for _ in range(600):
        fed.tick()
        if fed.owner.milon.job(job_id).status is JobStatus.COMPLETED:
            break
    ctx = fed.owner.context(job_id)
    files = fed.owner.owner.download(ctx, tmp_path / "export", onnx=False)
    assert {f.name for f in files} == {"model.safetensors", "model-spec.json"}


def test_a_member_still_training_near_the_accept_deadline_accepts_explicitly(fed):
    """A member that commits accepts by its commit (issue 18: no `accept` transaction); one
    whose training runs into the last ACCEPT_MARGIN_S of the accept window sends `accept`, so it
    does not lapse, and goes on training as an accepted member."""
    from concurrent.futures import Future

    from milon_app.node.contributor import ACCEPT_MARGIN_S

    job_id = fed.job()
    auto, manual = fed.nodes
    manual.policy = AcceptPolicy()
    stuck: Future[object] = Future()  # training that does not finish in the window
    auto.contributor._start_training = lambda *a, **k: stuck  # type: ignore[method-assign]
    fed.tick(2)
    m = fed.owner.milon
    assert auto.state.assignment_decision(job_id, 1) == "accepted"
    assert m.assignment(job_id, 1, auto.address).state is AssignmentState.ASSIGNED
    rnd = m.round(job_id, 1)
    fed.client.increase_time(rnd.accept_deadline - ACCEPT_MARGIN_S - fed.client.now() + 1)
    fed.client.mine(1)
    auto.tick()
    assert m.assignment(job_id, 1, auto.address).state is AssignmentState.ACCEPTED
    assert [t.action for t in auto.milon.client.transactions(auto.address)].count("accept") == 1
    stuck.cancel()
