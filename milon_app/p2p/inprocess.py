"""In-process transport: nodes in one Python process exchange blobs through a hub.

Only for single-process runs and tests, chosen explicitly. It keeps the same
contract as the network transport (provider-side authorization, streamed and
hash-checked copies into the fetcher's own store, size limits, size-bounded
JSON messages) so code tested against it behaves the same over libp2p.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from milon_app.errors import BadInputError, MilonError, NetworkError
from milon_app.p2p.transport import MAX_MESSAGE_BYTES, Authorize, MessageHandler
from milon_app.store.blobs import BlobStore, check_digest

log = logging.getLogger(__name__)


def _allow_all(_peer: str, _digest: str) -> bool:
    return True


@dataclass
class _Peer:
    store: BlobStore
    authorize: Authorize
    online: bool = False


@dataclass
class InProcessHub:
    peers: dict[str, _Peer] = field(default_factory=dict)
    providers: dict[str, set[str]] = field(default_factory=dict)
    topics: dict[str, list[tuple[str, MessageHandler]]] = field(default_factory=dict)
    lock: threading.RLock = field(default_factory=threading.RLock)

    def transport(
        self, peer_id: str, store: BlobStore, authorize: Authorize = _allow_all
    ) -> InProcessTransport:
        with self.lock:
            old = self.peers.get(peer_id)
            if old is not None and old.online:  # a stopped peer may come back (a restart)
                raise BadInputError(f"peer id {peer_id} already joined this hub")
            self.peers[peer_id] = _Peer(store, authorize)
        return InProcessTransport(self, peer_id, store)


class InProcessTransport:
    def __init__(self, hub: InProcessHub, peer_id: str, store: BlobStore) -> None:
        self._hub = hub
        self._peer_id = peer_id
        self.store = store

    @property
    def peer_id(self) -> str:
        return self._peer_id

    def start(self) -> None:
        with self._hub.lock:
            self._hub.peers[self._peer_id].online = True

    def stop(self) -> None:
        with self._hub.lock:
            self._hub.peers[self._peer_id].online = False
            for subs in self._hub.topics.values():
                subs[:] = [s for s in subs if s[0] != self._peer_id]

    def listen_addrs(self) -> list[str]:
        """None: a peer of the hub is reached by its peer id, not by an address."""
        return []

    def connect(self, addr: str, timeout_s: float = 10.0) -> str:
        """Every peer of the hub is reachable; ``addr`` is the peer id itself."""
        del timeout_s
        with self._hub.lock:
            if addr not in self._hub.peers:
                raise NetworkError(f"no peer {addr} in this process")
        return addr

    def provide(self, digest: str, *, announce: bool = True) -> None:
        """The hub's provider table is both the serving and the announcing (free here)."""
        check_digest(digest)
        if not self.store.has(digest):
            raise BadInputError(f"cannot provide blob {digest}: not in the local store")
        with self._hub.lock:
            self._hub.providers.setdefault(digest, set()).add(self._peer_id)

    def fetch(
        self,
        digest: str,
        *,
        kind: str,
        providers: Sequence[str] = (),
        timeout_s: float = 60.0,
        max_bytes: int | None = None,
    ) -> str:
        check_digest(digest)
        if self.store.has(digest):
            return digest
        with self._hub.lock:
            known = sorted(self._hub.providers.get(digest, set()) - set(providers))
        reasons: list[str] = []
        for peer_id in [*providers, *known]:
            if peer_id == self._peer_id:
                continue
            with self._hub.lock:
                peer = self._hub.peers.get(peer_id)
            if peer is None or not peer.online:
                reasons.append(f"{peer_id}: offline")
                continue
            if not peer.authorize(self._peer_id, digest):
                reasons.append(f"{peer_id}: refused access")
                continue
            if not peer.store.has(digest):
                reasons.append(f"{peer_id}: does not have it")
                continue
            try:
                with peer.store.open(digest) as reader:
                    return self.store.put_stream(
                        reader.iter_chunks(), digest, max_bytes, kind=kind
                    )
            except MilonError as exc:
                reasons.append(f"{peer_id}: {exc}")
                log.warning("fetch of %s from %s failed: %s", digest, peer_id, exc)
        detail = "; ".join(reasons) or "no provider known"
        raise NetworkError(f"could not fetch blob {digest}: {detail}")

    def publish(self, topic: str, message: dict[str, Any]) -> None:
        data = json.dumps(message, sort_keys=True)
        if len(data.encode()) > MAX_MESSAGE_BYTES:
            raise BadInputError(
                f"message on {topic!r} is {len(data)} bytes, over {MAX_MESSAGE_BYTES}: send a blob"
            )
        with self._hub.lock:
            subs = list(self._hub.topics.get(topic, []))
        for peer_id, handler in subs:
            if peer_id == self._peer_id:
                continue
            try:
                handler(self._peer_id, json.loads(data))
            except Exception:
                log.exception("handler of %s on %r failed", peer_id, topic)

    def subscribe(self, topic: str, handler: MessageHandler) -> Callable[[], None]:
        entry = (self._peer_id, handler)
        with self._hub.lock:
            self._hub.topics.setdefault(topic, []).append(entry)

        def unsubscribe() -> None:
            with self._hub.lock:
                subs = self._hub.topics.get(topic, [])
                if entry in subs:
                    subs.remove(entry)

        return unsubscribe

    def peers(self) -> list[str]:
        with self._hub.lock:
            return sorted(p for p, v in self._hub.peers.items() if v.online and p != self._peer_id)
