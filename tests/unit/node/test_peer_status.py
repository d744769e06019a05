"""``PeerStatus`` says how many peers are connected after the change it reports (the
transport counts them), so a connection never reads ``connected: true, peers: 0``."""

from __future__ import annotations

from milon_app.node.bus import EventBus
from milon_app.node.events import PeerStatus
from milon_app.node.peers import transport_event_sink


def test_peer_status_carries_the_transports_count():
    bus = EventBus()
    sink = transport_event_sink(bus, "0xnode")
    sink("peer_connected", {"peer_id": "16Uiu2HAmA", "peers": 1})
    sink("peer_connected", {"peer_id": "16Uiu2HAmB", "peers": 2})
    sink("peer_disconnected", {"peer_id": "16Uiu2HAmA", "peers": 1})
    got = [e for e in bus.history(PeerStatus) if isinstance(e, PeerStatus)]
    assert [(e.peer_id[-1], e.connected, e.peers) for e in got] == [
        ("A", True, 1),
        ("B", True, 2),
        ("A", False, 1),
    ]
