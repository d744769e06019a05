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
