"""Reorganisations in the middle of a round, on a real anvil (issue 21 item 2).

``anvil_reorg(depth, [])`` replaces the newest ``depth`` blocks with empty ones: the
transactions in them vanish, not even back in the pool, and each sender's nonce on chain
falls back. A node must notice that a commit, reveal or verdict of its own is undone, send
it again with the same content, and the round must finalize with every honest member paid
once and its stake kept. A step counts as done only once its block is
``chain.confirmations`` deep and still canonical. Every anvil is stopped.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from milon_app.chain.bindings import AssignmentState
from milon_app.chain.client import ChainClient
from milon_app.chain.confirmations import Receipts, Status, confirmed_block
from milon_app.chain.devnet import Anvil
from milon_app.chain.verdicts import round_payments
from milon_app.node.core import NodeCore
from tests.attacks.nodefed import STAKE, NodeFed, node_federation
from tests.helpers.reorg import reorg

pytestmark = [pytest.mark.anvil]
DEPTH = 2  # chain.confirmations of the round's nodes


@pytest.fixture
def anvil() -> Iterator[Anvil]:
    node = Anvil(accounts=6).start()
    try:
        yield node
    finally:
        node.stop()
    assert node.proc is None


def test_confirmations_wait_for_depth_and_see_a_dropped_block(anvil: Anvil) -> None:
    """With confirmations=3 a receipt is pending until three blocks lie on it, then final;
    a reorganisation that replaces its block makes it dropped (and forgotten)."""
    client = ChainClient.connect(anvil.url, dev_accounts=2, confirmations=3)
    a, b = client.dev_accounts
    receipts = Receipts(client, client.confirmations)
    receipts.note("pay", client.send_eth(a, b.address, 1))
    seen = []
    for _ in range(3):
        seen.append(receipts.status("pay"))
        client.mine(1)
    assert seen == [Status.PENDING] * 3
    assert receipts.status("pay") is Status.FINAL
    assert confirmed_block(client, 3) == client.block_number() - 3
    reorg(client, 4)  # the receipt's block and the three on it
    assert receipts.status("pay") is Status.DROPPED
    assert receipts.status("pay") is None


def test_dropped_transactions_come_back_once(anvil: Anvil) -> None:
    """Three transfers mined, the last two dropped by a reorganisation: the sender's next
    transfer sends the dropped ones again, byte for byte, so all four land exactly once."""
    client = ChainClient.connect(anvil.url, dev_accounts=2)
    a, b = client.dev_accounts
    before = client.balance(b.address)
    for amount in (1, 2, 4):
        client.send_eth(a, b.address, amount)
    reorg(client, 2)
    assert client.balance(b.address) == before + 1
    t0 = time.monotonic()
    client.send_eth(a, b.address, 8)
    assert time.monotonic() - t0 < 10
    assert client.balance(b.address) == before + 1 + 2 + 4 + 8
    assert client.w3.eth.get_transaction_count(a.address) == 4


@pytest.fixture
def fed(anvil: Anvil, tmp_path: Path) -> Iterator[NodeFed]:
    client = ChainClient.connect(anvil.url, dev_accounts=6, confirmations=DEPTH)
    f = node_federation(tmp_path, client=client)
    for nd in f.everyone:  # each member's own transactions are what the reorganisations drop
        nd.batching = False
    yield f
    f.close()


def test_commit_reveal_and_verdict_reorged_out_are_sent_again(fed: NodeFed) -> None:
    """Three reorganisations in one round: after the commits (dropping the last ones),
    after the reveals, after the first verdict. Each dropped step is sent again, the
    round finalizes, every member is credited once and keeps its stake. In between, with
    confirmations=2, the member whose commit landed last reveals only once two blocks lie
    on it."""
    m = fed.owner.milon
    jobs = m.suite.jobs.events
    job_id = fed.job(rounds=1)

    def rnd():  # type: ignore[no-untyped-def]
        return m.round(job_id, 1)

    def started() -> bool:
        return m.job(job_id).current_round == 1

    def state(node: NodeCore) -> AssignmentState:
        return m.assignment(job_id, 1, node.address).state

    fed.until(lambda: started() and rnd().committed_count == 4, max_s=120, each=True)
    reorg(fed.client, 2)
    assert rnd().committed_count < 4  # a commit vanished
    fed.until(lambda: rnd().committed_count == 4, max_s=120, each=True)
    last = max(jobs.UpdateCommitted.get_logs(from_block=0), key=lambda e: e.blockNumber)
    on_it = fed.client.block_number() - last.blockNumber  # blocks already on the last commit
    assert on_it < DEPTH
    latest = next(nd for nd in fed.nodes if nd.address == last.args["member"])
    for _ in range(DEPTH - on_it):
        latest.tick()  # reveals are open, but its commit is not DEPTH deep yet
        assert state(latest) is AssignmentState.COMMITTED
        fed.client.mine(1)
    latest.tick()
    assert state(latest) is AssignmentState.REVEALED
    fed.until(lambda: rnd().revealed_count == 4, max_s=120, each=True)
    reorg(fed.client, 2)
    assert rnd().revealed_count < 4  # a reveal vanished
    fed.until(lambda: rnd().voted_count >= 1, max_s=120, each=True)
    reorg(fed.client, 1)
    assert rnd().voted_count == 0  # the verdict vanished
    fed.until(fed.round_closed(job_id, 1), max_s=120, each=True)
    assert rnd().finalized
    rewards, _ = round_payments(m, job_id, 1)
    credited = [e.args["member"] for e in jobs.RewardCredited.get_logs(from_block=0)]
    for nd in fed.nodes:
        assert state(nd) is AssignmentState.REVEALED
        assert credited.count(nd.address) == 1 and rewards[nd.address] > 0
        assert fed.stake(nd) == STAKE
    assert not jobs.MemberSlashed.get_logs(from_block=0)
