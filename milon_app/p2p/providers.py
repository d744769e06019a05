"""Kademlia provider records: "who has digest X" beyond the peers this node already knows.

One :class:`ProviderRecords` per host (``p2p.dht``). A publicly reachable node runs the DHT
in SERVER mode (it stores other nodes' records and answers lookups); a private one in
CLIENT mode (it provides and looks up, but peers cannot dial it for queries). py-libp2p
0.8.1 does not fill the routing table by itself: every connected peer whose identify says
it speaks the Kademlia protocol is added (bootstrap peers are dialled on start, so they
land here too). A record lives 48 h on the nodes that store it; this node provides each
digest again every :data:`REPROVIDE_S` and whenever its routing table gains a peer while a
provide reached nobody, so records outlive neither the blob nor a node restart by long.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import AsyncIterator
from typing import Any

import trio
from libp2p.abc import IHost
from libp2p.kad_dht.common import PROTOCOL_ID
from libp2p.kad_dht.kad_dht import DHTMode, KadDHT
from libp2p.peer.id import ID
from libp2p.peer.peerinfo import PeerInfo
from libp2p.tools.anyio_service import background_trio_service

from milon_app.store.blobs import check_digest

log = logging.getLogger(__name__)

SHA256_MULTIHASH = "1220"  # multihash code 0x12 (sha2-256), length 0x20
IDENTIFY_WAIT_S = 5.0  # how long a new connection may take to say what it speaks
IDENTIFY_POLL_S = 0.1
REPROVIDE_S = 3600.0  # well inside the 48 h a record lives on the nodes storing it
LOOKUP_TIMEOUT_S = 10.0
MAX_PROVIDERS = 20


def dht_key(digest: str) -> str:
    """The blob's sha256 as a hex multihash (what a CID of the raw bytes would carry)."""
    return SHA256_MULTIHASH + check_digest(digest)


class ProviderRecords:
    """The DHT of one host; every ``async`` method runs on that host's trio loop."""

    def __init__(self, own: ID, *, server: bool) -> None:
        self._own = own
        self.mode = DHTMode.SERVER if server else DHTMode.CLIENT
        self._dht: KadDHT | None = None
        self._nursery: trio.Nursery | None = None
        self._lock = threading.Lock()
        self._digests: set[str] = set()
        self._unplaced: set[str] = set()  # provided while no peer could store the record

    @contextlib.asynccontextmanager
    async def running(self, host: IHost) -> AsyncIterator[None]:
        """Runs the DHT service and the re-provide loop while the block runs."""
        dht = KadDHT(host, self.mode)
        async with background_trio_service(dht), trio.open_nursery() as nursery:
            self._dht, self._nursery = dht, nursery
            nursery.start_soon(self._reprovide_forever)
            try:
                yield
            finally:
                self._dht = self._nursery = None
                nursery.cancel_scope.cancel()

    def routing_size(self) -> int:
        dht = self._dht
        return 0 if dht is None else dht.get_routing_table_size()

    # -- the routing table -------------------------------------------------------------------
    def connected(self, host: IHost, peer: ID) -> None:
        """A new connection: add the peer once identify shows it serves the DHT."""
        nursery = self._nursery
        if nursery is not None and peer != self._own:
            nursery.start_soon(self._add_when_identified, host, peer)

    async def _add_when_identified(self, host: IHost, peer: ID) -> None:
        with trio.move_on_after(IDENTIFY_WAIT_S):
            while not _protocols(host, peer):
                await trio.sleep(IDENTIFY_POLL_S)
        dht = self._dht
        # A peer that never identified is left out: it may be a private CLIENT whose
        # address is no use to others, and lookups would wait on it.
        if dht is None or str(PROTOCOL_ID) not in _protocols(host, peer):
            return
        if await dht.add_peer(peer):
            with self._lock:
                retry, self._unplaced = self._unplaced, set()
            await self._provide_all(retry)

    # -- records -----------------------------------------------------------------------------
    async def provide(self, digest: str) -> None:
        """Keep a record that this node has ``digest`` on the peers closest to it; returns at
        once (the lookup and the sends run on) so a caller never waits on slow peers."""
        with self._lock:
            self._digests.add(digest)
        nursery = self._nursery
        if nursery is not None:
            nursery.start_soon(self._provide_all, {digest})

    async def _provide_all(self, digests: set[str]) -> None:
        dht = self._dht
        if dht is None:
            return
        for digest in sorted(digests):
            try:
                placed = await dht.provide(dht_key(digest))
            except Exception as exc:  # a peer that left mid-provide must not stop the rest
                log.info("provide %s: %s: %s", digest, type(exc).__name__, exc)
                placed = False
            if not placed:
                with self._lock:
                    self._unplaced.add(digest)

    async def _reprovide_forever(self) -> None:
        while True:
            await trio.sleep(REPROVIDE_S)
            with self._lock:
                digests = set(self._digests)
            await self._provide_all(digests)

    def stored(self, digest: str) -> list[str]:
        """Peer ids (base58) of the records for ``digest`` this node holds (for status, tests)."""
        dht = self._dht
        if dht is None:
            return []
        key = bytes.fromhex(dht_key(digest))
        return [p.peer_id.to_base58() for p in dht.provider_store.get_providers(key)]

    async def find(self, digest: str, timeout_s: float = LOOKUP_TIMEOUT_S) -> list[PeerInfo]:
        """Providers of ``digest`` by peer id (never this node), within ``timeout_s``."""
        dht = self._dht
        found: list[PeerInfo] = []
        if dht is None or timeout_s <= 0:
            return found
        with trio.move_on_after(timeout_s):
            found = await dht.find_providers(dht_key(digest), MAX_PROVIDERS)
        return _dedupe(found, self._own)


def _protocols(host: IHost, peer: ID) -> list[Any]:
    try:
        return list(host.get_peerstore().get_protocols(peer) or [])
    except Exception:  # the peerstore raises for a peer it has not seen
        return []


def _dedupe(found: list[PeerInfo], own: ID) -> list[PeerInfo]:
    """One PeerInfo per peer id (addresses merged, first seen first), without this node."""
    merged: dict[ID, PeerInfo] = {}
    for info in found:
        if info.peer_id == own:
            continue
        have = merged.setdefault(info.peer_id, PeerInfo(info.peer_id, []))
        have.addrs.extend(a for a in info.addrs if a not in have.addrs)
    return list(merged.values())
