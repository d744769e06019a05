"""The libp2p peer: MILON's network :class:`~milon_app.p2p.transport.Transport`.

One host per node, on its own trio thread (:mod:`milon_app.p2p.runner`).
Noise is the only security offered (libp2p's default list also accepts
plaintext), Yamux the only muxer. Blobs travel over ``/milon/blob/1.0.0``
streams straight into the fetcher's store; gossip carries small JSON control
messages whose sender is the Ethereum address embedded in the peer ID.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import logging
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import trio
from libp2p import new_host
from libp2p.abc import IHost, INetConn, INetwork, INotifee
from libp2p.custom_types import TProtocol
from libp2p.peer.id import ID
from libp2p.peer.peerinfo import PeerInfo
from libp2p.pubsub.pubsub import Pubsub
from libp2p.security.noise.transport import PROTOCOL_ID as NOISE_ID
from libp2p.security.noise.transport import Transport as NoiseTransport
from libp2p.stream_muxer.yamux.yamux import PROTOCOL_ID as YAMUX_ID
from libp2p.stream_muxer.yamux.yamux import Yamux
from libp2p.tools.anyio_service import background_trio_service
from multiaddr import Multiaddr

from milon_app.errors import BadInputError, NetworkError
from milon_app.p2p import addresses, connmgr, dialback
from milon_app.p2p import blob_protocol as bp
from milon_app.p2p.discovery import (
    DIAL_TIMEOUT_S,
    HaveTable,
    keep_connected,
    parse_multiaddr,
    peer_info,
)
from milon_app.p2p.gossip import Dispatcher, DropCounter, encode_message
from milon_app.p2p.identity import address_of_id, keypair_from_eth_key
from milon_app.p2p.providers import ProviderRecords
from milon_app.p2p.pubsub_topics import Topics
from milon_app.p2p.reachability import Reach, is_public, serves_relay
from milon_app.p2p.relay import NatTraversal, is_relayed
from milon_app.p2p.transport import MAX_MESSAGE_BYTES, Authorize, MessageHandler
from milon_app.store.blobs import BlobStore, check_digest

log = logging.getLogger(__name__)


def _route_libp2p_logging() -> None:
    """py-libp2p's import leaves its logger without a handler and not propagating, so its
    errors (a failed dial to a peer that has left) would reach stderr raw through logging's
    last-resort handler, breaking the daemon's JSON lines and the CLI's quiet output; hand
    the logger to the app's logging setup (:mod:`milon_app.logsetup`)."""
    from milon_app.logsetup import adopt_libp2p_logger

    adopt_libp2p_logger()


_route_libp2p_logging()
T = TypeVar("T")
EventSink = Callable[[str, dict[str, Any]], None]
START_TIMEOUT_S = 30.0
STOP_TIMEOUT_S = 15.0
CALL_TIMEOUT_S = 15.0
WANT_WAIT_S = 3.0
EVENTS_LANE = "\0events"


def _allow_all(_requester: str, _digest: str) -> bool:
    return True


class _Notifee(INotifee):
    """Turns connection changes into peer_connected / peer_disconnected events."""

    def __init__(self, owner: Libp2pTransport) -> None:
        self._owner = owner

    async def connected(self, network: INetwork, conn: INetConn) -> None:
        self._owner._peer_changed(conn.muxed_conn.peer_id, network, up=True)
        self._owner._nat.connected(network, conn)
        self._owner._dht_connected(conn.muxed_conn.peer_id)

    async def disconnected(self, network: INetwork, conn: INetConn) -> None:
        self._owner._peer_changed(conn.muxed_conn.peer_id, network, up=False, gone=conn)

    async def opened_stream(self, network: INetwork, stream: Any) -> None:
        pass

    async def closed_stream(self, network: INetwork, stream: Any) -> None:
        pass

    async def listen(self, network: INetwork, multiaddr: Multiaddr) -> None:
        pass

    async def listen_close(self, network: INetwork, multiaddr: Multiaddr) -> None:
        pass


class Libp2pTransport:
    """A libp2p peer bound to the wallet's key; every public method is thread-safe."""

    def __init__(
        self,
        private_key: bytes,
        store: BlobStore,
        *,
        listen: Sequence[str] = ("/ip4/127.0.0.1/tcp/0",),
        bootstrap: Sequence[str] = (),
        announce: Sequence[str] = (),
        authorize: Authorize = _allow_all,
        on_event: EventSink | None = None,
        mdns: bool = False,
        want_wait_s: float = WANT_WAIT_S,
        reachability: str = "auto",
        relay: str = "auto",
        dht: bool = False,
    ) -> None:
        self.want_wait_s = want_wait_s  # how long a fetch waits for answers to a "want"
        self._keypair = keypair_from_eth_key(private_key)
        self._id = ID.from_pubkey(self._keypair.public_key)
        self.address = address_of_id(self._id)
        self.store = store
        self._listen = [parse_multiaddr(a, need_peer=False) for a in listen]
        self._announce = [parse_multiaddr(a, need_peer=False) for a in announce]
        self._bootstrap = [peer_info(a) for a in bootstrap]
        self._authorize = authorize
        self._mdns = mdns  # LAN discovery (p2p.mdns); off unless asked: it binds every interface
        self._on_event = on_event
        self.drops = DropCounter()
        self.have = HaveTable()  # who announced which blob
        self._provided: set[str] = set()
        self._topics = Topics(self)
        self._lock = threading.Lock()
        self._connected: set[ID] = set()
        self._runner: Any = None
        self._dispatcher: Dispatcher | None = None
        self._pool: concurrent.futures.ThreadPoolExecutor | None = None
        self._host: IHost | None = None
        self._pubsub: Pubsub | None = None
        self._nursery: trio.Nursery | None = None
        self._nat = self._make_nat(reachability, relay)
        self._relay_setting, self._auto_reach = relay, reachability == "auto"
        self.dialback = dialback.Prober(
            self.open_stream, self._direct_peers, self._dialback_port, self._set_public
        )
        self._records = self._make_records(dht)

    def _make_nat(self, reachability: str, relay: str) -> NatTraversal:
        """``p2p.reachability`` / ``p2p.relay`` (:mod:`milon_app.p2p.reachability`): a private
        node reserves on its bootstrap peers, a public one may serve as their relay."""
        public = is_public(reachability, self._listen, self._announce)
        return NatTraversal(
            self.peer_id,
            public=public,
            hop=serves_relay(relay, public),
            relays=self._bootstrap,
            on_change=lambda r: self._emit("reach_changed", r.as_dict()),
        )

    def _make_records(self, dht: bool) -> ProviderRecords | None:
        """``p2p.dht`` (:mod:`milon_app.p2p.providers`): SERVER mode when publicly reachable."""
        return ProviderRecords(self._id, server=self._nat.public) if dht else None

    def _dht_running(self, host: IHost) -> contextlib.AbstractAsyncContextManager[Any]:
        records = self._records
        return records.running(host) if records is not None else contextlib.nullcontext()

    def _dht_connected(self, peer: ID) -> None:
        host, records = self._host, self._records
        if host is not None and records is not None:
            records.connected(host, peer)

    async def find_providers(self, digest: str, timeout_s: float) -> list[PeerInfo] | None:
        """*loop*: providers of ``digest`` the DHT knows (None without ``p2p.dht``)."""
        records = self._records
        return None if records is None else await records.find(digest, timeout_s)

    # -- identity and lifecycle --------------------------------------------
    @property
    def peer_id(self) -> str:
        return self._id.to_base58()

    def start(self) -> None:
        """Returns once the host listens, gossip runs and bootstrap dialling has begun."""
        from milon_app.p2p.runner import TrioThread

        if self._runner is not None:
            raise NetworkError(f"peer {self.peer_id} is already running")
        self._dispatcher = Dispatcher(f"p2p-dispatch-{self.peer_id[-6:]}", self.drops)
        self._dispatcher.start()
        self._pool = concurrent.futures.ThreadPoolExecutor(4, f"p2p-io-{self.peer_id[-6:]}")
        self._runner = TrioThread(f"p2p-trio-{self.peer_id[-6:]}")
        try:
            self._runner.start(self._serve, START_TIMEOUT_S)
        except BaseException:
            self._runner = None
            self._teardown()
            raise

    def stop(self) -> None:
        """Closes the host (listeners, connections, gossip) and joins every thread it made."""
        runner, self._runner = self._runner, None
        try:
            if runner is not None:
                runner.stop(STOP_TIMEOUT_S)
        finally:
            self._teardown()

    def _teardown(self) -> None:
        if self._dispatcher is not None:
            self._dispatcher.stop(STOP_TIMEOUT_S)
            self._dispatcher = None
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None
        with self._lock:
            self._connected.clear()

    def __enter__(self) -> Libp2pTransport:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    async def _serve(self, stop: trio.Event, task_status: Any = trio.TASK_STATUS_IGNORED) -> None:
        secret = NoiseTransport(self._keypair, noise_privkey=_x25519())
        host = new_host(
            key_pair=self._keypair,
            sec_opt={NOISE_ID: secret},  # Noise only: never plaintext
            muxer_opt={TProtocol(YAMUX_ID): Yamux},
            connection_config=connmgr.connection_config(),  # a dial ends once it is up
        )
        connmgr.disable_auto_dial(host)  # no full mesh: MILON dials whom it needs
        server = bp.BlobServer(
            self.store, self._authorize, self._requester_of, self._run_blocking, self._served
        )
        host.set_stream_handler(bp.BLOB_PROTOCOL, server.handle)
        host.set_stream_handler(dialback.PROTOCOL, dialback.Server(is_relayed).handle)
        host.get_network().register_notifee(_Notifee(self))
        router = _make_router()
        pubsub = Pubsub(host, router)
        listen, moved = addresses.free_port_fallback(self._listen)
        try:
            async with (
                host.run(listen),
                background_trio_service(pubsub),
                background_trio_service(router),
                self._nat.running(host),
                self._dht_running(host),
            ):
                addresses.check_listening(host, self._listen, moved)
                await pubsub.wait_until_ready()
                async with trio.open_nursery() as nursery:
                    self._host, self._pubsub, self._nursery = host, pubsub, nursery
                    await self._topics.start(pubsub, nursery)
                    self._start_lan_discovery(host, nursery)
                    for info in self._bootstrap:
                        if info.peer_id != self._id:
                            nursery.start_soon(
                                keep_connected, info, self.is_connected, host.connect
                            )
                    self._nat.start_reserving(nursery, host, self.is_connected)
                    if self._auto_reach:  # dial-back replaces the address rule's guess
                        nursery.start_soon(self.dialback.run)
                    task_status.started()
                    await stop.wait()
                    nursery.cancel_scope.cancel()
                # Close while run() is still active and nothing is cancelled: run()'s
                # own exit closes connections under cancellation and leaks their sockets.
                with trio.move_on_after(STOP_TIMEOUT_S):
                    await host.close()
        finally:
            self._host = self._pubsub = self._nursery = None
            pubsub.seen_messages.stop()  # else its sweeper thread outlives the host
            with trio.CancelScope(shield=True), trio.move_on_after(STOP_TIMEOUT_S):
                await host.close()  # no-op when already closed; covers failed starts

    def _start_lan_discovery(self, host: IHost, nursery: trio.Nursery) -> None:
        """mDNS (:mod:`milon_app.p2p.mdns`) when asked; it stops with the nursery."""
        if self._mdns:
            from milon_app.p2p.mdns import run_lan_discovery

            nursery.start_soon(run_lan_discovery, host, self._id, self.dial, self.is_connected)

    # -- the runtime the protocol handlers use (milon_app.p2p.runtime.PeerRuntime) ----------
    @property
    def own_id(self) -> ID:
        return self._id

    @property
    def running(self) -> bool:
        return self._runner is not None

    def call(self, afn: Callable[..., Any], *args: Any, timeout_s: float = CALL_TIMEOUT_S) -> Any:
        """Run ``afn(*args)`` on the trio loop from another thread; returns its result."""
        if self._runner is None:
            raise NetworkError(f"peer {self.peer_id} is not running: call start() first")
        return self._runner.call(afn, *args, timeout_s=timeout_s)

    async def _run_blocking(self, fn: Callable[..., T], *args: Any) -> T:
        """Run a blocking call (authorize, disk reads) on this peer's pool, not the loop."""
        pool = self._pool
        if pool is None:
            raise NetworkError("peer is stopping")
        token = trio.lowlevel.current_trio_token()
        done = trio.Event()

        def wake(_: object) -> None:
            with contextlib.suppress(trio.RunFinishedError):
                token.run_sync_soon(done.set)

        future = pool.submit(fn, *args)
        future.add_done_callback(wake)
        await done.wait()
        return future.result()

    def dispatch(self, lane: str, fn: Callable[..., None], *args: Any) -> None:
        dispatcher = self._dispatcher
        if dispatcher is not None:
            dispatcher.submit(lane, fn, *args)

    async def open_stream(self, peer: ID, protocols: Sequence[TProtocol]) -> Any:
        host = self._host
        if host is None:
            raise NetworkError("peer is stopping")
        return await host.new_stream(peer, list(protocols))

    async def known_addrs(self, peer: ID) -> list[Multiaddr]:
        host = self._host
        if host is None:
            return []
        try:
            return list(host.get_peerstore().addrs(peer))
        except Exception:
            return []

    def own_addrs(self) -> list[Multiaddr]:
        host = self._host
        if host is None:
            return []
        own = addresses.of_host(host, self.peer_id, self._announce)
        return [Multiaddr(a) for a in [*self._nat.circuit_addrs(), *own]]  # relayed ones first

    def reach(self) -> Reach:
        """How peers reach this node now: public, via a relay, or direct after a hole punch."""
        return self._nat.reach()

    def _direct_peers(self) -> list[ID]:
        """Connected peers with a direct connection: those a dial-back can be asked of."""
        host = self._host
        if host is None:
            return []
        net = host.get_network()
        with self._lock:
            peers = sorted(self._connected, key=lambda p: p.to_base58())
        return [p for p in peers if any(not is_relayed(c) for c in net.get_connections(p))]

    def _dialback_port(self) -> int | None:
        """The TCP port peers should reach: the announced one, else the first listener's."""
        host = self._host
        addrs = [*self._announce, *(host.get_transport_addrs() if host is not None else [])]
        return dialback.first_tcp_port(addrs)

    def _set_public(self, public: bool) -> None:
        self._nat.set_public(public, hop=serves_relay(self._relay_setting, public))

    def relayed(self, stream: Any) -> bool:
        return is_relayed(stream.muxed_conn)

    def remember_addrs(self, peer: ID, addrs: Sequence[Multiaddr], ttl_s: int) -> None:
        host = self._host
        if host is not None and addrs:
            host.get_peerstore().add_addrs(peer, list(addrs), ttl_s)

    def _emit(self, kind: str, data: dict[str, Any]) -> None:
        sink, dispatcher = self._on_event, self._dispatcher
        if sink is not None and dispatcher is not None:
            dispatcher.submit(EVENTS_LANE, sink, kind, data)

    def _requester_of(self, stream: Any) -> str:
        return address_of_id(stream.muxed_conn.peer_id)

    def _served(self, requester: str, digest: str, size: int) -> None:
        self._emit("blob_served", {"digest": digest, "requester": requester, "bytes": size})

    def _peer_changed(
        self, peer: ID, network: INetwork, *, up: bool, gone: INetConn | None = None
    ) -> None:
        if not up:
            left = [c for c in network.get_connections(peer) if c is not gone]
            if left:
                return
        with self._lock:
            if (peer in self._connected) == up:
                return
            (self._connected.add if up else self._connected.discard)(peer)
            count = len(self._connected)
        try:
            address = address_of_id(peer)
        except BadInputError:
            address = ""
        kind = "peer_connected" if up else "peer_disconnected"
        self._emit(kind, {"peer_id": peer.to_base58(), "address": address, "peers": count})

    def is_connected(self, peer: ID) -> bool:
        host = self._host
        return host is not None and bool(host.get_network().get_connections(peer))

    # -- peers ---------------------------------------------------------------
    def listen_addrs(self) -> list[str]:
        """Full multiaddrs (``.../p2p/<id>``) other peers can dial: ``p2p.announce``, else
        the concrete addresses it listens on and that peers observed."""
        return [str(a) for a in self.call(self._addrs)]

    async def _addrs(self) -> list[Multiaddr]:
        return self.own_addrs()

    def connect(self, addr: str, timeout_s: float = DIAL_TIMEOUT_S) -> str:
        """Dial a full multiaddr; returns the peer ID once Noise authenticated it."""
        info = peer_info(addr)
        try:
            self.call(self.dial, info, timeout_s=timeout_s)
        except (bp.ProviderError, TimeoutError) as exc:
            raise NetworkError(f"could not connect to {addr}: {exc}") from None
        return info.peer_id.to_base58()

    async def dial(self, info: PeerInfo) -> None:
        assert self._host is not None
        if info.peer_id == self._id:
            raise bp.ProviderError("that is this node")
        # An explicit dial names an address we were just given (a member's registered peer
        # info, a provider). A failure libp2p remembers from while that peer was offline (its
        # 60 s negative dial cache) must not refuse it now that it may be back: validators
        # would find a returning member's update unavailable and slash an honest node.
        unblock = getattr(self._host.get_network(), "unblock_peer", None)
        if unblock is not None:
            unblock(info.peer_id)
        try:
            await self._nat.dial(self._host, info)  # a /p2p-circuit address through its relay
        except Exception as exc:
            raise bp.ProviderError(f"dial failed: {type(exc).__name__}: {exc}") from None

    def peers(self) -> list[str]:
        """Connected peer IDs (base58); :func:`address_of_peer` gives their addresses."""
        with self._lock:
            return sorted(p.to_base58() for p in self._connected)

    # -- gossip ----------------------------------------------------------------
    def publish(self, topic: str, message: dict[str, Any]) -> None:
        try:
            data = encode_message(message)
        except (TypeError, ValueError) as exc:
            raise BadInputError(f"message on {topic!r} is not JSON-serializable: {exc}") from None
        if len(data) > MAX_MESSAGE_BYTES:
            raise BadInputError(
                f"message on {topic!r} is {len(data)} bytes, over {MAX_MESSAGE_BYTES}: send a blob"
            )
        self.call(self._topics.publish, topic, data)

    def subscribe(self, topic: str, handler: MessageHandler) -> Callable[[], None]:
        """Handlers run on the dispatcher thread as ``handler(sender_address, message)``."""
        return self._topics.subscribe(topic, handler)

    def gossip_peers(self, topic: str) -> list[str]:
        """The peers a message published here on ``topic`` goes to directly now: this peer's
        mesh for a topic it subscribes to, else the peers known to subscribe to it."""
        return sorted(p.to_base58() for p in self.call(self._gossip_peers, topic))

    async def _gossip_peers(self, topic: str) -> set[ID]:
        pubsub = self._pubsub
        if pubsub is None:
            return set()
        mesh: dict[str, set[ID]] = getattr(pubsub.router, "mesh", {})
        return set(mesh[topic] if topic in mesh else pubsub.peer_topics.get(topic, set()))

    # -- blobs -----------------------------------------------------------------
    def provide(self, digest: str, *, announce: bool = True) -> None:
        check_digest(digest)
        if not self.store.has(digest):
            raise BadInputError(f"cannot provide blob {digest}: not in the local store")
        with self._lock:
            self._provided.add(digest)
        if announce:
            self.call(self._topics.announce, [digest])
        if self._records is not None:
            self.call(self._records.provide, digest)

    def provided(self, digest: str) -> bool:
        with self._lock:
            return digest in self._provided and self.store.has(digest)

    def fetch(
        self,
        digest: str,
        *,
        kind: str,
        providers: Sequence[str] = (),
        timeout_s: float = 60.0,
        max_bytes: int | None = None,
    ) -> str:
        """Fetch into the local store from ``providers`` (peer IDs, ``0x`` addresses of
        connected peers, or full multiaddrs), then from peers that announced it."""
        from milon_app.p2p.fetch import Fetch

        check_digest(digest)
        limit = self.store.limit(kind)
        if max_bytes is not None:
            limit = min(limit, max_bytes)
        if self.store.has(digest):
            return digest
        if self._runner is None:
            raise NetworkError(f"cannot fetch blob {digest}: peer {self.peer_id} is not running")
        job = Fetch(self, digest, kind, limit, time.monotonic() + timeout_s)
        try:
            result = job.run(providers)
        except NetworkError as exc:
            self._emit("fetch_failed", {"digest": digest, "kind": kind, "reason": str(exc)})
            raise
        self._emit("blob_fetched", result)
        return digest

    def stats(self) -> dict[str, int]:
        """Counters for tests and the status view (drops by reason)."""
        return {
            "gossip_dropped": self.drops.total(),
            "gossip_rate_limited": self.drops.total("rate limited"),
            "gossip_queue_full": self.drops.total("queue full"),
            "gossip_malformed": self.drops.total("malformed"),
        }


def _x25519() -> Any:
    from libp2p.crypto.x25519 import create_new_key_pair

    return create_new_key_pair().private_key


def _make_router() -> Any:
    from milon_app.p2p.gossip import make_router

    return make_router()
