"""A bare libp2p host for tests: misbehaving blob servers, floods, plaintext dialers.

Written against libp2p directly (not our transport) so it can break the rules.
"""

from __future__ import annotations

import os
import struct
from collections.abc import Awaitable, Callable
from typing import Any

import multiaddr
import trio
from libp2p import new_host
from libp2p.crypto.keys import KeyPair
from libp2p.crypto.secp256k1 import Secp256k1PrivateKey
from libp2p.crypto.x25519 import create_new_key_pair as x25519
from libp2p.custom_types import TProtocol
from libp2p.peer.peerinfo import info_from_p2p_addr
from libp2p.pubsub.gossipsub import GossipSub
from libp2p.pubsub.pubsub import Pubsub
from libp2p.security.insecure.transport import PLAINTEXT_PROTOCOL_ID, InsecureTransport
from libp2p.security.noise.transport import PROTOCOL_ID as NOISE_ID
from libp2p.security.noise.transport import Transport as Noise
from libp2p.stream_muxer.yamux.yamux import PROTOCOL_ID as YAMUX_ID
from libp2p.stream_muxer.yamux.yamux import Yamux
from libp2p.tools.anyio_service import background_trio_service

from milon_app.p2p.blob_protocol import BLOB_PROTOCOL
from milon_app.p2p.gossip import GOSSIPSUB_PROTOCOLS
from milon_app.p2p.runner import TrioThread

Handler = Callable[[Any, str], Awaitable[None]]  # (stream, requested digest hex)


class RawPeer:
    """A libp2p host on its own trio thread; ``blob_handler`` answers blob requests."""

    def __init__(self, *, plaintext: bool = False, blob_handler: Handler | None = None) -> None:
        secret = Secp256k1PrivateKey.from_bytes(os.urandom(32))
        self.keypair = KeyPair(secret, secret.get_public_key())
        sec: dict[Any, Any]
        if plaintext:
            sec = {PLAINTEXT_PROTOCOL_ID: InsecureTransport(self.keypair)}
        else:
            sec = {NOISE_ID: Noise(self.keypair, noise_privkey=x25519().private_key)}
        self.host = new_host(key_pair=self.keypair, sec_opt=sec, muxer_opt={TProtocol(YAMUX_ID): Yamux})
        self.blob_handler = blob_handler
        self.runner = TrioThread("rawpeer")
        self.router = GossipSub(
            protocols=GOSSIPSUB_PROTOCOLS, degree=6, degree_low=4, degree_high=12,
            heartbeat_interval=1, spam_protection_enabled=False, eclipse_protection_enabled=False,
        )
        self.pubsub = Pubsub(self.host, self.router)

    @property
    def peer_id(self) -> str:
        return self.host.get_id().to_base58()

    def start(self) -> RawPeer:
        if self.blob_handler is not None:
            self.host.set_stream_handler(BLOB_PROTOCOL, self._handle)
        self.runner.start(self._serve, 20)
        return self

    async def _handle(self, stream: Any) -> None:
        try:
            head = await read_exact(stream, 34)
            kind_len = head[33]
            await read_exact(stream, kind_len)
            assert self.blob_handler is not None
            await self.blob_handler(stream, head[1:33].hex())
        except Exception:
            pass

    async def _serve(self, stop: trio.Event, task_status: Any = trio.TASK_STATUS_IGNORED) -> None:
        try:
            async with self.host.run([multiaddr.Multiaddr("/ip4/127.0.0.1/tcp/0")]), \
                    background_trio_service(self.pubsub), background_trio_service(self.router):
                await self.pubsub.wait_until_ready()
                task_status.started()
                await stop.wait()
        finally:
            self.pubsub.seen_messages.stop()
            with trio.CancelScope(shield=True):
                await self.host.close()

    def addr(self) -> str:
        return str(self.host.get_addrs()[0])

    def call(self, afn: Callable[..., Awaitable[Any]], *args: Any, timeout_s: float = 10) -> Any:
        return self.runner.call(afn, *args, timeout_s=timeout_s)

    def connect(self, addr: str) -> None:
        async def dial() -> None:
            await self.host.connect(info_from_p2p_addr(multiaddr.Multiaddr(addr)))

        self.call(dial)

    def subscribe(self, topic: str) -> None:
        async def sub() -> None:
            await self.pubsub.subscribe(topic)

        self.call(sub)

    def gossip_peers(self, topic: str) -> list[str]:
        """As :meth:`Libp2pTransport.gossip_peers`: who a publish on ``topic`` reaches now."""

        async def read() -> list[str]:
            mesh = self.router.mesh
            peers = mesh[topic] if topic in mesh else self.pubsub.peer_topics.get(topic, set())
            return sorted(p.to_base58() for p in peers)

        return self.call(read)

    def publish_many(self, topic: str, payloads: list[bytes], gap_s: float = 0.0) -> None:
        """Publish each payload; ``gap_s`` paces the flood under libp2p's own
        32-slot outbound queue, which otherwise drops most of it at the sender."""

        async def flood() -> None:
            for data in payloads:
                await self.pubsub.publish(topic, data)
                await trio.sleep(gap_s)

        self.call(flood, timeout_s=60)

    def open_blob_stream(self, peer_id: str, raw: bytes, reply_max: int = 4096) -> bytes:
        """Send ``raw`` on a blob stream to ``peer_id``; returns what came back until EOF."""
        from libp2p.peer.id import ID

        async def go() -> bytes:
            stream = await self.host.new_stream(ID.from_base58(peer_id), [BLOB_PROTOCOL])
            await stream.write(raw)
            await stream.close()  # our side is done: the server sees EOF after ``raw``
            out = bytearray()
            with trio.move_on_after(5):
                while len(out) < reply_max:
                    try:
                        chunk = await stream.read(reply_max - len(out))
                    except Exception:
                        break
                    if not chunk:
                        break
                    out += chunk
            await stream.reset()
            return bytes(out)

        return self.call(go)

    def stop(self) -> None:
        self.runner.stop(20)


async def read_exact(stream: Any, n: int) -> bytes:
    buf = bytearray()
    while len(buf) < n:
        chunk = await stream.read(n - len(buf))
        if not chunk:
            raise EOFError
        buf += chunk
    return bytes(buf)


def ok_header(length: int) -> bytes:
    return struct.pack(">BQ", 0, length)
