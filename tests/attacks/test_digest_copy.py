"""A copier commits another member's update digest as its own, to be paid for its work.

v1: a contributor announced (gossiped ``have``) its update as soon as it was stored, before
committing; a copier that saw the digest committed the same hash, and validators rejected
both byte-identical updates, slashing the victim. v2: a contributor announces and serves its
update only after commits have closed, so there is nothing to copy while a commitment can
still be made; a later round's replay of it is the judges' to reject
(tests/attacks/test_replay.py). The copier ends a slashed no-show; the victim is paid.
"""

from __future__ import annotations

import pytest

from milon_app.chain.bindings import AssignmentState
from milon_app.chain.errors import ContractRevert
from milon_app.chain.verdicts import round_payments
from milon_app.node.contributor import Contributor
from milon_app.node.jobs import commit_closed
from tests.attacks.nodefed import STAKE, NodeFed, node_federation


class Copier(Contributor):
    """Never trains: commits the first update digest another member announces."""

    def __init__(self, node, fed: NodeFed) -> None:
        super().__init__(node.services)
        self.fed = fed
        self.seen_before_close: list[str] = []

    def _train_or_commit(self, ctx, r, rnd, epochs, now, state=AssignmentState.ACCEPTED):
        node = self.services
        with self.fed.hub.lock:
            announced = {
                d
                for d, who in self.fed.hub.providers.items()
                if who - {node.address, self.fed.owner.address}
            }
        mine = {ctx.job.params.initial_model_hash.hex(), rnd.base_model_hash.hex()}
        for digest in sorted(announced - mine):
            if not commit_closed(rnd, now):
                self.seen_before_close.append(digest)
            try:  # after commits closed the contract refuses it anyway (CommitClosed)
                self._commit(ctx.job_id, r, bytes.fromhex(digest), 100)
            except ContractRevert:
                continue
            return


@pytest.fixture
def fed(tmp_path):
    f = node_federation(tmp_path)
    yield f
    f.close()


def test_copier_finds_nothing_to_copy_and_is_slashed(fed):
    *honest, copier = fed.nodes
    copier.contributor = Copier(copier, fed)
    job_id = fed.job(rounds=1)
    fed.until(fed.round_closed(job_id, 1))
    m = fed.owner.milon
    # while commits were open no update digest was announced, so the copier committed nothing
    assert copier.contributor.seen_before_close == []
    assert m.assignment(job_id, 1, copier.address).state is AssignmentState.ACCEPTED
    rewards, _ = round_payments(m, job_id, 1)
    assert copier.address not in rewards and fed.stake(copier) < STAKE
    for nd in honest:
        assert rewards[nd.address] > 0 and fed.stake(nd) == STAKE
