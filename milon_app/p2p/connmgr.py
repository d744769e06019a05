"""Which connections a MILON host opens: only the ones MILON asks for.

py-libp2p's swarm runs an auto-connector (go-libp2p's connection-manager
background dialer): below its target of 150 connections it dials every peer
its peerstore has an address for, every 10-30 s and after each disconnect.
Every peer a node hears of (identify, ``have`` announcements, providers)
lands in the peerstore, so in a federation of fewer than 150 members each
host ends up connected to every other one: n²/2 Noise+Yamux handshakes,
each with its identify exchange, GossipSub hello and RTT pinger. With 64
hosts in one process (``milon demo``) that full mesh of 2,016 connections
cost more CPU than the round's training and aggregation together.

MILON's own dials cover what a node needs: its bootstrap peers, kept
connected (:func:`milon_app.p2p.discovery.keep_connected`), a blob's
providers dialled on demand (:mod:`milon_app.p2p.fetch`), mDNS peers, relays.
So the auto-connector is swapped for one that never dials.

A dial also returns as soon as its connection is up (:func:`connection_config`):
py-libp2p's happy-eyeballs dial waits 250 ms for a fallback address after the
first one succeeded unless the peer's connection limit is reached, and with its
default of 3 connections a peer it never is. A committee seat fetching 61
updates from 61 authors paid that wait 61 times: 15 s of its round, idle.
"""

from __future__ import annotations

import logging
from typing import Any

from libp2p.network.auto_connector import AutoConnector
from libp2p.network.config import ConnectionConfig

log = logging.getLogger(__name__)


class NoAutoDial(AutoConnector):
    """Keeps the swarm's bookkeeping calls (start, stop, record_disconnect) and dials nothing."""

    async def maybe_connect(self) -> None:
        return None


def connection_config() -> ConnectionConfig:
    """One connection a peer: a dial ends when it is up (see the module docstring). Two
    peers dialling each other at once keep both connections (a new one is never trimmed
    within the config's grace period, and later only past the global limit)."""
    return ConnectionConfig(max_connections_per_peer=1)


def disable_auto_dial(host: Any) -> None:
    """Swap ``host``'s auto-connector before the host runs (a no-op on a swarm without one)."""
    network = host.get_network()
    current = getattr(network, "auto_connector", None)
    if isinstance(current, AutoConnector) and not isinstance(current, NoAutoDial):
        network.auto_connector = NoAutoDial(network, current.auto_connect_interval)
    elif current is None:
        log.debug("this libp2p swarm has no auto-connector to disable")
