"""Who may fetch our blobs, where to find a member's blobs, and peer events on the bus.

Both lookups read the chain (membership, registered peer info) and cache the
answer briefly, since a blob request or fetch may ask many times a second.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

from milon_app.node import events as ev
from milon_app.node.bus import EventBus

CACHE_S = 30.0
PEER_INFO_CHECK_S = 1.0  # how stale a member's address may be after it re-registers


class _TTLCache:
    def __init__(self, ttl_s: float, negative_ttl_s: float | None = None) -> None:
        self.ttl_s = ttl_s
        self.negative_ttl_s = ttl_s if negative_ttl_s is None else negative_ttl_s
        self._data: dict[str, tuple[float, Any]] = {}
        self._lock = threading.Lock()

    def get(self, key: str, compute: Callable[[], Any]) -> Any:
        """Cached value of ``compute()``; falsy answers expire after ``negative_ttl_s``."""
        now = time.monotonic()
        with self._lock:
            hit = self._data.get(key)
        if hit is not None and now < hit[0]:
            return hit[1]
        value = compute()
        ttl = self.ttl_s if value else self.negative_ttl_s
        with self._lock:
            self._data[key] = (now + ttl, value)
        return value

    def forget(self, key: str) -> None:
        with self._lock:
            self._data.pop(key, None)


def member_authorizer(suite: Any, ttl_s: float = CACHE_S) -> Callable[[str, str], bool]:
    """Serve blobs only to active members of a federation of this deployment, or job owners.

    Digests are unguessable and published only on chain, so membership (not
    per-job membership) is the gate.
    """
    from web3 import Web3

    client, registry, jobs = suite.client, suite.registry, suite.jobs
    cache = _TTLCache(ttl_s, negative_ttl_s=2.0)  # a new member is served within 2 s

    def allowed(who: str) -> bool:
        for fed in range(1, int(client.call(registry.functions.federationCount())) + 1):
            if client.call(registry.functions.isActive(fed, who)):
                return True
        for job_id in range(1, int(client.call(jobs.functions.jobCount())) + 1):
            if client.call(jobs.functions.job(job_id))[0] == who:
                return True
        return False

    def authorize(requester: str, _digest: str) -> bool:
        if not Web3.is_address(requester):
            return False
        who = Web3.to_checksum_address(requester)
        return bool(cache.get(who, lambda: allowed(who)))

    return authorize


def peer_resolver(suite: Any, ttl_s: float = CACHE_S) -> Callable[[str], str | None]:
    """A member's dialable multiaddr from the peer info it registered on chain.

    Falls back to the bare address, which the libp2p transport resolves for
    peers it is already connected to (a job owner reached through bootstrap).
    """
    from milon_app.chain.events import EventCursor

    client, registry = suite.client, suite.registry
    cache = _TTLCache(ttl_s)
    # A member that restarts listens on a new port and re-registers its peer info:
    # drop its cached address when the registry says so, or validators keep dialling
    # the old port, find its update unavailable and slash an honest node.
    cursor = EventCursor(client, {"registry": registry}, from_block=client.block_number() + 1)
    check = threading.Lock()
    next_check = [0.0]

    def refresh() -> None:
        now = time.monotonic()
        if now < next_check[0] or not check.acquire(blocking=False):
            return
        try:
            next_check[0] = now + PEER_INFO_CHECK_S
            for event in cursor.poll():
                if event.name in ("MemberJoined", "MemberUpdated"):
                    cache.forget(str(event.args["account"]))
        finally:
            check.release()

    def lookup(address: str) -> str:
        for fed in range(1, int(client.call(registry.functions.federationCount())) + 1):
            peer_info = str(client.call(registry.functions.member(fed, address))[2])
            for part in peer_info.split():
                if "/p2p/" in part:
                    return part
        return address

    def resolve(address: str) -> str | None:
        refresh()
        return str(cache.get(address, lambda: lookup(address)))

    return resolve


def transport_event_sink(bus: EventBus, node: str) -> Callable[[str, dict[str, Any]], None]:
    """Turn the transport's plain events into typed bus events."""

    def sink(kind: str, data: dict[str, Any]) -> None:
        event: ev.Event | None = None
        if kind in ("peer_connected", "peer_disconnected"):
            event = ev.PeerStatus(
                peer_id=str(data.get("peer_id", "")), connected=kind == "peer_connected"
            )
        elif kind == "blob_fetched":
            event = ev.BlobFetched(
                digest=str(data.get("digest", "")),
                size=int(data.get("bytes", data.get("size", 0)) or 0),
                provider=str(data.get("provider", "")),
            )
        elif kind == "fetch_failed":
            event = ev.NodeError(
                where=f"fetch {str(data.get('digest', ''))[:12]}",
                message=str(data.get("reason", "")),
            )
        if event is not None:
            object.__setattr__(event, "node", node)
            bus.publish(event)

    return sink
