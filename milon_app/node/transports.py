"""Peer transports: the one place that turns a kind of transport into a factory.

Each node gets a real libp2p host (Noise, Yamux, membership checked on
chain), or, for nodes that share one process in fast tests, a place on one
in-process hub. :func:`build_node <milon_app.node.build.build_node>` calls
the factory; the daemon and the desktop app on a real network take it from
the config (:func:`config_transport_factory`).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from milon_app.errors import BadInputError, ConfigError
from milon_app.node.bus import EventBus
from milon_app.node.peers import member_authorizer, peer_resolver, transport_event_sink
from milon_app.p2p.inprocess import InProcessHub

if TYPE_CHECKING:
    from milon_app.config import Config

KINDS = ("libp2p", "inprocess")
LOOPBACK = ("/ip4/127.0.0.1/tcp/0",)  # a free port on this machine only
Factory = Callable[[Any, Any, list[str]], tuple[Any, Any]]


def transport_factory(
    kind: str,
    suite: Any,
    bus: EventBus,
    *,
    listen: Sequence[str] | None = None,
    announce: Sequence[str] = (),
    mdns: bool = False,
    hub: InProcessHub | None = None,
    nat: tuple[str, str] = ("auto", "auto"),
    dht: bool = False,
) -> Factory:
    """``make(account, store, bootstrap) -> (transport, peer resolver or None)``; libp2p hosts
    listen on ``listen`` (default: a free port on 127.0.0.1) and publish ``announce`` when
    given (and find LAN peers by mDNS with ``mdns``), in-process peers share ``hub``
    (default: a new one); ``nat`` is (``p2p.reachability``, ``p2p.relay``); ``dht`` runs
    Kademlia provider records (``p2p.dht``; off for many hosts in one process)."""
    if kind not in KINDS:
        raise BadInputError(f"transport {kind!r}: expected one of {', '.join(KINDS)}")
    hub = hub if hub is not None else InProcessHub()
    resolver = _SharedResolver(suite)

    def make(acct: Any, store: Any, bootstrap: list[str]) -> tuple[Any, Any]:
        if kind == "inprocess":
            return hub.transport(acct.address, store, member_authorizer(suite, store)), None
        from milon_app.p2p.host import Libp2pTransport

        transport = Libp2pTransport(
            bytes(acct.key),
            store,
            listen=list(listen) if listen is not None else LOOPBACK,
            bootstrap=bootstrap,
            announce=list(announce),
            authorize=member_authorizer(suite, store),
            on_event=transport_event_sink(bus, acct.address),
            mdns=mdns,
            reachability=nat[0],
            relay=nat[1],
            dht=dht,
        )
        return transport, resolver.get()

    return make


class _SharedResolver:
    """One :func:`peer_resolver` for every node a factory makes: they read the same chain, so
    n nodes in one process (``milon demo``) need not each read every member's peer info
    (n² calls a round) nor each poll the registry's events every second."""

    def __init__(self, suite: Any) -> None:
        self._suite = suite
        self._lock = threading.Lock()
        self._resolve: Callable[[str], str | None] | None = None

    def get(self) -> Callable[[str], str | None]:
        with self._lock:
            if self._resolve is None:
                self._resolve = peer_resolver(self._suite)
            return self._resolve


def config_transport_factory(cfg: Config, suite: Any, bus: EventBus) -> Factory:
    """The transport of a node that other processes reach (daemon, the app on a real
    network): libp2p on ``p2p.listen``; nothing else crosses processes."""
    kind = cfg.p2p.transport
    if kind != "libp2p":
        raise ConfigError(f"p2p.transport {kind!r}: a daemon needs 'libp2p'")
    nat = (cfg.p2p.reachability, cfg.p2p.relay)
    from milon_app.p2p.mdns import wanted

    return transport_factory(
        kind, suite, bus, listen=[cfg.p2p.listen], announce=cfg.p2p.announce, nat=nat,
        mdns=wanted(cfg.p2p.mdns), dht=cfg.p2p.dht,
    )  # fmt: skip
