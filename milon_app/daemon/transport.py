"""Pick the daemon's peer transport from the config (libp2p; nothing else crosses processes)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from milon_app.config import Config
from milon_app.errors import ConfigError
from milon_app.node.bus import EventBus
from milon_app.node.peers import member_authorizer, peer_resolver, transport_event_sink
from milon_app.store.blobs import BlobStore


def make_transport(
    cfg: Config, private_key: bytes, store: BlobStore, suite: Any, bus: EventBus, address: str
) -> tuple[Any, Callable[[str], str | None]]:
    kind = cfg.p2p.transport
    if kind != "libp2p":
        raise ConfigError(f"p2p.transport {kind!r}: a daemon needs 'libp2p'")
    from milon_app.p2p.host import Libp2pTransport

    transport = Libp2pTransport(
        bytes(private_key),
        store,
        listen=[cfg.p2p.listen],
        bootstrap=list(cfg.p2p.bootstrap),
        authorize=member_authorizer(suite, store),
        on_event=transport_event_sink(bus, address),
    )
    return transport, peer_resolver(suite)
