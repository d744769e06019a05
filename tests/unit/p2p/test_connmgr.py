"""A host dials only whom MILON asks for: knowing a peer's address is no reason to connect.

py-libp2p's auto-connector would dial every peer in the peerstore (it aims at 150
connections), turning a federation into a full mesh (:mod:`milon_app.p2p.connmgr`).
"""

from __future__ import annotations

from libp2p.peer.id import ID
from multiaddr import Multiaddr

from milon_app.p2p.connmgr import NoAutoDial


async def _auto_connect(peer) -> None:
    await peer._host.get_network().auto_connector.maybe_connect()


async def _is_no_auto_dial(peer) -> bool:
    return isinstance(peer._host.get_network().auto_connector, NoAutoDial)


def test_a_known_address_is_not_dialled_by_the_auto_connector(make_peer):
    hub = make_peer("hub")
    a = make_peer("a", bootstrap=hub.listen_addrs())
    b = make_peer("b", bootstrap=hub.listen_addrs())
    b_id = ID.from_base58(b.peer_id)
    addrs = [Multiaddr(x.rsplit("/p2p/", 1)[0]) for x in b.listen_addrs()]
    a.call(_remember, a, b_id, addrs)
    a.call(_auto_connect, a)  # what the swarm runs every 10-30 s and after a disconnect
    assert not a.is_connected(b_id)
    a.connect(b.listen_addrs()[0])  # an explicit dial still connects
    assert a.is_connected(b_id)
    assert a.call(_is_no_auto_dial, a)


async def _remember(peer, pid: ID, addrs: list[Multiaddr]) -> None:
    peer.remember_addrs(pid, addrs, 600)


def test_a_dial_ends_once_its_connection_is_up(make_peer, monkeypatch):
    """py-libp2p's happy-eyeballs dial waits its fallback delay (250 ms) after a success unless
    the peer's connection limit is reached; with one connection a peer it always is. The
    delay is made a minute long here: a dial that waited it would run into connect's 10 s
    timeout."""
    import libp2p.network.swarm as swarm

    monkeypatch.setattr(swarm, "_HAPPY_EYEBALLS_DELAY", 60.0)
    hub, a = make_peer("hub"), make_peer("a")
    assert a.connect(hub.listen_addrs()[0], timeout_s=10.0) == hub.peer_id
    assert a.is_connected(ID.from_base58(hub.peer_id))


def test_peers_dialling_each_other_at_once_both_fetch(make_peer):
    """Two connections between one pair (each side dialled) are kept, and blobs move both
    ways over them."""
    import threading

    a, b = make_peer("a"), make_peer("b")
    da, db = a.store.put(b"from a" * 100, kind="weights"), b.store.put(b"from b" * 100, "weights")
    a.provide(da, announce=False)
    b.provide(db, announce=False)
    dials = [
        threading.Thread(target=a.connect, args=(b.listen_addrs()[0],)),
        threading.Thread(target=b.connect, args=(a.listen_addrs()[0],)),
    ]
    for t in dials:
        t.start()
    for t in dials:
        t.join(30)
    assert a.fetch(db, kind="weights", providers=[b.peer_id]) == db
    assert b.fetch(da, kind="weights", providers=[a.peer_id]) == da
    assert a.store.get(db) == b"from b" * 100 and b.store.get(da) == b"from a" * 100
