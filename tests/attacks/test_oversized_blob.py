"""A contributor reveals an update padded far past what the job's model can produce.

v1: every weights blob was accepted up to the global 2 GiB limit, so one member could make
every validator download and decode gigabytes. v2: a job's weights limit comes from its
model spec (parameters x dtype size + header slack); committee members stop reading at that
bound, the update is rejected as unavailable, its author slashed and unpaid.
"""

from __future__ import annotations

import pytest

from milon_app.chain.verdicts import round_payments, round_verdicts
from milon_app.compute.model_spec import digits_mlp
from milon_app.federation.policy import Reason
from milon_app.node.behaviour import HONEST, Behaviour
from milon_app.node.jobs import weights_limit
from tests.attacks.nodefed import STAKE, node_federation


def test_the_bound_follows_the_model():
    spec = digits_mlp()
    params = sum(p.numel() for p in spec.build(0).parameters())
    assert 4 * params < weights_limit(spec) < 4 * params + 64 * 1024


@pytest.fixture
def fed(tmp_path):
    f = node_federation(tmp_path, [HONEST, HONEST, HONEST, Behaviour("oversize")])
    yield f
    f.close()


def test_oversized_update_is_refused_unread_and_slashed(fed):
    *honest, padder = fed.nodes
    job_id = fed.job(rounds=1)
    fed.until(fed.round_closed(job_id, 1))
    update = fed.owner.milon.assignment(job_id, 1, padder.address).update_hash.hex()
    limit = fed.owner.context(job_id).max_weights
    assert padder.store.size(update) > 2 * limit  # it did send the padded blob
    for nd in honest:
        assert not nd.store.has(update)  # nobody stored (or decoded) it
    verdicts = {u.member: u for u in round_verdicts(fed.owner.milon, job_id, 1).updates}
    assert verdicts[padder.address].outcome == "rejected"
    assert {v.reason for v in verdicts[padder.address].votes} == {int(Reason.UNAVAILABLE)}
    rewards, _ = round_payments(fed.owner.milon, job_id, 1)
    assert padder.address not in rewards and fed.stake(padder) < STAKE
    for nd in honest:
        assert rewards[nd.address] > 0 and fed.stake(nd) == STAKE
