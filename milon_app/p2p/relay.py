"""Circuit relay v2 and hole punching (DCUtR) for a :class:`~milon_app.p2p.host.Libp2pTransport`.

Every host runs a ``CircuitV2Protocol`` (the STOP side: it accepts relayed connections;
the HOP side too when it serves as a relay, with the limits below) and a ``DCUtRProtocol``
(both sides of a relayed connection try a direct one: TCP simultaneous open). A private
node reserves a slot on each bootstrap peer, and publishes
``<relay addr>/p2p/<relay>/p2p-circuit/p2p/<self>`` first. py-libp2p's ``host.connect``
silently drops ``/p2p-circuit`` addresses (no relay transport is registered with the
swarm), so :meth:`NatTraversal.dial` dials them through ``CircuitV2Transport`` itself.
Streams go over the best connection (py-libp2p prefers a direct one over a relayed one),
so once a hole punch succeeded blobs move over the direct connection.
"""

from __future__ import annotations

import contextlib
import logging
import math
import threading
from collections.abc import AsyncIterator, Callable, Sequence
from typing import Any

import trio
from libp2p.abc import IHost, INetConn
from libp2p.peer.id import ID
from libp2p.peer.peerinfo import PeerInfo
from libp2p.relay.circuit_v2.config import RelayConfig, RelayRole
from libp2p.relay.circuit_v2.dcutr import DCUtRProtocol
from libp2p.relay.circuit_v2.protocol import PROTOCOL_ID as HOP_PROTOCOL
from libp2p.relay.circuit_v2.protocol import CircuitV2Protocol
from libp2p.relay.circuit_v2.resources import RelayLimits
from libp2p.relay.circuit_v2.transport import CircuitV2Transport
from libp2p.tools.anyio_service import background_trio_service
from multiaddr import Multiaddr

from milon_app.p2p.addresses import CIRCUIT, is_circuit
from milon_app.p2p.reachability import Reach

log = logging.getLogger(__name__)

# -- what a relay grants (docs/p2p.md) ---------------------------------------------------
MAX_RESERVATIONS = 64  # private nodes holding a slot at once
RESERVATION_TTL_S = 3600  # a slot's life; the holder refreshes it before it ends
MAX_CIRCUIT_CONNS = 16  # relayed connections at once per reservation
CIRCUIT_DURATION_S = 30 * 60  # one relayed connection's life; a later fetch dials again
CIRCUIT_BYTES = 512 * 1024 * 1024  # bytes one relayed connection may carry (each way)
# py-libp2p 0.8.1 defines a per-circuit bandwidth cap but does not enforce it: none is set.
LIMITS = RelayLimits(
    duration=CIRCUIT_DURATION_S,
    data=CIRCUIT_BYTES,
    max_circuit_conns=MAX_CIRCUIT_CONNS,
    max_reservations=MAX_RESERVATIONS,
    reservation_ttl=RESERVATION_TTL_S,
)

# -- the client side -----------------------------------------------------------------------
DIRECT_FIRST_S = 3.0  # a direct dial tried before a relayed address of the same peer
RESERVE_TIMEOUT_S = 15.0
RETRY_MIN_S = 5.0
RETRY_MAX_S = 300.0
CHECK_INTERVAL_S = 0.5


def is_relayed(conn: INetConn) -> bool:
    """Whether a swarm connection runs through a relay (its addresses name a circuit)."""
    with contextlib.suppress(Exception):
        if any(is_circuit(a) for a in conn.get_transport_addresses()):
            return True
    raw = getattr(getattr(conn, "muxed_conn", None), "secured_conn", None)
    with contextlib.suppress(Exception):
        return any(is_circuit(a) for a in raw.get_transport_addresses())  # type: ignore[union-attr]
    return False


class NatTraversal:
    """One per host: its relay services, its reservations and which peers it hole-punched.
    Reads (:meth:`reach`, :meth:`circuit_addrs`) are thread-safe."""

    def __init__(
        self,
        peer_id: str,
        *,
        public: bool,
        hop: bool,
        relays: Sequence[PeerInfo] = (),
        on_change: Callable[[Reach], None] | None = None,
    ) -> None:
        self.peer_id, self.public, self.hop = peer_id, public, hop
        self._proto: CircuitV2Protocol | None = None
        self._relays = [r for r in relays if r.peer_id.to_base58() != peer_id]
        self._on_change = on_change
        self._transport: CircuitV2Transport | None = None
        self._lock = threading.Lock()
        self._reserved: dict[str, str] = {}  # relay peer id -> its circuit address (no /p2p/self)
        self._punched: set[str] = set()

    # -- services ------------------------------------------------------------------------
    @contextlib.asynccontextmanager
    async def running(self, host: IHost) -> AsyncIterator[None]:
        """Runs the relay protocol (HOP only when serving) and DCUtR while the block runs."""
        proto = CircuitV2Protocol(host, limits=LIMITS, allow_hop=self.hop)
        dcutr = DCUtRProtocol(host)
        async with background_trio_service(proto), background_trio_service(dcutr):
            await proto.event_started.wait()
            await dcutr.event_started.wait()
            self._transport = CircuitV2Transport(host, proto, RelayConfig(roles=RelayRole.STOP))
            self._proto = proto
            try:
                yield
            finally:
                self._transport = self._proto = None
                with self._lock:
                    self._reserved.clear()

    def start_reserving(
        self, nursery: trio.Nursery, host: IHost, is_connected: Callable[[ID], bool]
    ) -> None:
        """Keeps a reservation on each bootstrap peer while connected to it and private."""
        for info in self._relays:
            nursery.start_soon(self._keep_reserved, host, info, is_connected)

    def set_public(self, public: bool, hop: bool) -> None:
        """A dial-back verdict (:mod:`milon_app.p2p.dialback`): reservations are dropped or
        taken by :meth:`_keep_reserved` within :data:`CHECK_INTERVAL_S`; ``hop``: whether to
        serve as a relay when that is the verdict (``p2p.relay``)."""
        if public == self.public:
            return
        self.public, self.hop = public, hop
        if self._proto is not None:
            self._proto.allow_hop = self.hop
        log.info("reachability: now %s", "public" if public else "private")
        self._changed()

    async def _keep_reserved(
        self, host: IHost, info: PeerInfo, is_connected: Callable[[ID], bool]
    ) -> None:
        retry = RETRY_MIN_S
        while True:
            while self.public or not is_connected(info.peer_id):
                await trio.sleep(CHECK_INTERVAL_S)
            async with trio.open_nursery() as held:  # the reservation's refresh task runs here
                reserved = await self._reserve(host, info, held)
                while reserved and not self.public and is_connected(info.peer_id):
                    await trio.sleep(CHECK_INTERVAL_S)
                held.cancel_scope.cancel()
            if reserved:
                retry = RETRY_MIN_S
                self._set_reserved(info.peer_id.to_base58(), None)  # gone, or no longer needed
            else:
                await trio.sleep(retry)
                retry = min(retry * 2, RETRY_MAX_S)

    async def _reserve(self, host: IHost, info: PeerInfo, nursery: trio.Nursery) -> bool:
        transport = self._transport
        if transport is None:
            return False
        try:
            with trio.fail_after(RESERVE_TIMEOUT_S):
                stream = await host.new_stream(info.peer_id, [HOP_PROTOCOL])
                try:
                    ok = await transport.reserve(stream, info.peer_id, nursery)
                finally:
                    with contextlib.suppress(Exception):
                        await stream.close()
        except Exception as exc:
            log.info("no relay reservation on %s: %s: %s", info.peer_id, type(exc).__name__, exc)
            return False
        if not ok:
            log.info("relay %s refused a reservation", info.peer_id)
            return False
        relay = info.peer_id.to_base58()
        direct = [a for a in info.addrs if not is_circuit(a)]
        if not direct:
            return False
        self._set_reserved(relay, f"{direct[0]}/p2p/{relay}{CIRCUIT}")
        log.info("reserved a relay slot on %s", relay)
        return True

    def _set_reserved(self, relay: str, addr: str | None) -> None:
        with self._lock:
            if addr is None:
                if self._reserved.pop(relay, None) is None:
                    return
            else:
                self._reserved[relay] = addr
        self._changed()

    # -- dialling --------------------------------------------------------------------------
    async def dial(self, host: IHost, info: PeerInfo) -> None:
        """Dial ``info``: its direct addresses first (briefly when it also has relayed ones),
        then each relayed address through the circuit transport."""
        circuits = [a for a in info.addrs if is_circuit(a)]
        direct = [a for a in info.addrs if not is_circuit(a)]
        failure: Exception | None = None
        if direct:
            try:
                with trio.fail_after(DIRECT_FIRST_S if circuits else math.inf):
                    await host.connect(PeerInfo(info.peer_id, direct))
                return
            except Exception as exc:  # trio.TooSlowError included
                failure = exc
        for addr in circuits:
            try:
                await self._dial_circuit(addr, info.peer_id)
                return
            except Exception as exc:
                failure = exc
        if failure is None:
            raise ConnectionError("no address to dial")
        raise failure

    async def _dial_circuit(self, addr: Multiaddr, peer: ID) -> None:
        transport = self._transport
        if transport is None:
            raise ConnectionError("the relay transport is not running")
        full = Multiaddr(f"{addr}/p2p/{peer.to_base58()}")
        await transport.dial(full)

    # -- state -------------------------------------------------------------------------------
    def connected(self, network: Any, conn: INetConn) -> None:
        """A direct connection to a peer already reached through a relay is a hole punch."""
        peer = conn.muxed_conn.peer_id
        if is_relayed(conn):
            return
        others = [c for c in network.get_connections(peer) if c is not conn]
        if any(is_relayed(c) for c in others):
            with self._lock:
                self._punched.add(peer.to_base58())
            log.info("direct connection to %s after a hole punch", peer)
            self._changed()

    def circuit_addrs(self) -> list[str]:
        """This node's relayed addresses, ``.../p2p-circuit/p2p/<self>``."""
        with self._lock:
            return [f"{a}/p2p/{self.peer_id}" for a in self._reserved.values()]

    def reach(self) -> Reach:
        with self._lock:
            reserved = sorted(self._reserved.items())
            punched = tuple(sorted(self._punched))
        if self.public:
            mode, relay, addr = "public", "", ""
        elif reserved:
            mode, (relay, addr) = "relay", reserved[0]
            addr = f"{addr}/p2p/{self.peer_id}"
        else:
            mode, relay, addr = "private", "", ""
        return Reach(mode, relay, addr, self.hop, punched)

    def _changed(self) -> None:
        if self._on_change is not None:
            self._on_change(self.reach())
