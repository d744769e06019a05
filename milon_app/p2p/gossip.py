"""Gossip plumbing: message checks, per-peer rate limits and the handler thread.

Handlers are the node core's code and may be slow; they run on one dispatcher
thread, never on the trio loop. Each sender gets its own bounded lane served
round-robin, so a flooding peer fills (and loses) only its own lane.
"""

from __future__ import annotations

import collections
import json
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from libp2p.custom_types import TProtocol
from libp2p.pubsub.gossipsub import GossipSub

from milon_app.compute.bounded_json import loads_bounded
from milon_app.errors import BadInputError
from milon_app.p2p.transport import MAX_MESSAGE_BYTES

log = logging.getLogger(__name__)

GOSSIPSUB_PROTOCOLS = [TProtocol("/meshsub/1.1.0")]
LANE_LIMIT = 256  # queued messages per sender before new ones are dropped
RATE_PER_S = 50.0  # sustained messages per second per sender
BURST = 100.0
_LOGGED_PER_PEER = 5  # log the first few drops per peer at warning, the rest at debug


def make_router() -> GossipSub:
    """GossipSub tuned for a small federation on one heartbeat a second.

    libp2p's own spam gate (10 msgs/s per topic, applied to our own publishes
    too) is raised: the per-sender limit here is the one that matters. Eclipse
    protection counts distinct IPs, which on loopback or one LAN is always 1.
    """
    return GossipSub(
        protocols=GOSSIPSUB_PROTOCOLS,
        degree=6,
        degree_low=4,
        degree_high=12,
        heartbeat_interval=1,
        max_messages_per_topic_per_second=1000.0,
        eclipse_protection_enabled=False,
    )


MAX_MESSAGE_DEPTH = 16


def decode_message(data: bytes) -> dict[str, Any]:
    """The JSON object in a gossip payload, else ValueError with the reason."""
    if len(data) > MAX_MESSAGE_BYTES:
        raise ValueError(f"{len(data)} bytes, over {MAX_MESSAGE_BYTES}")
    try:  # depth-checked first: deep nesting can overflow the C stack in json.loads
        message = loads_bounded(
            data, max_bytes=MAX_MESSAGE_BYTES, max_depth=MAX_MESSAGE_DEPTH, what="message"
        )
    except BadInputError as exc:
        raise ValueError(str(exc)) from None
    if not isinstance(message, dict):
        raise ValueError(f"a JSON {type(message).__name__}, not an object")
    return message


def encode_message(message: dict[str, Any]) -> bytes:
    return json.dumps(message, sort_keys=True, separators=(",", ":")).encode()


@dataclass
class _Bucket:
    tokens: float = BURST
    stamp: float = field(default_factory=time.monotonic)

    def take(self) -> bool:
        now = time.monotonic()
        self.tokens = min(BURST, self.tokens + (now - self.stamp) * RATE_PER_S)
        self.stamp = now
        if self.tokens < 1.0:
            return False
        self.tokens -= 1.0
        return True


class DropCounter:
    """Counts rejected messages per peer and reason; logs without flooding the log."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.counts: collections.Counter[tuple[str, str]] = collections.Counter()
        self._per_peer: collections.Counter[str] = collections.Counter()

    def drop(self, peer: str, reason: str, detail: str = "") -> None:
        with self._lock:
            self.counts[(peer, reason)] += 1
            self._per_peer[peer] += 1
            seen = self._per_peer[peer]
        level = logging.WARNING if seen <= _LOGGED_PER_PEER else logging.DEBUG
        extra = f" ({detail})" if detail else ""
        log.log(level, "dropped gossip from %s: %s%s", peer, reason, extra)

    def total(self, reason: str | None = None) -> int:
        with self._lock:
            return sum(n for (_, r), n in self.counts.items() if reason in (None, r))


class RateGate:
    """Token bucket per sender, checked on the trio loop before anything is queued."""

    def __init__(self, drops: DropCounter) -> None:
        self._buckets: dict[str, _Bucket] = {}
        self._drops = drops

    def admit(self, peer: str) -> bool:
        bucket = self._buckets.get(peer)
        if bucket is None:
            if len(self._buckets) > 4096:  # forget idle senders rather than grow forever
                self._buckets.clear()
            bucket = self._buckets[peer] = _Bucket()
        if bucket.take():
            return True
        self._drops.drop(peer, "rate limited")
        return False


class Dispatcher:
    """One worker thread running callbacks from bounded per-lane queues, round-robin."""

    def __init__(self, name: str, drops: DropCounter, lane_limit: int = LANE_LIMIT) -> None:
        self._name = name
        self._drops = drops
        self._lane_limit = lane_limit
        self._lanes: collections.OrderedDict[str, collections.deque[Callable[[], None]]] = (
            collections.OrderedDict()
        )
        self._cond = threading.Condition()
        self._closing = False
        self._thread = threading.Thread(target=self._work, name=name, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def submit(self, lane: str, fn: Callable[..., None], *args: Any) -> bool:
        with self._cond:
            if self._closing:
                return False
            queue = self._lanes.get(lane)
            if queue is None:
                queue = self._lanes[lane] = collections.deque()
            if len(queue) >= self._lane_limit:
                full = True
            else:
                full = False
                queue.append(lambda: fn(*args))
                self._cond.notify()
        if full:
            self._drops.drop(lane, "queue full")
        return not full

    def _next(self) -> Callable[[], None] | None:
        with self._cond:
            while not self._lanes and not self._closing:
                self._cond.wait()
            if not self._lanes:
                return None
            lane, queue = self._lanes.popitem(last=False)
            job = queue.popleft()
            if queue:
                self._lanes[lane] = queue  # back of the line: round-robin
            return job

    def _work(self) -> None:
        while (job := self._next()) is not None:
            try:
                job()
            except Exception:
                log.exception("a %s callback failed", self._name)

    def stop(self, timeout_s: float) -> None:
        """Drops what is still queued (a flood must not delay shutdown) and ends the thread."""
        with self._cond:
            self._closing = True
            self._lanes.clear()
            self._cond.notify_all()
        if self._thread.is_alive():
            self._thread.join(timeout_s)
