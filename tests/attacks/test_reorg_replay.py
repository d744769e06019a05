"""A reorganisation that drops an honest member's reveal, then its claim (issue 21 item 2).

Whoever can reorganise a few blocks (a block proposer, or luck) can drop a member's reveal
after the member saw it mined. Before: the node took a reveal it had seen as settled for
good, never looked again, and was slashed as a no-show at the end of the round; its next
transaction waited behind the nonce the reorganisation freed until it gave up. Now the node
reads its state until the round closes, sends the dropped transactions again byte for byte
(same nonce: none can land twice), and a claim dropped and sent again pays once.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from milon_app.chain.bindings import AssignmentState
from milon_app.chain.client import ChainClient
from milon_app.chain.devnet import Anvil
from milon_app.chain.errors import ContractRevert
from tests.attacks.nodefed import STAKE, NodeFed, node_federation
from tests.helpers.reorg import reorg

pytestmark = [pytest.mark.anvil]


@pytest.fixture
def fed(tmp_path: Path) -> Iterator[NodeFed]:
    node = Anvil(accounts=6).start()
    try:
        f = node_federation(tmp_path, client=ChainClient.connect(node.url, dev_accounts=6))
        try:
            yield f
        finally:
            f.close()
    finally:
        node.stop()
    assert node.proc is None


def test_reorged_reveal_is_not_slashed_and_a_replayed_claim_pays_once(fed: NodeFed) -> None:
    m = fed.owner.milon
    job_id = fed.job(rounds=1)
    victim = fed.nodes[0]
    victim.batching = False  # its own reveal transaction is what the reorganisation drops
    client = victim.milon.client

    def victim_revealed() -> bool:
        if m.job(job_id).current_round != 1:
            return False
        return m.assignment(job_id, 1, victim.address).state is AssignmentState.REVEALED

    fed.until(victim_revealed, max_s=120, each=True)
    mined = [t.block for t in client.transactions(victim.address) if t.action == "reveal"]
    depth = client.block_number() - mined[-1] + 1
    assert 1 <= depth <= 5
    reorg(fed.client, depth)
    assert m.assignment(job_id, 1, victim.address).state is AssignmentState.COMMITTED
    fed.until(fed.round_closed(job_id, 1), max_s=120, each=True)
    assert m.round(job_id, 1).finalized
    assert m.assignment(job_id, 1, victim.address).state is AssignmentState.REVEALED
    assert fed.stake(victim) == STAKE
    slashed = m.suite.jobs.events.MemberSlashed.get_logs(from_block=0)
    assert victim.address not in [e.args["member"] for e in slashed]

    owed = m.claimable(victim.address)
    assert owed > 0
    before = m.balance(victim.address)
    m.claim(victim.account)
    reorg(fed.client, 1)  # the claim vanishes: what it paid is owed again
    assert m.claimable(victim.address) == owed
    with pytest.raises(ContractRevert) as again:
        m.claim(victim.account)  # the dropped claim is sent first; this one finds nothing
    assert again.value.error_name == "NothingToClaim"
    assert m.balance(victim.address) == before + owed
    assert m.claimable(victim.address) == 0
