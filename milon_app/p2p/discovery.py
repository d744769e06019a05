"""Finding peers: multiaddr parsing, bootstrap reconnection, and who has which blob.

Providers come from four places: explicit multiaddrs (the node core reads
them from members' on-chain peer info), peers already connected, ``have``
announcements on the ``milon/blobs`` gossip topic, and Kademlia provider
records (``p2p.dht``, :mod:`milon_app.p2p.providers`) when those find none.
"""

from __future__ import annotations

import collections
import logging
import threading
import time
from collections.abc import Awaitable, Callable
from typing import Any

import multiaddr
import trio
from libp2p.peer.id import ID
from libp2p.peer.peerinfo import PeerInfo, info_from_p2p_addr

from milon_app.errors import BadInputError
from milon_app.store.blobs import check_digest

log = logging.getLogger(__name__)

BLOBS_TOPIC = "milon/blobs"
BACKOFF_MIN_S = 0.5
BACKOFF_MAX_S = 30.0
CHECK_INTERVAL_S = 0.5
DIAL_TIMEOUT_S = 10.0
MAX_DIGESTS = 10_000
MAX_PROVIDERS_PER_DIGEST = 64
MAX_ANNOUNCED_ADDRS = 8
MAX_DIGESTS_PER_HAVE = 512


def parse_multiaddr(text: str, *, need_peer: bool) -> multiaddr.Multiaddr:
    try:
        addr = multiaddr.Multiaddr(text)
    except Exception as exc:  # multiaddr raises several types
        raise BadInputError(f"not a multiaddr: {text!r:.120} ({exc})") from None
    if need_peer and "p2p" not in [p.name for p in addr.protocols()]:
        raise BadInputError(f"multiaddr {text!r:.120} lacks /p2p/<peer id>")
    return addr


def peer_info(text: str) -> PeerInfo:
    """PeerInfo from a full multiaddr ``/ip4/.../tcp/P/p2p/<id>``."""
    addr = parse_multiaddr(text, need_peer=True)
    try:
        return info_from_p2p_addr(addr)
    except Exception as exc:
        raise BadInputError(f"multiaddr {text!r:.120} has no valid peer id ({exc})") from None


async def keep_connected(
    info: PeerInfo,
    is_connected: Callable[[ID], bool],
    connect: Callable[[PeerInfo], Awaitable[None]],
) -> None:
    """Dial a bootstrap peer and redial with bounded exponential backoff when it drops."""
    backoff = BACKOFF_MIN_S
    while True:
        if is_connected(info.peer_id):
            backoff = BACKOFF_MIN_S
            await trio.sleep(CHECK_INTERVAL_S)
            continue
        try:
            with trio.fail_after(DIAL_TIMEOUT_S):
                await connect(info)
            log.info("connected to bootstrap peer %s", info.peer_id)
            backoff = BACKOFF_MIN_S
        except Exception as exc:
            log.info(
                "bootstrap peer %s unreachable (%s); retrying in %.1f s",
                info.peer_id,
                type(exc).__name__,
                backoff,
            )
            await trio.sleep(backoff)
            backoff = min(backoff * 2, BACKOFF_MAX_S)


class HaveTable:
    """Which peers announced which blobs; bounded, thread-safe, oldest digests forgotten."""

    def __init__(self) -> None:
        self._table: collections.OrderedDict[str, dict[ID, float]] = collections.OrderedDict()
        self._cond = threading.Condition()

    def add(self, digest: str, peer: ID) -> None:
        with self._cond:
            peers = self._table.pop(digest, {})
            if peer in peers or len(peers) < MAX_PROVIDERS_PER_DIGEST:
                peers[peer] = time.monotonic()
            self._table[digest] = peers
            while len(self._table) > MAX_DIGESTS:
                self._table.popitem(last=False)
            self._cond.notify_all()

    def providers(self, digest: str) -> list[ID]:
        """Most recent announcers first."""
        with self._cond:
            peers = self._table.get(digest, {})
            return sorted(peers, key=lambda p: -peers[p])

    def forget(self, peer: ID) -> None:
        with self._cond:
            for peers in self._table.values():
                peers.pop(peer, None)

    def wait_for_new(self, digest: str, known: set[ID], timeout_s: float) -> list[ID]:
        """Blocks until someone not in ``known`` announces ``digest`` (or the timeout)."""
        deadline = time.monotonic() + timeout_s
        with self._cond:
            while True:
                fresh = [p for p in self._table.get(digest, {}) if p not in known]
                remaining = deadline - time.monotonic()
                if fresh or remaining <= 0:
                    return fresh
                self._cond.wait(remaining)


def parse_blob_message(message: dict[str, Any]) -> tuple[str, list[str], list[str]]:
    """(type, digests, addrs) of a ``have``/``want`` message, else ValueError."""
    kind = message.get("type")
    if kind not in ("have", "want"):
        raise ValueError(f"type {kind!r:.40} is not 'have' or 'want'")
    digests = message.get("digests")
    if not isinstance(digests, list) or not 0 < len(digests) <= MAX_DIGESTS_PER_HAVE:
        raise ValueError(f"digests must be a list of 1..{MAX_DIGESTS_PER_HAVE} digests")
    try:
        checked = [check_digest(d) for d in digests]
    except BadInputError as exc:
        raise ValueError(str(exc)) from None
    addrs = message.get("addrs", [])
    if not isinstance(addrs, list) or len(addrs) > MAX_ANNOUNCED_ADDRS:
        raise ValueError(f"addrs must be a list of at most {MAX_ANNOUNCED_ADDRS}")
    good = [a for a in addrs if isinstance(a, str) and len(a) <= 300]
    return kind, checked, good


def dialable(addrs: list[str], sender: ID) -> list[multiaddr.Multiaddr]:
    """The announced addresses that parse and name the sender (others are ignored)."""
    out = []
    for text in addrs:
        try:
            info = peer_info(text)
        except BadInputError:
            continue
        if info.peer_id == sender:
            out.extend(info.addrs)
    return out
