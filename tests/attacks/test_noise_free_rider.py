"""A free rider hands back the base model plus 1e-6 noise and hopes to be paid.

v1: the update passed every check (finite, right shapes, loss no worse than the base model's,
not byte-identical to anything) and was paid like real work. v2: every committee member's
verdict function compares its step and its improvement with the round's; the update is
rejected (``NO_IMPROVEMENT``) by the majority, its author slashed and unpaid, and every
honest member paid.
"""

from __future__ import annotations

import pytest

from milon_app.chain.verdicts import round_payments, round_verdicts
from milon_app.federation.policy import Reason
from milon_app.node.behaviour import HONEST, Behaviour
from tests.attacks.nodefed import STAKE, node_federation


@pytest.fixture
def fed(tmp_path):
    f = node_federation(tmp_path, [HONEST, HONEST, HONEST, Behaviour("freeride", seed=3)])
    yield f
    f.close()


def test_free_rider_is_rejected_slashed_and_unpaid(fed):
    *honest, rider = fed.nodes
    job_id = fed.job(rounds=1)
    fed.until(fed.round_closed(job_id, 1))
    verdicts = {u.member: u for u in round_verdicts(fed.owner.milon, job_id, 1).updates}
    assert verdicts[rider.address].outcome == "rejected"
    reasons = {v.reason for v in verdicts[rider.address].votes if not v.accepted}
    assert reasons == {int(Reason.NO_IMPROVEMENT)}
    rewards, validator_pay = round_payments(fed.owner.milon, job_id, 1)
    # unpaid (neither for the update nor, with its own work rejected, as a validator), slashed
    assert rider.address not in rewards and rider.address not in validator_pay
    assert fed.claimable(rider) == 0 and fed.stake(rider) < STAKE
    for nd in honest:
        assert verdicts[nd.address].outcome == "accepted"
        assert rewards[nd.address] > 0 and fed.stake(nd) == STAKE
