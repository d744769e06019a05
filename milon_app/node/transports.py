"""Peer transports for nodes that share one process (demo, the app's simulated federation).

Each node gets a real libp2p host on loopback (Noise, Yamux, membership
checked on chain), or, for fast tests, a place on one in-process hub.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from milon_app.errors import BadInputError
from milon_app.node.bus import EventBus
from milon_app.node.peers import member_authorizer, peer_resolver, transport_event_sink
from milon_app.p2p.inprocess import InProcessHub

KINDS = ("libp2p", "inprocess")
Factory = Callable[[Any, Any, list[str]], tuple[Any, Any]]


def transport_factory(kind: str, suite: Any, bus: EventBus) -> Factory:
    """``make(account, store, bootstrap) -> (transport, peer resolver or None)``."""
    if kind not in KINDS:
        raise BadInputError(f"transport {kind!r}: expected one of {', '.join(KINDS)}")
    hub = InProcessHub()

    def make(acct: Any, store: Any, bootstrap: list[str]) -> tuple[Any, Any]:
        if kind == "inprocess":
            return hub.transport(acct.address, store, member_authorizer(suite, store)), None
        from milon_app.p2p.host import Libp2pTransport

        transport = Libp2pTransport(
            bytes(acct.key),
            store,
            bootstrap=bootstrap,
            authorize=member_authorizer(suite, store),
            on_event=transport_event_sink(bus, acct.address),
        )
        return transport, peer_resolver(suite)

    return make

