"""Fetch and Topics built alone, on a tiny in-memory runtime: no host, no loop thread, no sleeps.

The protocol handlers reach the peer only through
:class:`~milon_app.p2p.runtime.PeerRuntime`; here it is a plain object whose
streams replay canned provider replies and whose loop is ``trio.run`` per
call, so each test shows one rule of the handlers directly.
"""

from __future__ import annotations

import hashlib
import os
import struct
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import pytest
import trio
from libp2p.custom_types import TProtocol
from libp2p.peer.id import ID
from libp2p.peer.peerinfo import PeerInfo
from libp2p.pubsub.pb import rpc_pb2
from multiaddr import Multiaddr

from milon_app.errors import NetworkError
from milon_app.p2p import blob_protocol as bp
from milon_app.p2p.discovery import BLOBS_TOPIC, HaveTable
from milon_app.p2p.fetch import Fetch
from milon_app.p2p.gossip import DropCounter, encode_message
from milon_app.p2p.identity import address_of_id, keypair_from_eth_key
from milon_app.p2p.pubsub_topics import ANNOUNCED_ADDR_TTL_S, Topics
from milon_app.p2p.runtime import PeerRuntime
from milon_app.store.blobs import SHARD, BlobStore

BLOB = b"federated " * 300
DIGEST = hashlib.sha256(BLOB).hexdigest()


def new_id() -> ID:
    return ID.from_pubkey(keypair_from_eth_key(os.urandom(32)).public_key)


def ok_reply(data: bytes, extra: bytes = b"") -> bytes:
    return struct.pack(">BQ", bp.OK, len(data)) + data + extra


class ReplayStream:
    """A provider's side of a blob stream, replayed from bytes (b"" once drained: EOF)."""

    def __init__(self, reply: bytes) -> None:
        self._left = bytearray(reply)
        self.request = bytearray()
        self.closed = self.was_reset = False

    async def write(self, data: bytes) -> None:
        self.request += data

    async def read(self, n: int) -> bytes:
        chunk = bytes(self._left[:n])
        del self._left[:n]
        return chunk

    async def close(self) -> None:
        self.closed = True

    async def reset(self) -> None:
        self.was_reset = True


@dataclass
class MemoryRuntime:
    """Everything Fetch and Topics may use of a peer, in memory."""

    store: BlobStore
    own_id: ID = field(default_factory=new_id)
    have: HaveTable = field(default_factory=HaveTable)
    drops: DropCounter = field(default_factory=DropCounter)
    want_wait_s: float = 5.0
    running: bool = True
    replies: dict[ID, bytes] = field(default_factory=dict)  # provider -> its canned reply
    connected: set[ID] = field(default_factory=set)
    addrs: dict[ID, list[Multiaddr]] = field(default_factory=dict)  # the peerstore
    streams: list[tuple[ID, ReplayStream]] = field(default_factory=list)
    published: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    dispatched: list[tuple[str, Any]] = field(default_factory=list)
    on_publish: Callable[[str, dict[str, Any]], None] = lambda _topic, _message: None

    def call(self, afn: Callable[..., Any], *args: Any, timeout_s: float = 0.0) -> Any:
        return trio.run(afn, *args)

    def peers(self) -> list[str]:
        return sorted(p.to_base58() for p in self.connected)

    def is_connected(self, peer: ID) -> bool:
        return peer in self.connected

    def publish(self, topic: str, message: dict[str, Any]) -> None:
        self.published.append((topic, message))
        self.on_publish(topic, message)

    def provided(self, digest: str) -> bool:
        return self.store.has(digest)

    def dispatch(self, lane: str, fn: Callable[..., None], *args: Any) -> None:
        self.dispatched.append((lane, args))
        fn(*args)

    async def dial(self, info: PeerInfo) -> None:
        self.connected.add(info.peer_id)

    async def open_stream(self, peer: ID, protocols: Sequence[TProtocol]) -> Any:
        assert list(protocols) == [bp.BLOB_PROTOCOL]
        if peer not in self.replies:
            raise ConnectionError("protocol not supported")
        stream = ReplayStream(self.replies[peer])
        self.streams.append((peer, stream))
        return stream

    async def known_addrs(self, peer: ID) -> list[Multiaddr]:
        return list(self.addrs.get(peer, []))

    def own_addrs(self) -> list[Multiaddr]:
        return [Multiaddr(f"/ip4/127.0.0.1/tcp/4001/p2p/{self.own_id.to_base58()}")]

    def remember_addrs(self, peer: ID, addrs: Sequence[Multiaddr], ttl_s: int) -> None:
        assert ttl_s == ANNOUNCED_ADDR_TTL_S
        self.addrs.setdefault(peer, []).extend(addrs)

    async def find_providers(self, digest: str, timeout_s: float) -> list[PeerInfo] | None:
        return None  # no DHT (p2p.dht): the fetch tests here end before it

    def relayed(self, stream: Any) -> bool:
        return False  # replayed streams run over no connection


@pytest.fixture
def runtime(tmp_path) -> MemoryRuntime:
    return MemoryRuntime(BlobStore(tmp_path / "store"))


def fetch(
    rt: PeerRuntime, providers: Sequence[str] = (), limit: int = 1 << 20
) -> tuple[Fetch, dict[str, Any]]:
    job = Fetch(rt, DIGEST, SHARD, limit, time.monotonic() + 30)
    return job, job.run(providers)


def test_fetch_streams_a_blob_from_a_named_provider_into_the_store(runtime):
    provider = new_id()
    runtime.replies[provider] = ok_reply(BLOB)
    runtime.addrs[provider] = [Multiaddr("/ip4/127.0.0.1/tcp/4002")]
    _job, result = fetch(runtime, [provider.to_base58()])
    assert result["provider"] == provider.to_base58() and result["bytes"] == len(BLOB)
    assert runtime.store.has(DIGEST) and runtime.store.path(DIGEST).read_bytes() == BLOB
    assert runtime.connected == {provider}  # dialled at the address its peerstore held
    ((peer, stream),) = runtime.streams
    assert peer == provider and bytes(stream.request) == bp.encode_request(DIGEST, SHARD)
    assert stream.closed and not stream.was_reset
    assert runtime.published == []  # a provider answered: no "want" went out


def test_fetch_moves_past_refusals_and_bad_providers_to_an_announcer(runtime):
    refuses, oversends, unreachable, good = new_id(), new_id(), new_id(), new_id()
    runtime.replies[refuses] = bp.encode_error(bp.REFUSED, "not authorized for this blob")
    runtime.replies[oversends] = ok_reply(BLOB, extra=b"!")
    runtime.replies[good] = ok_reply(BLOB)
    runtime.connected |= {refuses, oversends, good}
    runtime.have.add(DIGEST, good)
    runtime.have.add(DIGEST, refuses)  # announced too, but already tried: not asked twice
    names = [p.to_base58() for p in (refuses, oversends, unreachable)]
    job, result = fetch(runtime, names)
    assert result["provider"] == good.to_base58()
    assert [peer for peer, _ in runtime.streams] == [refuses, oversends, good]
    assert job.reasons == [
        f"{names[0]}: refused: not authorized for this blob",
        f"{names[1]}: sent more bytes than the announced length",
        f"{names[2]}: not connected and no address known",
    ]
    assert runtime.streams[1][1].was_reset  # a failed transfer resets its stream


def test_fetch_finds_a_connected_provider_by_its_ethereum_address(runtime):
    provider = new_id()
    runtime.replies[provider] = ok_reply(BLOB)
    runtime.connected.add(provider)
    _job, result = fetch(runtime, [address_of_id(provider).lower()])
    assert result["provider"] == provider.to_base58()


def test_fetch_with_no_provider_asks_for_the_blob_and_takes_the_first_answer(runtime):
    answer = new_id()
    runtime.replies[answer] = ok_reply(BLOB)
    runtime.connected.add(new_id())  # someone to hear the "want"

    def reply_to_want(topic: str, message: dict[str, Any]) -> None:
        runtime.connected.add(answer)
        runtime.have.add(DIGEST, answer)  # as Topics does on the answering "have"

    runtime.on_publish = reply_to_want
    _job, result = fetch(runtime)
    assert runtime.published == [(BLOBS_TOPIC, {"type": "want", "digests": [DIGEST]})]
    assert result["provider"] == answer.to_base58()


def test_fetch_fails_with_every_reason_and_keeps_nothing(runtime):
    runtime.want_wait_s = 0.0  # nobody to ask: fail at once
    with pytest.raises(NetworkError, match="no provider known"):
        fetch(runtime)
    liar = new_id()
    runtime.replies[liar] = ok_reply(b"x" * len(BLOB))  # right length, wrong bytes
    runtime.connected.add(liar)
    with pytest.raises(NetworkError, match=f"could not fetch blob {DIGEST}: {liar.to_base58()}"):
        fetch(runtime, [liar.to_base58()])
    with pytest.raises(NetworkError, match="announced .* bytes, over the shard limit of 10"):
        fetch(runtime, [liar.to_base58()], limit=10)
    assert not runtime.store.has(DIGEST)
    assert runtime.published == []  # no connected peer, no want; the liar was named


def gossip(sender: ID, message: dict[str, Any]) -> rpc_pb2.Message:
    """A gossip message as libp2p hands it to a topic's delivery channel (its signature already checked)."""
    return rpc_pb2.Message(from_id=sender.to_bytes(), data=encode_message(message))


def test_topics_deliver_have_announcements_and_messages_through_the_runtime(runtime):
    topics = Topics(runtime)
    runtime.running = False  # subscribing before the loop runs joins nothing yet
    got: list[tuple[str, dict[str, Any]]] = []
    topics.subscribe(BLOBS_TOPIC, lambda who, message: got.append((who, message)))
    sender = new_id()
    addr = Multiaddr(f"/ip4/10.0.0.7/tcp/4001/p2p/{sender.to_base58()}")
    other = f"/ip4/10.0.0.8/tcp/4001/p2p/{new_id().to_base58()}"  # not the sender's: ignored
    have = {"type": "have", "digests": [DIGEST], "addrs": [str(addr), other]}
    topics.deliver(BLOBS_TOPIC, gossip(sender, have))
    assert runtime.have.providers(DIGEST) == [sender]
    assert runtime.addrs == {sender: [Multiaddr("/ip4/10.0.0.7/tcp/4001")]}
    assert got == [(address_of_id(sender), have)]
    assert runtime.dispatched == [(sender.to_base58(), (address_of_id(sender), have))]

    topics.deliver(BLOBS_TOPIC, gossip(runtime.own_id, have))  # its own echo: skipped
    assert len(got) == 1
    # a bad announcement is counted and not believed (still a JSON object for subscribers)
    topics.deliver(BLOBS_TOPIC, gossip(sender, {"type": "have", "digests": ["0" * 64, "nope"]}))
    assert runtime.drops.total("malformed") == 1 and runtime.have.providers("0" * 64) == []
    topics.deliver(BLOBS_TOPIC, gossip(sender, {"type": "want", "digests": [DIGEST]}))
    assert runtime.drops.total() == 1 and len(got) == 3
