"""The transport interface the node core talks to.

Two implementations sit behind it: an in-process hub (single-process runs
and tests, explicit opt-in) and the libp2p peer (the default for the daemon,
the GUI and the demo). The core never knows which one it has.

Blobs are always addressed by sha256, fetched into the local
:class:`~milon_app.store.blobs.BlobStore` (which verifies the hash and the
size limit while streaming), and access is decided by the *provider* through
an ``authorize(requester_address, digest)`` callback (libp2p derives the
address from the authenticated peer ID), so only federation members can pull
a job's blobs.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Protocol

# Control messages are small JSON objects; bytes always travel as blobs.
MAX_MESSAGE_BYTES = 64 * 1024

Authorize = Callable[[str, str], bool]  # (requester's Ethereum address, digest) -> allowed
MessageHandler = Callable[[str, dict[str, Any]], None]  # (sender peer id, message)


class Transport(Protocol):
    @property
    def peer_id(self) -> str: ...

    def start(self) -> None: ...

    def stop(self) -> None: ...

    def connect(self, addr: str, timeout_s: float = 10.0) -> str:
        """Dial a peer by its full address; returns its peer id."""

    def listen_addrs(self) -> list[str]:
        """Full addresses other peers can dial (``.../p2p/<id>``); empty when there are none
        (an in-process peer is reached by its peer id)."""

    def provide(self, digest: str, *, announce: bool = True) -> None:
        """Serve ``digest`` from the local store. ``announce``: also tell every peer now (a
        gossip ``have`` that the whole mesh relays); else only peers that ask (``want``) or
        name this node as a provider hear of it."""

    def fetch(
        self,
        digest: str,
        *,
        kind: str,
        providers: Sequence[str] = (),
        timeout_s: float = 60.0,
        max_bytes: int | None = None,
    ) -> str:
        """Fetch ``digest`` into the local store (hash- and size-checked); returns the digest.

        Tries ``providers`` first, then any peer known to provide it; raises
        :class:`~milon_app.errors.NetworkError` when nobody could serve it. The size
        limit is the store's for ``kind``, or ``max_bytes`` when that is smaller (a job's
        weights are bounded by its model spec).
        """

    def publish(self, topic: str, message: dict[str, Any]) -> None: ...

    def subscribe(self, topic: str, handler: MessageHandler) -> Callable[[], None]: ...

    def peers(self) -> list[str]: ...
