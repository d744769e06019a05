"""LAN discovery (``p2p.mdns``): py-libp2p's mDNS announces this node on the local network
segment and the node dials the MILON peers it hears about.

Multicast DNS never leaves the segment (routers do not forward 224.0.0.251), so this
finds peers on the same LAN only; peers elsewhere still come from the bootstrap list and
the chain. The service type is ``_p2p-milon._udp.local.`` (the libp2p spec's private
network form), so other libp2p software on the LAN (an IPFS node) is neither announced
to nor dialled. What an announcement can make this node do is bounded: only secp256k1
peer IDs (every MILON peer's, derived from its wallet) on concrete non-loopback TCP
addresses are dialled, a few at a time; Noise then proves the peer ID, and serving
blobs stays gated by the chain (``authorize``), as for every other connection.

py-libp2p's :class:`MDNSDiscovery` is built, registered and closed on worker threads
(zeroconf's calls block for its probes and goodbyes) rather than through ``start()``,
which would block the trio loop and spawn a system task outside the host's nursery.
Zeroconf binds port 5353 on every interface: tests and simulations leave it off.
"""

from __future__ import annotations

import contextlib
import functools
import ipaddress
import logging
import os
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import trio
from libp2p.discovery.events.peerDiscovery import peerDiscovery
from libp2p.discovery.mdns.mdns import MDNSDiscovery, create_mdns_discovery
from libp2p.peer.id import ID
from libp2p.peer.peerinfo import PeerInfo
from multiaddr import Multiaddr

from milon_app.errors import BadInputError
from milon_app.p2p import addresses
from milon_app.p2p.identity import address_of_id

log = logging.getLogger(__name__)

NETWORK_NAME = "milon"  # service type _p2p-milon._udp.local.
ENV_SWITCH = "MILON_MDNS"  # "0": off whatever the config says (the test suite sets it)
MAX_PENDING = 64  # discovered peers waiting for a dial; more are dropped (a noisy LAN)
MAX_DIALS = 4  # dials at once
DIAL_TRIES = 3
RETRY_S = 1.0
CLOSE_TIMEOUT_S = 5.0
Dial = Callable[[PeerInfo], Awaitable[None]]


def wanted(configured: bool) -> bool:
    """``p2p.mdns``, unless ``MILON_MDNS=0`` turns it off for this process and its children."""
    return configured and os.environ.get(ENV_SWITCH, "").strip() != "0"


def _lan_ip(addr: Multiaddr) -> bool:
    """A TCP address on a concrete IP another machine of the segment could dial."""
    names = [p.name for p in addr.protocols()]
    if len(names) < 2 or names[0] not in addresses.IP_PROTOCOLS or names[1] != "tcp":
        return False
    try:
        ip = ipaddress.ip_address(addr.value_for_protocol(names[0]))
    except ValueError:
        return False
    return not (ip.is_loopback or ip.is_unspecified or ip.is_multicast or ip.is_link_local)


def announced_addrs(host: Any, peer_id: str) -> list[str]:
    """What this node announces: its listen addresses (``0.0.0.0`` expanded to the
    interfaces), never ``p2p.announce`` (a LAN peer should dial the LAN address) nor
    loopback. Empty for a node listening on 127.0.0.1 only: such a node is not on the LAN,
    so it runs no mDNS at all (nothing bound on the machine's interfaces, no query sent)."""
    listening = list(host.get_transport_addrs())
    full = addresses.published(peer_id, listening)
    return [a for a in full if _lan_ip(Multiaddr(a.split("/p2p/")[0]))]


def dialable(info: PeerInfo, own: ID) -> PeerInfo | None:
    """``info`` cut to what may be dialled, or None: not this node, a MILON (secp256k1)
    peer ID, concrete non-loopback TCP addresses only."""
    if info.peer_id == own:
        return None
    try:
        address_of_id(info.peer_id)
    except BadInputError:
        return None
    addrs = [a for a in info.addrs if _lan_ip(a)]
    return PeerInfo(info.peer_id, addrs) if addrs else None


class LanDiscovery:
    """Runs mDNS for one host until cancelled; dials what it discovers with ``dial``."""

    def __init__(self, host: Any, own: ID, dial: Dial, is_connected: Callable[[ID], bool]) -> None:
        self._host = host
        self._own = own
        self._dial = dial
        self._is_connected = is_connected
        self._send, self._receive = trio.open_memory_channel[PeerInfo](MAX_PENDING)
        self._token: trio.lowlevel.TrioToken | None = None
        self._pending: set[ID] = set()
        self._discovery: MDNSDiscovery | None = None  # set once open: closed on the way out

    async def run(self) -> None:
        """Announce, listen and dial until cancelled; closes zeroconf on the way out."""
        self._token = trio.lowlevel.current_trio_token()
        ours = announced_addrs(self._host, self._own.to_base58())
        if not ours:  # loopback only: touch no interface of the machine (zeroconf binds all)
            log.info("mDNS is off: this node listens on loopback only (p2p.listen)")
            return
        # The handler list is py-libp2p's module-wide singleton: register before the
        # browser starts (it starts in the constructor), and ignore our own announcement.
        peerDiscovery.register_peer_discovered_handler(self._found)
        try:
            if await self._start(ours):
                await self._dial_loop()
        finally:
            peerDiscovery.unregister_peer_discovered_handler(self._found)
            discovery, self._discovery = self._discovery, None
            if discovery is not None:
                with trio.CancelScope(shield=True), trio.move_on_after(CLOSE_TIMEOUT_S):
                    close = functools.partial(_close, discovery, bool(ours))
                    # trio 0.35's name; the installed trio-typing stubs still say `cancellable`
                    await trio.to_thread.run_sync(close, abandon_on_cancel=True)  # type: ignore[call-arg]

    async def _start(self, ours: Sequence[str]) -> bool:
        """Browse, and announce ``ours``; False (logged) where the machine offers no multicast
        (no interface up, port 5353 refused): the node goes on without LAN discovery."""
        try:
            discovery = await trio.to_thread.run_sync(self._open, ours)
        except Exception as exc:  # zeroconf raises OSError and its own errors here
            log.warning("mDNS is off: zeroconf could not start (%s: %s)", type(exc).__name__, exc)
            return False
        await trio.to_thread.run_sync(discovery.broadcaster.register)  # logs its own errors
        log.info("mDNS: announcing %s on the LAN", " ".join(ours))
        return True

    def _open(self, ours: Sequence[str]) -> MDNSDiscovery:
        """On a worker thread; kept on ``self`` here, so a stop that lands meanwhile (the
        thread is not abandoned) still closes it."""
        port = Multiaddr(ours[0].split("/p2p/")[0]).value_for_protocol("tcp") if ours else 0
        self._discovery = create_mdns_discovery(
            self._host.get_network(),
            port=int(port),  # for the A-record fallback; the TXT addresses carry the real ones
            listen_addrs=list(ours),
            private_network_fingerprint=NETWORK_NAME,
        )
        return self._discovery

    def _found(self, info: PeerInfo) -> None:
        """Called on zeroconf's browser thread: hand the peer to the trio loop."""
        token = self._token
        if token is not None:
            with contextlib.suppress(trio.RunFinishedError):
                token.run_sync_soon(self._queue, info)

    def _queue(self, info: PeerInfo) -> None:
        usable = dialable(info, self._own)
        if usable is None or usable.peer_id in self._pending:
            return
        try:
            self._send.send_nowait(usable)
            self._pending.add(usable.peer_id)
        except (trio.WouldBlock, trio.ClosedResourceError):
            log.debug("mDNS: %s dropped, %d peers already waiting", info.peer_id, MAX_PENDING)

    async def _dial_loop(self) -> None:
        limit = trio.Semaphore(MAX_DIALS)
        async with trio.open_nursery() as nursery:
            async for info in self._receive:
                await limit.acquire()
                nursery.start_soon(self._connect, info, limit)

    async def _connect(self, info: PeerInfo, limit: trio.Semaphore) -> None:
        try:
            for attempt in range(DIAL_TRIES):
                if self._is_connected(info.peer_id):
                    return
                try:
                    await self._dial(info)
                    log.info("mDNS: connected to %s on the LAN", info.peer_id)
                    return
                except Exception as exc:  # a dial failure of any kind: try again, then drop
                    log.info("mDNS: dialling %s failed (%s)", info.peer_id, exc)
                    await trio.sleep(RETRY_S * 2**attempt)
        finally:
            self._pending.discard(info.peer_id)
            limit.release()


def _close(discovery: MDNSDiscovery, registered: bool) -> None:
    """Goodbye packets, browsers stopped, sockets closed (``MDNSDiscovery.stop`` without
    the cleanup task ``run`` never started)."""
    if registered:
        discovery.broadcaster.unregister()
    discovery.listener.stop()
    discovery.zeroconf.close()


async def run_lan_discovery(
    host: Any, own: ID, dial: Dial, is_connected: Callable[[ID], bool]
) -> None:
    """The task :mod:`milon_app.p2p.host` starts in its nursery when ``p2p.mdns`` is on."""
    await LanDiscovery(host, own, dial, is_connected).run()
