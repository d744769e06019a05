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
# A member's address changes only with a MemberJoined/MemberUpdated event, which drops it
# from the cache within PEER_INFO_CHECK_S; the TTL only bounds what a missed event costs.
# (At 30 s, every node re-read every member's peer info twice a minute: n² calls a round.)
ADDRESS_CACHE_S = 600.0


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


class _Snapshots:
    """Sets read from the chain (a federation's active members, a round's members), kept
    ``ttl_s``; a lookup that misses re-reads at most once per ``miss_refresh_s``, so a
    flood of unknown requesters costs at most one RPC call per set per interval."""

    def __init__(self, ttl_s: float, miss_refresh_s: float) -> None:
        self.ttl_s, self.miss_refresh_s = ttl_s, miss_refresh_s
        self._data: dict[str, tuple[float, frozenset[str]]] = {}
        self._lock = threading.Lock()

    def contains(self, key: str, who: str, read: Callable[[], frozenset[str]]) -> bool:
        now = time.monotonic()
        with self._lock:
            hit = self._data.get(key)
        if hit is not None and who in hit[1] and now < hit[0] + self.ttl_s:
            return True
        if hit is not None and now < hit[0] + self.miss_refresh_s:
            return False
        members = read()
        with self._lock:
            self._data[key] = (now, members)
        return who in members


JOB_PIN = "job:"


def member_authorizer(
    suite: Any, store: Any, ttl_s: float = CACHE_S, miss_refresh_s: float = 2.0
) -> Callable[[str, str], bool]:
    """Serve a blob only to those with a part in its job: the active members of the job's
    federation, the members and committee of its current round (a member that is leaving
    still finishes its work) and the job's owner.

    A blob's jobs are the ``job:N`` pins the store holds for it; a blob pinned to no job is
    served to nobody. Every chain read is cached (see :class:`_Snapshots`).
    """
    from web3 import Web3

    client, registry, jobs = suite.client, suite.registry, suite.jobs
    facts: dict[int, tuple[str, int]] = {}  # job -> (owner, federation): never change
    sets = _Snapshots(ttl_s, miss_refresh_s)

    def job_facts(job_id: int) -> tuple[str, int]:
        if job_id not in facts:
            job = client.call(jobs.functions.job(job_id))
            facts[job_id] = (str(job[0]), int(job[1][0]))
        return facts[job_id]

    def round_people(job_id: int) -> frozenset[str]:
        r = int(client.call(jobs.functions.job(job_id))[3])
        if r == 0:
            return frozenset()
        people = client.call(jobs.functions.roundMembers(job_id, r))
        people += client.call(jobs.functions.committee(job_id, r))
        return frozenset(str(p) for p in people)

    def active(fed: int) -> frozenset[str]:
        return frozenset(map(str, client.call(registry.functions.activeMembers(fed))))

    def allowed(who: str, job_id: int) -> bool:
        owner, fed = job_facts(job_id)
        if who == owner:
            return True
        if sets.contains(f"fed:{fed}", who, lambda: active(fed)):
            return True
        return sets.contains(f"round:{job_id}", who, lambda: round_people(job_id))

    def authorize(requester: str, digest: str) -> bool:
        if not Web3.is_address(requester):
            return False
        who = Web3.to_checksum_address(requester)
        for owner in store.owners(digest):
            number = owner[len(JOB_PIN) :] if owner.startswith(JOB_PIN) else ""
            if number.isdigit() and allowed(who, int(number)):
                return True
        return False

    return authorize


def peer_resolver(suite: Any, ttl_s: float = ADDRESS_CACHE_S) -> Callable[[str], str | None]:
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
            event = ev.PeerStatus(  # peers: how many are connected after this change
                peer_id=str(data.get("peer_id", "")),
                connected=kind == "peer_connected",
                peers=int(data.get("peers", 0) or 0),
            )
        elif kind == "blob_fetched":
            event = ev.BlobFetched(
                digest=str(data.get("digest", "")),
                size=int(data.get("bytes", data.get("size", 0)) or 0),
                provider=str(data.get("provider", "")),
                relayed=bool(data.get("relayed", False)),
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
