"""Dial-back: peers tell a node whether they can reach it (``/milon/dialback/1.0.0``).

The asker sends one line ``{"port": P}``; the server opens a fresh TCP socket to the IP it
*observes* the asking connection coming from, port P, and answers ``reachable`` or
``unreachable`` (``refused`` when it will not check). It never dials an IP the asker names,
so nobody can point it at a third party (no amplification, no scanning); a new socket,
not ``host.connect()``, which would return the existing connection and say yes to a NATed
node (py-libp2p 0.8.1's AutoNAT trap, :mod:`milon_app.p2p.reachability`). One check per
peer per :data:`PER_PEER_S`, at most :data:`MAX_CHECKS` at once, none over a relay (the
observed IP would be the relay's).

The asking side (:class:`Prober`) runs only for ``p2p.reachability = "auto"``.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import trio
from libp2p.custom_types import TProtocol
from libp2p.peer.id import ID
from multiaddr import Multiaddr

from milon_app.p2p.addresses import is_circuit

log = logging.getLogger(__name__)

PROTOCOL = TProtocol("/milon/dialback/1.0.0")
DIAL_TIMEOUT_S = 3.0  # the server's dial back; a router that DROPs makes it wait this long
ANSWER_TIMEOUT_S = DIAL_TIMEOUT_S + 5.0
PER_PEER_S = 60.0  # one check per asking peer per minute
MAX_CHECKS = 4  # dial-backs in flight at once; more are refused, not queued
MAX_LINE = 128
ASK = 3  # distinct peers asked per check
RECHECK_S = 30 * 60.0
RETRY_S = PER_PEER_S  # no peer answered: ask again once their rate limit let us
POLL_S = 1.0
REACHABLE, UNREACHABLE, REFUSED = "reachable", "unreachable", "refused"


class DialbackError(Exception):
    """A malformed request or answer."""


async def _read_line(stream: Any) -> dict[str, Any]:
    data = b""
    while not data.endswith(b"\n"):
        chunk = await stream.read(MAX_LINE)
        if not chunk:
            break
        data += chunk
        if len(data) > MAX_LINE:
            raise DialbackError(f"line over {MAX_LINE} bytes")
    try:
        obj = json.loads(data)
    except ValueError:
        raise DialbackError("not a JSON line") from None
    if not isinstance(obj, dict):
        raise DialbackError("not a JSON object")
    return obj


async def _write_line(stream: Any, obj: dict[str, Any]) -> None:
    await stream.write(json.dumps(obj).encode() + b"\n")


def _port(request: dict[str, Any]) -> int:
    port = request.get("port")
    if not isinstance(port, int) or isinstance(port, bool) or not 0 < port < 65536:
        raise DialbackError(f"port {port!r}: expected 1-65535")
    return port


def first_tcp_port(addrs: Sequence[Multiaddr]) -> int | None:
    """The port of the first direct TCP address (not a relayed one)."""
    for addr in addrs:
        if is_circuit(addr):
            continue
        with contextlib.suppress(Exception):
            port = int(addr.value_for_protocol("tcp"))
            if port:
                return port
    return None


async def tcp_reachable(ip: str, port: int, timeout_s: float = DIAL_TIMEOUT_S) -> bool:
    """Whether a fresh TCP connection to ``ip:port`` opens within ``timeout_s``."""
    with trio.move_on_after(timeout_s):
        try:
            stream = await trio.open_tcp_stream(ip, port)
        except OSError:
            return False
        await stream.aclose()
        return True
    return False


class Server:
    """The answering side; :meth:`handle` is the stream handler."""

    def __init__(
        self, relayed: Callable[[Any], bool], clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._relayed, self._clock = relayed, clock
        self._asked: dict[str, float] = {}  # peer id -> when it last asked
        self._busy = 0

    async def handle(self, stream: Any) -> None:
        try:
            with trio.fail_after(ANSWER_TIMEOUT_S):
                await _write_line(stream, await self._answer(stream))
        except Exception as exc:
            log.info("dial-back request dropped: %s: %s", type(exc).__name__, exc)
        finally:
            with trio.CancelScope(shield=True), trio.move_on_after(1):
                await stream.close()

    async def _answer(self, stream: Any) -> dict[str, Any]:
        port = _port(await _read_line(stream))  # any other field (an IP) is ignored
        refusal = self._refusal(stream)
        if refusal:
            return {"status": REFUSED, "reason": refusal}
        ip = stream.get_remote_address()[0]  # the observed IP, never one the asker names
        self._busy += 1
        try:
            ok = await tcp_reachable(ip, port)
        finally:
            self._busy -= 1
        return {"status": REACHABLE if ok else UNREACHABLE}

    def _refusal(self, stream: Any) -> str:
        if self._relayed(stream.muxed_conn) or stream.get_remote_address() is None:
            return "no direct connection: the observed address would not be the asker's"
        now, peer = self._clock(), stream.muxed_conn.peer_id.to_base58()
        if now - self._asked.get(peer, -math.inf) < PER_PEER_S:
            return f"one check per peer per {PER_PEER_S:.0f} s"
        if self._busy >= MAX_CHECKS:
            return "busy"
        self._asked = {p: t for p, t in self._asked.items() if now - t < PER_PEER_S}
        self._asked[peer] = now
        return ""


OpenStream = Callable[[ID, Sequence[TProtocol]], Awaitable[Any]]


async def ask(open_stream: OpenStream, peer: ID, port: int) -> str:
    """One peer's answer about ``port`` on our observed IP (``refused`` on any failure)."""
    try:
        with trio.fail_after(ANSWER_TIMEOUT_S):
            stream = await open_stream(peer, [PROTOCOL])
            try:
                await _write_line(stream, {"port": port})
                status = (await _read_line(stream)).get("status")
            finally:
                with trio.CancelScope(shield=True), trio.move_on_after(1):
                    await stream.close()
    except Exception as exc:
        log.info("no dial-back answer from %s: %s: %s", peer, type(exc).__name__, exc)
        return REFUSED
    return status if status in (REACHABLE, UNREACHABLE) else REFUSED


def verdict(answers: Sequence[str], connected: int) -> bool | None:
    """Public when 2 peers confirm (1 when only one peer is connected); None when nobody
    answered (keep the current guess). A lying peer can only make a node think itself
    public: it then drops its relay reservation and is unreachable, losing no stake."""
    real = [a for a in answers if a != REFUSED]
    if not real:
        return None
    need = 1 if connected <= 1 else 2
    return real.count(REACHABLE) >= need


class Prober:
    """The asking side: asks each newly connected direct peer until :data:`ASK` answered,
    starts over when the port changes and every :data:`RECHECK_S` (:data:`RETRY_S` when
    nobody answered), and hands each verdict to ``decide``."""

    def __init__(
        self,
        open_stream: OpenStream,
        peers: Callable[[], list[ID]],
        port: Callable[[], int | None],
        decide: Callable[[bool], None],
    ) -> None:
        self._open, self._peers, self._port, self._decide = open_stream, peers, port, decide
        self.answers: dict[str, str] = {}  # this round's answers, by peer id (replaced whole)

    async def run(self) -> None:
        checked: int | None = None
        due = 0.0
        while True:
            port = self._port()
            # With ASK answers in hand and no recheck due there is nobody to ask: skip listing
            # the peers (a pass over every connection's addresses, each second, on every host).
            due_now = port is not None and (port != checked or time.monotonic() >= due)
            peers = self._peers() if due_now or self._answered() < ASK else []
            if port is not None and peers:
                if port != checked or time.monotonic() >= due:
                    self.answers, checked = {}, port
                    due = time.monotonic() + RECHECK_S
                await self.check(peers, port)
                if verdict(list(self.answers.values()), 1) is None and not self._unasked(peers):
                    due = min(due, time.monotonic() + RETRY_S)  # everyone refused: retry soon
            await trio.sleep(POLL_S)

    def _answered(self) -> int:
        """This round's real answers (a refusal is none)."""
        return sum(a != REFUSED for a in self.answers.values())

    def _unasked(self, peers: list[ID]) -> list[ID]:
        wanted = max(0, ASK - self._answered())
        return [p for p in peers if p.to_base58() not in self.answers][:wanted]

    async def check(self, peers: list[ID], port: int) -> bool | None:
        """Asks the peers not asked yet this round (concurrently), then decides on all the
        round's answers; None when nobody new was asked or nobody answered."""
        new = self._unasked(peers)
        if not new:
            return None
        got: dict[str, str] = {}

        async def one(peer: ID) -> None:
            got[peer.to_base58()] = await ask(self._open, peer, port)

        async with trio.open_nursery() as nursery:
            for peer in new:
                nursery.start_soon(one, peer)
        self.answers = {**self.answers, **got}
        result = verdict(list(self.answers.values()), len(peers))
        log.info("dial-back on port %d: %s -> %s", port, self.answers, result)
        if result is not None:
            self._decide(result)
        return result
