"""A node loses its state DB between commit and reveal (disk failure, a reinstall).

v1: the commitment's salt existed only in the state DB, so the node could not reveal and was
slashed as a no-show for work it had done. v2: the salt is derived from the wallet key, the
job, the round and the update hash; the restarted node finds its update in the blob store,
or trains it again (deterministic on the CPU), reveals and is paid.
"""

from __future__ import annotations

import shutil
import time

import pytest

from milon_app.chain.bindings import AssignmentState
from milon_app.chain.verdicts import round_payments
from milon_app.node.core import NodeCore
from tests.attacks.nodefed import STAKE, NodeFed, node_federation


@pytest.fixture
def fed(tmp_path):
    f = node_federation(tmp_path)
    yield f
    f.close()


def _restart_without_state(fed: NodeFed, victim: NodeCore, lose_blobs: bool) -> NodeCore:
    """Stop ``victim``, delete its state DB (and maybe its blobs), start it again."""
    i = fed.nodes.index(victim)
    victim.stop()
    victim.state.close()
    home = fed.root / f"n{i}"
    for f in home.glob("state.db*"):
        f.unlink()
    if lose_blobs:
        shutil.rmtree(home / "blobs")
    fresh = fed.make_node(victim.account, f"n{i}", data=victim.data)
    fresh.start()
    fed.nodes[i] = fresh
    return fresh


@pytest.mark.parametrize("lose_blobs", [False, True], ids=["state-db", "state-db-and-blobs"])
def test_node_without_its_state_db_still_reveals_and_is_paid(fed, lose_blobs):
    job_id = fed.job(rounds=1)
    victim = fed.nodes[1]
    m = fed.owner.milon

    def victim_committed() -> bool:
        if m.job(job_id).current_round != 1:
            return False
        return m.assignment(job_id, 1, victim.address).state is AssignmentState.COMMITTED

    fed.until(lambda: m.job(job_id).current_round == 1)  # opened: nobody answered yet
    # Only the victim ticks until it has committed: the others have not answered meanwhile, so
    # the reveal phase stays shut and the victim cannot reveal before it loses its state DB.
    deadline = time.monotonic() + 300
    while not victim_committed():
        assert time.monotonic() < deadline, "the victim never committed"
        if not victim.tick():
            time.sleep(0.02)
    assert m.round(job_id, 1).committed_count == 1
    victim = _restart_without_state(fed, victim, lose_blobs)
    assert victim.state.commit_record(job_id, 1) is None
    fed.until(fed.round_closed(job_id, 1))
    assert m.assignment(job_id, 1, victim.address).state is AssignmentState.REVEALED
    rewards, _ = round_payments(m, job_id, 1)
    for nd in fed.nodes:
        assert rewards[nd.address] > 0 and fed.stake(nd) == STAKE
