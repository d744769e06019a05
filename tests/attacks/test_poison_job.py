"""A stranger stalls every member of a federation with a job nobody can load.

Anyone may create a job in any federation for an escrow of one wei. The attacker creates
one whose model spec digest no peer serves (or serves as bytes that are not a spec), before
an honest owner's job. Before: a member's tick visited jobs in order and stopped at the
first error, so the poisoned job's failed fetch ended every tick before the honest job was
reached (the daemon's loop caught the error and ticked again, into the same
error; the harness here sees it raised); the members never accepted, committed or revealed there, and the honest job never
completed. Now: each job's step runs on its own; a job that fails is retried with a growing
delay (``JobRetry``) and every other job goes on. The attacker's job pays nobody anything
and the honest job completes with every member paid and no stake lost.
"""

from __future__ import annotations

import hashlib

import pytest

from milon_app.chain.bindings import AggregationRule, JobParams
from milon_app.node import events as ev
from tests.attacks.nodefed import ETHER, STAKE, node_federation


@pytest.fixture
def fed(tmp_path):
    f = node_federation(tmp_path)
    yield f
    f.close()


def _poison(fed, unserved: bool) -> int:
    """A job whose spec digest no peer serves (``unserved``) or that names a blob holding
    bytes that are not a model spec, created by an account that is no member."""
    attacker = fed.client.dev_accounts[8]
    m = fed.owner.milon
    m.transfer(fed.client.dev_accounts[0], attacker.address, 10 * ETHER)
    junk = b"not a model spec" if unserved else b"served, and not a model spec"
    if not unserved:  # the attacker's junk is even on the hub, under its digest
        digest = fed.owner.store.put(junk, "model_spec", owner="owner")
        fed.owner.transport.provide(digest)
    spec_hash = hashlib.sha256(junk).digest()
    params = JobParams(
        fed_id=fed.fed_id,
        model_spec_hash=spec_hash,
        dataset_spec_hash=spec_hash,
        initial_model_hash=spec_hash,
        total_epochs=1,
        epochs_per_round=1,
        reward_per_epoch=1,
        aggregation_rule=AggregationRule.FEDAVG,
        committee_size=0,
        round_duration=3600,
        max_samples=0,
    )
    return m.create_job(attacker, params)


def test_jobs_nobody_can_load_do_not_stall_the_federation(fed):
    poisons = [_poison(fed, unserved=True), _poison(fed, unserved=False)]
    job_id = fed.job(rounds=1)
    assert max(poisons) < job_id  # visited first by every member
    fed.until(fed.completed(job_id), max_s=120)
    for nd in fed.nodes:
        assert fed.claimable(nd) > 0 and fed.stake(nd) == STAKE
    where = {e.where for e in fed.bus.history(ev.NodeError)}
    assert {f"job {p}" for p in poisons} <= where  # each failure is named, per job
