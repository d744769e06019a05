"""The ``/milon/blob/1.0.0`` stream protocol: one content-addressed blob per stream.

Request: ``u8 version | 32-byte sha256 | u8 kind length | kind (ascii)``.
Reply: ``u8 status``; on OK ``u64 length`` then exactly that many bytes and
the provider closes its side; otherwise ``u16 length | reason (utf-8)``.
The fetcher checks the length against its own limit before reading a byte,
and hashes while writing, because a provider that dies mid-transfer looks
like a clean end of stream.
"""

from __future__ import annotations

import logging
import struct
from collections.abc import Awaitable, Callable
from typing import Any

import trio
from libp2p.custom_types import TProtocol

from milon_app.errors import MilonError
from milon_app.store.blobs import BlobStore

log = logging.getLogger(__name__)

BLOB_PROTOCOL = TProtocol("/milon/blob/1.0.0")
VERSION = 1
OK, REFUSED, NOT_FOUND, BAD_REQUEST, BUSY, FAILED = range(6)
STATUS_NAMES = {
    REFUSED: "refused",
    NOT_FOUND: "not found",
    BAD_REQUEST: "bad request",
    BUSY: "busy",
    FAILED: "failed",
}
SEND_CHUNK = 1 << 20
RECV_CHUNK = 1 << 20
MAX_REASON = 256
MAX_KIND = 32
REQUEST_TIMEOUT_S = 10.0
IDLE_TIMEOUT_S = 30.0  # no byte from the peer for this long: give up on it

RunBlocking = Callable[..., Awaitable[Any]]  # runs a blocking call off the trio loop


class ProviderError(Exception):
    """One provider could not serve a blob; the fetch moves on to the next one."""


class NotHeld(ProviderError):
    """The provider does not hold the blob (yet): nothing wrong with it, ask the next one
    (a committee seat asks the seat that fetches an update first, which may still be at it)."""


def encode_request(digest: str, kind: str) -> bytes:
    raw_kind = kind.encode("ascii")
    return struct.pack(">B32sB", VERSION, bytes.fromhex(digest), len(raw_kind)) + raw_kind


def encode_error(status: int, reason: str) -> bytes:
    raw = reason.encode("utf-8", "replace")[:MAX_REASON]
    return struct.pack(">BH", status, len(raw)) + raw


async def read_exact(stream: Any, n: int) -> bytes:
    """Exactly ``n`` bytes or ProviderError (a clean EOF before that is a truncation)."""
    buf = bytearray()
    while len(buf) < n:
        try:
            chunk = await stream.read(n - len(buf))
        except Exception as exc:  # StreamEOF / StreamReset / muxer errors
            got = len(buf)
            raise ProviderError(f"stream ended after {got} of {n} bytes ({exc!r:.80})") from None
        if not chunk:
            raise ProviderError(f"stream ended after {len(buf)} of {n} bytes")
        buf += chunk
    return bytes(buf)


async def read_some(stream: Any, remaining: int, idle_s: float = IDLE_TIMEOUT_S) -> bytes:
    """Whatever has arrived, up to ``min(remaining, RECV_CHUNK)`` and at least one byte.

    Waits only for the first bytes, then drains what the muxer already holds, so
    each cross-thread hop carries a useful amount without adding latency.
    """
    want = min(remaining, RECV_CHUNK)
    buf = bytearray()
    while len(buf) < want and (not buf or _buffered(stream) > 0):
        with trio.move_on_after(idle_s) as scope:
            try:
                chunk = await stream.read(want - len(buf))
            except Exception as exc:  # StreamEOF / StreamReset
                if not buf:
                    raise ProviderError(f"stream ended early ({exc!r:.80})") from None
                break
        if scope.cancelled_caught:
            raise ProviderError(f"no data for {idle_s:.0f} s")
        if not chunk:
            if not buf:
                raise ProviderError("stream ended early")
            break
        buf += chunk
    return bytes(buf)


def _buffered(stream: Any) -> int:
    """Bytes the yamux stream already holds (0 when unknown)."""
    try:
        muxed = stream.muxed_stream
        return len(muxed.conn.stream_buffers.get(muxed.stream_id, b""))
    except Exception:
        return 0


async def expect_eof(stream: Any, idle_s: float = IDLE_TIMEOUT_S) -> None:
    """After the announced bytes, the provider must close: extra bytes are a violation."""
    with trio.move_on_after(idle_s) as scope:
        try:
            extra = await stream.read(1)
        except Exception:
            return  # EOF (or reset after the full payload): fine
    if scope.cancelled_caught:
        raise ProviderError(f"did not close the stream within {idle_s:.0f} s of the payload")
    if extra:
        raise ProviderError("sent more bytes than the announced length")


async def request(stream: Any, digest: str, kind: str, limit: int) -> int:
    """Send the request and read the reply header; returns the announced length."""
    try:
        await stream.write(encode_request(digest, kind))
    except Exception as exc:
        raise ProviderError(f"could not send the request ({exc!r:.80})") from None
    with trio.fail_after(REQUEST_TIMEOUT_S):
        (status,) = await read_exact(stream, 1)
        if status != OK and status not in STATUS_NAMES:
            raise ProviderError(f"unknown status {status} in its reply")
        if status != OK:
            (size,) = struct.unpack(">H", await read_exact(stream, 2))
            if size > MAX_REASON:
                raise ProviderError(f"sent a {size}-byte error reason (max {MAX_REASON})")
            reason = (await read_exact(stream, size)).decode("utf-8", "replace")
            name = STATUS_NAMES[status]
            error = NotHeld if status == NOT_FOUND else ProviderError
            raise error(f"{name}: {reason}" if reason else name)
        (length,) = struct.unpack(">Q", await read_exact(stream, 8))
    if length > limit:
        raise ProviderError(f"announced {length} bytes, over the {kind} limit of {limit}")
    return int(length)


async def reset(stream: Any) -> None:
    try:
        await stream.reset()
    except Exception as exc:  # already gone
        log.debug("stream reset failed: %r", exc)


class BlobServer:
    """Provider side: answers requests from ``store`` when ``authorize`` allows."""

    def __init__(
        self,
        store: BlobStore,
        authorize: Callable[[str, str], bool],
        requester_of: Callable[[Any], str],
        run_blocking: RunBlocking,
        on_served: Callable[[str, str, int], None],
        max_concurrent: int = 16,
    ) -> None:
        self._store = store
        self._authorize = authorize
        self._requester_of = requester_of
        self._run_blocking = run_blocking
        self._on_served = on_served
        self._slots = trio.Semaphore(max_concurrent)

    async def handle(self, stream: Any) -> None:
        """Stream handler; never raises (errors end the stream with a logged reason)."""
        try:
            await self._serve(stream)
        except Exception as exc:
            log.warning("blob request from %s failed: %s", _peer(stream), exc)
            await reset(stream)

    async def _serve(self, stream: Any) -> None:
        with trio.fail_after(REQUEST_TIMEOUT_S):
            version, raw_digest, kind_len = struct.unpack(">B32sB", await read_exact(stream, 34))
            raw_kind = await read_exact(stream, kind_len) if kind_len else b""
        digest = raw_digest.hex()
        kind = raw_kind.decode("ascii", "replace")
        if version != VERSION or kind_len > MAX_KIND or kind not in self._store.limits:
            await self._refuse(stream, BAD_REQUEST, f"version {version}, kind {kind!r:.40}")
            return
        requester = self._requester_of(stream)
        # A blob this node does not hold is "not found" to anyone: its digest is all the
        # requester learns, and whether a member holds a round's update is on chain anyway
        # (authors and seats). Refusing it instead would read as a misbehaving provider.
        if not await self._run_blocking(self._store.has, digest):
            await self._refuse(stream, NOT_FOUND, "blob not in this store")
            return
        if not await self._run_blocking(self._authorize, requester, digest):
            log.info("refused blob %s to %s: not authorized", digest, requester)
            await self._refuse(stream, REFUSED, "not authorized for this blob")
            return
        if self._slots.value == 0:
            await self._refuse(stream, BUSY, "too many transfers in progress")
            return
        async with self._slots:
            try:
                reader = await self._run_blocking(self._store.open, digest)
            except MilonError:
                await self._refuse(stream, NOT_FOUND, "blob not in this store")
                return
            try:
                await stream.write(struct.pack(">BQ", OK, reader.size))
                sent = 0
                while chunk := await self._run_blocking(reader.read, SEND_CHUNK):
                    await stream.write(chunk)
                    sent += len(chunk)
            finally:
                reader.close()
            await stream.close()
        log.debug("served blob %s (%d bytes) to %s", digest, sent, requester)
        self._on_served(requester, digest, sent)

    async def _refuse(self, stream: Any, status: int, reason: str) -> None:
        await stream.write(encode_error(status, reason))
        await stream.close()


def _peer(stream: Any) -> str:
    try:
        return str(stream.muxed_conn.peer_id)
    except Exception:
        return "unknown peer"
