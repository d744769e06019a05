"""Where a member's blobs live follows what it registered on chain, without a stale cache.

A member restarted from its folder listens on a new port and re-registers its
peer info. The soak run found validators still dialling the old port from the
resolver's 30 s cache, marking the member's update unavailable and slashing an
honest node; the resolver now drops an address when the registry announces a change.
"""

from __future__ import annotations

import pytest

from milon_app.node import peers
from tests.unit.contracts.helpers import create_federation, join, tx

OLD = "/ip4/127.0.0.1/tcp/4101/p2p/16Uiu2HAmOld"
NEW = "/ip4/127.0.0.1/tcp/4202/p2p/16Uiu2HAmNew"


@pytest.fixture
def no_check_delay(monkeypatch):
    monkeypatch.setattr(peers, "PEER_INFO_CHECK_S", 0.0)


def test_resolver_follows_a_member_that_re_registers(client, suite, accounts, no_check_delay):
    member = accounts[2]
    fed = create_federation(client, suite, accounts[1])
    join(client, suite, member, fed, peer=f"node {OLD}")
    resolve = peers.peer_resolver(suite)
    assert resolve(member.address) == OLD
    tx(client, suite.registry.functions.updateMember(fed, 1, f"node {NEW}"), member)
    assert resolve(member.address) == NEW


def test_resolver_caches_while_nothing_changes(client, suite, accounts, no_check_delay):
    member, other = accounts[2], accounts[3]
    fed = create_federation(client, suite, accounts[1])
    join(client, suite, member, fed, peer=f"node {OLD}")
    resolve = peers.peer_resolver(suite)
    assert resolve(member.address) == OLD
    calls = client.call  # count chain reads for lookups: none while nothing changed
    seen: list[object] = []
    client.call = lambda fn, *a, **k: seen.append(fn) or calls(fn, *a, **k)
    try:
        join(client, suite, other, fed, peer=f"node {NEW}")  # someone else: member stays cached
        seen.clear()
        assert resolve(member.address) == OLD
        assert seen == []
    finally:
        client.call = calls
