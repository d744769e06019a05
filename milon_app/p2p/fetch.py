"""One blob fetch: try each provider in turn, stream into the store, collect reasons.

Providers in order: those the caller names (on-chain peer info), those that announced
the blob on gossip, those answering a ``want`` within ``want_wait_s``, then Kademlia
provider records (``p2p.dht``, :mod:`milon_app.p2p.providers`).

Runs on the caller's thread. Bytes cross from the trio loop in chunks of up
to 1 MiB and go straight into :meth:`BlobStore.put_stream`, which hashes while
writing, so a blob is held in memory at most one chunk at a time. The peer is
reached only through its :class:`~milon_app.p2p.runtime.PeerRuntime`.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

import trio
from libp2p.peer.id import ID
from libp2p.peer.peerinfo import PeerInfo

from milon_app.errors import BadInputError, MilonError, NetworkError
from milon_app.p2p import blob_protocol as bp
from milon_app.p2p.discovery import BLOBS_TOPIC, peer_info
from milon_app.p2p.identity import address_of_id, parse_peer_id

if TYPE_CHECKING:
    from multiaddr import Multiaddr

    from milon_app.p2p.runtime import PeerRuntime

log = logging.getLogger(__name__)
DHT_LOOKUP_S = 10.0  # a lookup's bound; py-libp2p waits up to 10 s on one silent peer


class Fetch:
    def __init__(
        self, peer: PeerRuntime, digest: str, kind: str, limit: int, deadline: float
    ) -> None:
        self._peer = peer
        self.digest, self.kind, self.limit, self.deadline = digest, kind, limit, deadline
        self.reasons: list[str] = []
        self.tried: set[ID] = set()
        self.dht_asked = False

    def _remaining(self) -> float:
        return self.deadline - time.monotonic()

    def run(self, providers: Sequence[str]) -> dict[str, Any]:
        for text in providers:
            result = self._attempt(text, lambda t=text: self._resolve(t))
            if result is not None:
                return result
        for pid in self._peer.have.providers(self.digest):
            if pid not in self.tried:
                result = self._attempt(pid.to_base58(), lambda p=pid: self._resolve_id(p))
                if result is not None:
                    return result
        wait = min(self._peer.want_wait_s, self._remaining())
        if wait > 0 and self._peer.peers():
            try:
                self._peer.publish(BLOBS_TOPIC, {"type": "want", "digests": [self.digest]})
            except (NetworkError, TimeoutError) as exc:
                log.debug("could not ask for %s: %s", self.digest, exc)
            for pid in self._peer.have.wait_for_new(self.digest, self.tried, wait):
                result = self._attempt(pid.to_base58(), lambda p=pid: self._resolve_id(p))
                if result is not None:
                    return result
        result = self._from_dht()
        if result is not None:
            return result
        where = "none given, none announced it" + (", none in the DHT" if self.dht_asked else "")
        detail = "; ".join(self.reasons) or f"no provider known ({where})"
        raise NetworkError(f"could not fetch blob {self.digest}: {detail}")

    def _attempt(self, label: str, resolve: Any) -> dict[str, Any] | None:
        if self._remaining() <= 0:
            self.reasons.append(f"{label}: not tried, fetch timed out")
            return None
        started = time.monotonic()
        try:
            pid = resolve()
            if pid in self.tried:
                return None
            self.tried.add(pid)
            size, relayed = self._transfer(pid)
        except (bp.ProviderError, MilonError, TimeoutError) as exc:
            reason = str(exc) or type(exc).__name__
            self.reasons.append(f"{label}: {reason}")
            level = logging.INFO if isinstance(exc, bp.NotHeld) else logging.WARNING
            log.log(level, "fetch of %s from %s failed: %s", self.digest, label, reason)
            return None
        seconds = time.monotonic() - started
        return {
            "digest": self.digest,
            "kind": self.kind,
            "provider": pid.to_base58(),
            "bytes": size,
            "seconds": round(seconds, 3),
            "relayed": relayed,  # through a circuit relay, not a direct (or hole-punched) one
        }

    # -- finding the provider ------------------------------------------------
    def _from_dht(self) -> dict[str, Any] | None:
        """Last resort: Kademlia provider records, deduped by peer id, dialled like any
        provider (through the relay when the record names only a relayed address)."""
        wait = min(DHT_LOOKUP_S, self._remaining())
        if wait <= 0:
            return None
        found: list[PeerInfo] | None = self._peer.call(
            self._peer.find_providers, self.digest, wait, timeout_s=wait + 5.0
        )
        self.dht_asked = found is not None
        for info in found or []:
            if info.peer_id in self.tried:
                continue
            label = f"{info.peer_id.to_base58()} (DHT)"
            result = self._attempt(label, lambda i=info: self._resolve_id(i.peer_id, i.addrs))
            if result is not None:
                return result
        return None

    def _resolve(self, text: str) -> ID:
        if not isinstance(text, str):
            raise BadInputError(f"provider must be a string, got {type(text).__name__}")
        if text.startswith("/"):
            info = peer_info(text)
            self._connect(info)
            return info.peer_id
        if text.startswith("0x"):
            for name in self._peer.peers():
                pid = ID.from_base58(name)
                if address_of_id(pid).lower() == text.lower():
                    return pid
            raise bp.ProviderError("no connected peer has this address")
        return self._resolve_id(parse_peer_id(text))

    def _resolve_id(self, pid: ID, addrs: Sequence[Multiaddr] = ()) -> ID:
        """``pid``, dialled first when not connected: at ``addrs`` (a DHT record's), then at
        the addresses the peerstore knows."""
        if pid == self._peer.own_id:
            raise bp.ProviderError("that is this node")
        if not self._peer.is_connected(pid):
            known = self._peer.call(self._peer.known_addrs, pid)
            self._connect(PeerInfo(pid, [*addrs, *known]))
        return pid

    def _connect(self, info: PeerInfo) -> None:
        if self._peer.is_connected(info.peer_id):
            return
        if not info.addrs:
            raise bp.ProviderError("not connected and no address known")
        self._peer.call(self._peer.dial, info, timeout_s=min(self._remaining(), 10.0))

    # -- moving the bytes ------------------------------------------------------
    def _transfer(self, pid: ID) -> tuple[int, bool]:
        """Bytes moved, and whether they came through a relay."""
        stream, length = self._peer.call(self._open, pid, timeout_s=self._remaining())
        relayed = self._peer.relayed(stream)
        ok = False
        try:
            self._peer.store.put_stream(
                self._chunks(stream, length), self.digest, self.limit, kind=self.kind
            )
            ok = True
        finally:
            with contextlib.suppress(MilonError, TimeoutError):
                self._peer.call(_finish, stream, ok, timeout_s=5.0)
        return int(length), relayed

    async def _open(self, pid: ID) -> tuple[Any, int]:
        try:
            stream = await self._peer.open_stream(pid, [bp.BLOB_PROTOCOL])
        except NetworkError:
            raise  # the peer is stopping: no provider is to blame
        except Exception as exc:
            why = f"{type(exc).__name__}: {exc}"
            raise bp.ProviderError(f"could not open a stream: {why}") from None
        try:
            length = await bp.request(stream, self.digest, self.kind, self.limit)
        except BaseException:
            with trio.CancelScope(shield=True):
                await bp.reset(stream)
            raise
        return stream, length

    def _chunks(self, stream: Any, length: int) -> Iterator[bytes]:
        got = 0
        while got < length:
            idle = min(bp.IDLE_TIMEOUT_S, self._remaining())
            if idle <= 0:
                raise bp.ProviderError(f"fetch timed out after {got} of {length} bytes")
            chunk = self._peer.call(bp.read_some, stream, length - got, idle, timeout_s=idle + 5)
            got += len(chunk)
            yield chunk
        idle = max(min(5.0, self._remaining()), 0.5)
        self._peer.call(bp.expect_eof, stream, idle, timeout_s=idle + 5)


async def _finish(stream: Any, ok: bool) -> None:
    if ok:
        with contextlib.suppress(Exception):
            await stream.close()
    else:
        await bp.reset(stream)
