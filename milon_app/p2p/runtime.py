"""What the protocol handlers may use of the peer that runs them.

:class:`~milon_app.p2p.fetch.Fetch` (one blob download) and
:class:`~milon_app.p2p.pubsub_topics.Topics` (gossip subscriptions and the
``have``/``want`` announcements) touch the libp2p peer only through these
public calls, the way a hivemind servicer reaches its P2P daemon only through
its public API. :class:`~milon_app.p2p.host.Libp2pTransport` implements
:class:`PeerRuntime`; a test hands the handlers a small in-memory object
instead, with no host, no loop thread and no sleeps.

Calls marked *loop* run on the peer's trio loop (through :meth:`call` from
any other thread); the rest may be called from any thread.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Protocol

from libp2p.custom_types import TProtocol
from libp2p.peer.id import ID
from libp2p.peer.peerinfo import PeerInfo
from multiaddr import Multiaddr

from milon_app.p2p.discovery import HaveTable
from milon_app.p2p.gossip import DropCounter
from milon_app.store.blobs import BlobStore


class PeerRuntime(Protocol):
    @property
    def own_id(self) -> ID:
        """This peer's ID (its own gossip comes back and is skipped)."""

    @property
    def store(self) -> BlobStore:
        """The local blob store fetched blobs are streamed into."""

    @property
    def have(self) -> HaveTable:
        """Who announced which blob."""

    @property
    def drops(self) -> DropCounter:
        """Rejected gossip, per sender and reason."""

    @property
    def want_wait_s(self) -> float:
        """How long a fetch with no provider waits for answers to its ``want``."""

    @property
    def running(self) -> bool:
        """Whether the loop runs (so :meth:`call` may be used)."""

    def call(self, afn: Callable[..., Any], *args: Any, timeout_s: float = ...) -> Any:
        """Run the coroutine function ``afn(*args)`` on the loop and return its result."""

    def peers(self) -> list[str]:
        """Connected peer IDs (base58)."""

    def is_connected(self, peer: ID) -> bool: ...

    def publish(self, topic: str, message: dict[str, Any]) -> None:
        """Gossip a JSON message (from a thread other than the loop's)."""

    def provided(self, digest: str) -> bool:
        """Whether this peer announced ``digest`` and still holds it."""

    def dispatch(self, lane: str, fn: Callable[..., None], *args: Any) -> None:
        """Run ``fn(*args)`` on the handler thread, in ``lane``'s bounded queue."""

    async def dial(self, info: PeerInfo) -> None:
        """*loop*: connect to a peer; ProviderError when it cannot be reached."""

    async def open_stream(self, peer: ID, protocols: Sequence[TProtocol]) -> Any:
        """*loop*: a new stream to a connected peer; NetworkError when the peer stops."""

    async def known_addrs(self, peer: ID) -> list[Multiaddr]:
        """*loop*: the addresses the peerstore holds for ``peer`` (may be empty)."""

    def own_addrs(self) -> list[Multiaddr]:
        """*loop*: the addresses this peer listens on (empty while it is not listening)."""

    def remember_addrs(self, peer: ID, addrs: Sequence[Multiaddr], ttl_s: int) -> None:
        """*loop*: keep addresses a peer announced for ``ttl_s`` seconds."""

    async def find_providers(self, digest: str, timeout_s: float) -> list[PeerInfo] | None:
        """*loop*: providers of ``digest`` by Kademlia provider records (None without a DHT)."""

    def relayed(self, stream: Any) -> bool:
        """Whether ``stream`` (from :meth:`open_stream`) runs through a circuit relay."""
