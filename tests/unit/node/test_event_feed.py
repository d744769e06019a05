"""Nodes of one process on one chain client share one read of the chain's events
(event_feed.py): each still sees every event once, in order, from its own block."""

from __future__ import annotations

from milon_app.chain.client import ChainClient
from milon_app.chain.deploy import deploy_suite
from milon_app.node.event_feed import cursor_for


def _transfers(events) -> list[int]:
    return [e.args["value"] for e in events if e.name == "Transfer"]


def test_cursors_on_one_client_share_reads_and_keep_their_own_positions(monkeypatch):
    client = ChainClient.embedded()
    owner, a, b = client.dev_accounts[:3]
    suite = deploy_suite(client, owner, dev=True)
    reads: list[tuple[int, int]] = []
    real_get_logs = client.get_logs

    def counting(fetch, start, end):
        reads.append((start, end))
        return real_get_logs(fetch, start, end)

    monkeypatch.setattr(client, "get_logs", counting)
    start = client.block_number() + 1
    early, late = (cursor_for(client, suite.by_name(), start) for _ in range(2))
    for value in (1, 2):
        client.transact(suite.token.functions.transfer(a.address, value), owner)
    assert _transfers(early.poll()) == [1, 2]
    assert _transfers(late.poll()) == [1, 2]  # held for it, not read again
    assert len(reads) == 1
    assert early.poll() == [] and early.next_block == late.next_block

    client.transact(suite.token.functions.transfer(b.address, 3), owner)
    early.close()  # a stopped node no longer holds events back
    assert _transfers(late.poll()) == [3]
    assert len(reads) == 2
    # a cursor from a block the feed dropped gets a feed of its own, and all of its events
    again = cursor_for(client, suite.by_name(), start)
    assert _transfers(again.poll()) == [1, 2, 3]


def test_a_cursor_sees_every_event_up_to_the_state_the_clients_reads_see():
    """Another node of the process polled just before a write of this client: the next poll,
    even at once, has the write's events (the feed follows the client's head, not a timer;
    a node that read a job as completed saw no reward events for up to 0.25 s before)."""
    client = ChainClient.embedded()
    owner, a = client.dev_accounts[:2]
    suite = deploy_suite(client, owner, dev=True)
    start = client.block_number() + 1
    first, second = (cursor_for(client, suite.by_name(), start) for _ in range(2))
    client.transact(suite.token.functions.transfer(a.address, 1), owner)
    assert _transfers(first.poll()) == [1]
    client.transact(suite.token.functions.transfer(a.address, 2), owner)
    assert _transfers(second.poll()) == [1, 2]
    assert _transfers(first.poll()) == [2]
