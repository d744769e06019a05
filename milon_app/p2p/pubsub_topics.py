"""Gossip topics on the trio side: one libp2p subscription per topic, many handlers.

Every payload is checked (size, JSON object) in a topic validator, so junk
is neither delivered nor forwarded; valid messages pass a per-sender rate
gate and go to the dispatcher thread. The ``milon/blobs`` topic is always
joined: it carries ``have``/``want`` announcements for the fetcher. The peer
is reached only through its :class:`~milon_app.p2p.runtime.PeerRuntime`.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import trio
from libp2p.peer.id import ID

from milon_app.errors import BadInputError, NetworkError
from milon_app.p2p.discovery import BLOBS_TOPIC, dialable, parse_blob_message
from milon_app.p2p.gossip import RateGate, decode_message, encode_message
from milon_app.p2p.identity import address_of_id
from milon_app.p2p.transport import MessageHandler

if TYPE_CHECKING:
    from libp2p.pubsub.pb import rpc_pb2
    from libp2p.pubsub.pubsub import Pubsub

    from milon_app.p2p.runtime import PeerRuntime

log = logging.getLogger(__name__)
ANNOUNCED_ADDR_TTL_S = 600
WANT_REPLY_GAP_S = 2.0  # answer a want for the same digest at most this often


class Topics:
    def __init__(self, owner: PeerRuntime) -> None:
        self._owner = owner
        self._lock = threading.Lock()
        self._handlers: dict[str, list[MessageHandler]] = {}
        # trio-side state, reset on every start
        self._pubsub: Pubsub | None = None
        self._nursery: trio.Nursery | None = None
        self._joined: dict[str, bool] = {}
        self._gate = RateGate(owner.drops)
        self._answered: dict[str, float] = {}

    async def start(self, pubsub: Pubsub, nursery: trio.Nursery) -> None:
        self._pubsub, self._nursery, self._joined = pubsub, nursery, {}
        self._gate = RateGate(self._owner.drops)
        with self._lock:
            topics = {BLOBS_TOPIC, *self._handlers}
        for topic in sorted(topics):
            await self._join(topic)

    # -- any thread ----------------------------------------------------------
    def subscribe(self, topic: str, handler: MessageHandler) -> Callable[[], None]:
        if not isinstance(topic, str) or not topic or len(topic) > 256:
            raise BadInputError(f"topic must be a non-empty string of <= 256 chars: {topic!r:.80}")
        with self._lock:
            self._handlers.setdefault(topic, []).append(handler)
        if self._owner.running:
            self._owner.call(self._join, topic)

        def unsubscribe() -> None:
            with self._lock:
                handlers = self._handlers.get(topic, [])
                if handler in handlers:
                    handlers.remove(handler)
                last = not handlers
                if last:
                    self._handlers.pop(topic, None)
            if last and topic != BLOBS_TOPIC and self._owner.running:
                try:
                    self._owner.call(self._leave, topic)
                except (NetworkError, TimeoutError) as exc:
                    log.debug("leaving %s: %s", topic, exc)

        return unsubscribe

    # -- trio side -------------------------------------------------------------
    async def _join(self, topic: str) -> None:
        pubsub = self._pubsub
        if pubsub is None or topic in self._joined:
            return
        pubsub.set_topic_validator(topic, self._validate, False)
        await pubsub.subscribe(topic)
        # libp2p queues deliveries in a 32-slot channel and silently drops the rest
        # when a flood outpaces the reader; deliver synchronously instead, so the
        # per-sender gate below sees (and counts) every message.
        original = pubsub.subscribed_topics_send[topic]
        pubsub.subscribed_topics_send[topic] = _DirectDelivery(self, topic)  # type: ignore[assignment]
        await original.aclose()
        self._joined[topic] = True

    async def _leave(self, topic: str) -> None:
        with self._lock:
            if topic in self._handlers:
                return  # someone subscribed again meanwhile
        if self._pubsub is not None and self._joined.pop(topic, None) is not None:
            await self._pubsub.unsubscribe(topic)
            self._pubsub.remove_topic_validator(topic)

    async def publish(self, topic: str, data: bytes) -> None:
        assert self._pubsub is not None
        await self._pubsub.publish(topic, data)

    async def announce(self, digests: list[str]) -> None:
        addrs = [str(a) for a in self._owner.own_addrs()]
        message = {"type": "have", "digests": digests, "addrs": addrs[:8]}
        await self.publish(BLOBS_TOPIC, encode_message(message))

    async def want(self, digest: str) -> None:
        await self.publish(BLOBS_TOPIC, encode_message({"type": "want", "digests": [digest]}))

    def _validate(self, _forwarder: ID, msg: rpc_pb2.Message) -> bool:
        try:
            decode_message(msg.data)
        except ValueError as exc:
            self._owner.drops.drop(_name(msg.from_id), "malformed", str(exc))
            return False
        return True

    def deliver(self, topic: str, msg: rpc_pb2.Message) -> None:
        try:
            self._deliver(topic, msg)
        except Exception:
            log.exception("delivering a message on %s failed", topic)

    def _deliver(self, topic: str, msg: rpc_pb2.Message) -> None:
        origin = ID(msg.from_id)
        if origin == self._owner.own_id:
            return
        name = origin.to_base58()
        if not self._gate.admit(name):
            return
        try:
            message = decode_message(msg.data)
            address = address_of_id(origin)  # signed by origin: strict signing is on
        except (ValueError, BadInputError) as exc:
            self._owner.drops.drop(name, "malformed", str(exc))
            return
        if topic == BLOBS_TOPIC:
            self._blob_message(origin, name, message)
        with self._lock:
            handlers = list(self._handlers.get(topic, []))
        for handler in handlers:
            self._owner.dispatch(name, handler, address, message)

    def _blob_message(self, origin: ID, name: str, message: dict[str, Any]) -> None:
        try:
            kind, digests, addrs = parse_blob_message(message)
        except ValueError as exc:
            self._owner.drops.drop(name, "malformed", f"blob announcement: {exc}")
            return
        if kind == "have":
            self._owner.remember_addrs(origin, dialable(addrs, origin), ANNOUNCED_ADDR_TTL_S)
            for digest in digests:
                self._owner.have.add(digest, origin)
            return
        now = time.monotonic()
        mine = [
            d
            for d in digests
            if self._owner.provided(d) and now - self._answered.get(d, -1e9) > WANT_REPLY_GAP_S
        ]
        if mine and self._nursery is not None:
            for digest in mine:
                self._answered[digest] = now
            if len(self._answered) > 4096:
                self._answered.clear()
            self._nursery.start_soon(self._announce_safely, mine)

    async def _announce_safely(self, digests: list[str]) -> None:
        try:
            await self.announce(digests)
        except Exception as exc:
            log.warning("could not answer a want for %d blobs: %s", len(digests), exc)


class _DirectDelivery:
    """Stands in for a subscription's send channel inside libp2p's Pubsub."""

    def __init__(self, topics: Topics, topic: str) -> None:
        self._topics, self._topic = topics, topic

    def send_nowait(self, msg: rpc_pb2.Message) -> None:
        self._topics.deliver(self._topic, msg)

    async def aclose(self) -> None:
        return None


def _name(raw_id: bytes) -> str:
    try:
        return ID(raw_id).to_base58()
    except Exception:
        return "unknown peer"
