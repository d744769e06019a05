"""A role built alone from its services: the keeper on a real (embedded) chain, no NodeCore.

The federation, job and round are set up with raw contract calls (no other node runs);
time moves with ``increase_time``, never with sleeps.
"""

from __future__ import annotations

import pytest

from milon_app.chain.bindings import AssignmentState, Milon
from milon_app.chain.client import ChainClient
from milon_app.chain.deploy import deploy_suite
from milon_app.compute.datasets import DatasetSpec
from milon_app.compute.model_spec import digits_mlp
from milon_app.compute.worker import TrainerWorker
from milon_app.node.bus import EventBus
from milon_app.node.events import RoundTimedOut
from milon_app.node.jobs import JobContext
from milon_app.node.keeper import Keeper
from milon_app.node.services import RoleServices
from milon_app.node.state import StateDB
from milon_app.p2p.inprocess import InProcessHub
from milon_app.store.blobs import BlobStore
from tests.unit.contracts import helpers as h


@pytest.fixture
def chain():
    client = ChainClient.embedded()
    owner = client.dev_accounts[0]
    suite = deploy_suite(client, owner, dev=True)
    return client, suite, owner


def _keeper(tmp_path, suite, account, bus: EventBus) -> tuple[Keeper, RoleServices]:
    store = BlobStore(tmp_path / "blobs")
    services = RoleServices(
        milon=Milon(suite),
        account=account,
        state=StateDB(tmp_path / "state.db"),
        store=store,
        transport=InProcessHub().transport(account.address, store),
        worker=TrainerWorker(),
        publish=bus.publish,
    )
    return Keeper(services), services


def _ctx(m: Milon, job_id: int) -> JobContext:
    # The keeper reads only the job's id; no blob is fetched.
    return JobContext(
        job_id, m.job(job_id), digits_mlp(), DatasetSpec(kind="builtin", name="digits")
    )


def _drive(keeper: Keeper, ctx: JobContext, m: Milon, client, r: int, after: int) -> None:
    """Move the chain's clock past ``after``, then step the keeper until the round closes."""
    client.increase_time(after - client.now() + 1)
    for _ in range(3):
        rnd = m.round(ctx.job_id, r)
        if rnd.closed:
            return
        keeper.step(ctx, r, rnd, client.now())


def test_keeper_alone_lapses_the_silent_then_times_out_the_stuck_round(chain, tmp_path):
    client, suite, owner = chain
    members, keeper_account = client.dev_accounts[1:4], client.dev_accounts[4]
    fed = h.federation_with_members(client, suite, members)
    job_id = h.create_job(client, suite, owner, fed.fed_id, totalEpochs=3, epochsPerRound=3)
    r = h.start_round(client, suite, job_id, owner)
    in_round = client.call(suite.jobs.functions.roundMembers(job_id, r))
    assert len(in_round) >= 2
    by_address = {a.address.lower(): a for a in members}
    accepter, *silent = [by_address[a.lower()] for a in in_round]
    h.tx(client, suite.jobs.functions.accept(job_id, r), accepter)

    bus = EventBus()
    keeper, services = _keeper(tmp_path, suite, keeper_account, bus)
    m = services.milon
    ctx = _ctx(m, job_id)
    try:
        # Within the accept window there is nothing to do.
        rnd = m.round(job_id, r)
        keeper.step(ctx, r, rnd, client.now())
        assert m.round(job_id, r).assigned_count == rnd.assigned_count > 0

        # The accept window passes with members silent: the keeper lapses them.
        client.increase_time(rnd.accept_deadline - client.now() + 1)
        keeper.step(ctx, r, m.round(job_id, r), client.now())
        rnd = m.round(job_id, r)
        assert rnd.assigned_count == 0 and rnd.accepted_count == 1
        for a in silent:
            assert m.assignment(job_id, r, a.address).state is AssignmentState.LAPSED
        assert m.assignment(job_id, r, accepter.address).state is AssignmentState.ACCEPTED

        # Nobody commits: once the verdict window is over the keeper closes the round, which
        # keeps the model as it was (nothing to judge is not a failure).
        _drive(keeper, ctx, m, client, r, rnd.verdict_deadline)
        rnd = m.round(job_id, r)
        assert rnd.finalized and rnd.epochs_trained == 0 and not rnd.timed_out
        assert not bus.history(RoundTimedOut)

        # A second job whose round nobody accepts: the keeper times it out, and says so.
        stuck = h.create_job(client, suite, owner, fed.fed_id, totalEpochs=3, epochsPerRound=3)
        r2 = h.start_round(client, suite, stuck, owner)
        ctx2 = _ctx(m, stuck)
        keeper.step(ctx2, r2, m.round(stuck, r2), client.now())  # still open: nothing to do
        assert not m.round(stuck, r2).closed
        _drive(keeper, ctx2, m, client, r2, m.round(stuck, r2).accept_deadline)
        assert m.round(stuck, r2).timed_out
        assert [(e.job_id, e.round) for e in bus.history(RoundTimedOut)] == [(stuck, r2)]
    finally:
        services.worker.shutdown(cancel=True, wait=True)
        services.state.close()
