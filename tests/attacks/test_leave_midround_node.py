"""A member asks to leave in the middle of a round it accepted work in.

v1: the node stopped acting for federations it was no longer active in, so it abandoned the
epochs it had accepted and was slashed as a no-show. v2: leaving only stops new work; the
node finishes the rounds it accepted (trains, commits, reveals), is paid and not slashed, is
not assigned again, and can withdraw once its rounds closed and the cooldown passed.
"""

from __future__ import annotations

import pytest

from milon_app.chain.bindings import AssignmentState
from milon_app.chain.verdicts import round_payments
from tests.attacks.nodefed import STAKE, node_federation


@pytest.fixture
def fed(tmp_path):
    f = node_federation(tmp_path)
    yield f
    f.close()


def test_leaver_finishes_its_round_and_is_paid(fed):
    job_id = fed.job(rounds=2)
    leaver = fed.nodes[0]
    m = fed.owner.milon

    def committed() -> bool:  # a member that commits accepts by its commit (issue 18)
        if m.job(job_id).current_round != 1:
            return False
        return m.assignment(job_id, 1, leaver.address).state is AssignmentState.COMMITTED

    fed.until(committed)
    m.request_leave(leaver.account, fed.fed_id)
    assert not m.member(fed.fed_id, leaver.address).active
    fed.until(fed.round_closed(job_id, 1))
    assert m.assignment(job_id, 1, leaver.address).state is AssignmentState.REVEALED
    rewards, _ = round_payments(m, job_id, 1)
    for nd in fed.nodes:
        assert rewards[nd.address] > 0 and fed.stake(nd) == STAKE
    fed.until(lambda: m.job(job_id).current_round == 2)
    assert leaver.address not in m.round_members(job_id, 2)
    assert m.pending_work(fed.fed_id, leaver.address) == 0
    ready = m.member(fed.fed_id, leaver.address).withdrawable_at
    fed.client.increase_time(max(0, ready - fed.client.now()) + 1)
    m.withdraw_stake(leaver.account, fed.fed_id)
    assert m.member(fed.fed_id, leaver.address).stake == 0
