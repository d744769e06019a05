"""A JSON-RPC proxy on 127.0.0.1 that behaves like a public provider in front of anvil.

Test code only. It forwards requests to a real node and, as configured:
- refuses an ``eth_getLogs`` over more than ``getlogs_max_blocks`` blocks with the
  error shapes providers use (``style`` "infura": code -32005 "query returned more than
  10000 results"; "alchemy": code -32602 "block range is too wide" wording);
- answers HTTP 429 (with ``Retry-After`` when ``retry_after`` is set) once more than
  ``rate_burst`` requests arrive faster than ``rate_per_s`` (a token bucket);
- drops ``eth_sendRawTransaction`` calls, answering with the transaction's hash as if
  it had been passed on (a lossy provider): the calls whose index is in ``drop_sends``,
  and a share ``drop_share`` of the others (seeded).
Everything seen is recorded, so a test can assert on what the client really did.
"""

from __future__ import annotations

import json
import random
import threading
import time
import urllib.request
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from eth_utils import keccak


@dataclass
class Seen:
    """One request as the proxy handled it."""

    t: float  # time.monotonic() on arrival
    method: str
    params: Any
    outcome: str  # forwarded, limited (429), refused (getLogs range), dropped


@dataclass
class ProxyRules:
    getlogs_max_blocks: int | None = None
    style: str = "infura"
    rate_per_s: float | None = None
    rate_burst: int = 10
    retry_after: str | None = None
    drop_sends: set[int] = field(default_factory=set)
    drop_share: float = 0.0
    seed: int = 7


class RpcProxy:
    """Start with :meth:`start`, stop with :meth:`stop` (or use as a context manager)."""

    def __init__(self, upstream: str, rules: ProxyRules | None = None) -> None:
        self.upstream = upstream
        self.rules = rules or ProxyRules()
        self.seen: list[Seen] = []
        self.sends: list[bytes] = []  # every raw transaction received, dropped or not
        self._rng = random.Random(self.rules.seed)
        self._lock = threading.Lock()
        self._tokens = float(self.rules.rate_burst)
        self._refill_at = time.monotonic()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle ------------------------------------------------------------------------
    @property
    def url(self) -> str:
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def start(self) -> RpcProxy:
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                status, headers, reply = proxy.handle(body)
                self.send_response(status)
                for k, v in headers.items():
                    self.send_header(k, v)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(reply)))
                self.end_headers()
                self.wfile.write(reply)

            def log_message(self, *args: Any) -> None:
                return

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        server = self._server
        self._thread = threading.Thread(
            target=lambda: server.serve_forever(poll_interval=0.02), daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            server.shutdown()
            server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> RpcProxy:
        return self.start() if self._server is None else self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- what happened --------------------------------------------------------------------
    def count(self, method: str | None = None, outcome: str | None = None) -> int:
        with self._lock:
            return sum(
                1
                for s in self.seen
                if (method is None or s.method == method)
                and (outcome is None or s.outcome == outcome)
            )

    # -- the rules ------------------------------------------------------------------------
    def handle(self, body: bytes) -> tuple[int, dict[str, str], bytes]:
        request = json.loads(body)
        first = request[0] if isinstance(request, list) else request
        method = str(first.get("method", ""))
        now = time.monotonic()
        if not self._take_token(now):
            self._note(now, method, first.get("params"), "limited")
            headers = (
                {} if self.rules.retry_after is None else {"Retry-After": self.rules.retry_after}
            )
            return 429, headers, b'{"error": "Too Many Requests"}'
        if isinstance(request, dict):
            refused = self._refuse_logs(request)
            if refused is not None:
                self._note(now, method, request.get("params"), "refused")
                return 200, {}, json.dumps(refused).encode()
            if method == "eth_sendRawTransaction":
                dropped = self._maybe_drop(request)
                if dropped is not None:
                    self._note(now, method, request.get("params"), "dropped")
                    return 200, {}, json.dumps(dropped).encode()
        self._note(now, method, first.get("params"), "forwarded")
        return 200, {}, self._forward(body)

    def _note(self, t: float, method: str, params: Any, outcome: str) -> None:
        with self._lock:
            self.seen.append(Seen(t, method, params, outcome))

    def _take_token(self, now: float) -> bool:
        rate = self.rules.rate_per_s
        if rate is None:
            return True
        with self._lock:
            self._tokens = min(
                float(self.rules.rate_burst), self._tokens + (now - self._refill_at) * rate
            )
            self._refill_at = now
            if self._tokens < 1:
                return False
            self._tokens -= 1
            return True

    def _block(self, tag: Any) -> int:
        if isinstance(tag, str) and tag.startswith("0x"):
            return int(tag, 16)
        if tag == "earliest":
            return 0
        reply = json.loads(self._forward(json.dumps(
            {"jsonrpc": "2.0", "id": 0, "method": "eth_blockNumber", "params": []}
        ).encode()))  # fmt: skip
        return int(reply["result"], 16)

    def _refuse_logs(self, request: dict[str, Any]) -> dict[str, Any] | None:
        limit = self.rules.getlogs_max_blocks
        if request.get("method") != "eth_getLogs" or limit is None:
            return None
        flt = (request.get("params") or [{}])[0]
        start = self._block(flt.get("fromBlock", "latest"))
        end = self._block(flt.get("toBlock", "latest"))
        if end - start + 1 <= limit:
            return None
        if self.rules.style == "alchemy":
            error = {
                "code": -32602,
                "message": f"Log response size exceeded. eth_getLogs is limited to a {limit} "
                "block range; block range is too wide",
            }
        else:
            mid = start + limit - 1
            error = {
                "code": -32005,
                "message": "query returned more than 10000 results. Try with this block "
                f"range [{hex(start)}, {hex(mid)}].",
            }
        return {"jsonrpc": "2.0", "id": request.get("id"), "error": error}

    def _maybe_drop(self, request: dict[str, Any]) -> dict[str, Any] | None:
        raw = bytes.fromhex(str(request["params"][0]).removeprefix("0x"))
        with self._lock:
            index = len(self.sends)
            self.sends.append(raw)
            drop = index in self.rules.drop_sends or (
                self.rules.drop_share > 0 and self._rng.random() < self.rules.drop_share
            )
        if not drop:
            return None
        return {"jsonrpc": "2.0", "id": request.get("id"), "result": "0x" + keccak(raw).hex()}

    def _forward(self, body: bytes) -> bytes:
        req = urllib.request.Request(
            self.upstream, data=body, headers={"Content-Type": "application/json"}
        )
        with urllib.request.urlopen(req, timeout=30) as reply:
            return bytes(reply.read())
