"""The embedded chain served as JSON-RPC on loopback, so another process can use it.

The desktop app runs its simulated federation (the embedded EVM and the
simulated members) in a child process so their Python work never holds the
window's interpreter lock; the user's node stays in the app's process and
reaches that chain over HTTP, as it would reach anvil or a public RPC. Requests
go through the same formatting web3 applies to its in-process tester, so the
client sees ordinary JSON-RPC; the few dev methods the app uses (``evm_mine``,
``anvil_mine``, ``evm_increaseTime``, snapshots) map onto eth-tester calls.
Every write also tells the serving :class:`ChainClient` that the state moved,
since its read cache assumes it makes every write itself.
"""

from __future__ import annotations

import ast
import json
import logging
import threading
from collections.abc import Callable, Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any

from hexbytes import HexBytes

if TYPE_CHECKING:
    from milon_app.chain.client import ChainClient

log = logging.getLogger(__name__)
MAX_BODY = 8 * 1024 * 1024  # a request larger than this is refused (deploys are ~50 kB)
WRITES = frozenset({
    "eth_sendRawTransaction", "evm_mine", "anvil_mine", "evm_increaseTime", "evm_revert",
})  # fmt: skip
# eth-tester keeps its dev accounts unlocked: nothing served here signs for anyone (only
# transactions signed by their sender are accepted, as on a public node)
REFUSED = frozenset({
    "eth_sendTransaction", "eth_sign", "eth_signTransaction", "eth_signTypedData",
    "eth_accounts",
})  # fmt: skip
SERVED_PREFIXES = ("eth_", "net_", "web3_")
Handler = Callable[[list[Any]], Any]


class EmbeddedRpcServer:
    """A threaded HTTP JSON-RPC server on 127.0.0.1 in front of ``client``'s tester."""

    def __init__(self, client: ChainClient, port: int = 0) -> None:
        from web3.middleware import combine_middleware

        if client.kind != "embedded":
            raise ValueError("only the embedded chain can be served")
        self.client = client
        provider: Any = client.w3.provider
        self._tester = provider.ethereum_tester
        self._call = combine_middleware(
            middleware=provider._middleware, w3=client.w3, provider_request_fn=provider.make_request
        )
        self._lock = client.evm_lock  # the same lock the serving process's own calls take
        self._dev: dict[str, Handler] = {
            "anvil_mine": self._mine,
            "evm_mine": lambda _p: self._mine(["0x1"]),
            "evm_increaseTime": self._increase_time,
            "evm_snapshot": lambda _p: hex(self._tester.take_snapshot()),
            "evm_revert": self._revert,
        }
        self._httpd = ThreadingHTTPServer(("127.0.0.1", port), _handler_for(self))
        self._httpd.daemon_threads = True
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> None:
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, name="milon-rpc-server", daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    # -- requests ------------------------------------------------------------------------------
    def answer(self, request: Any) -> Any:
        """One JSON-RPC request (or a batch) to its response."""
        if isinstance(request, list):
            return [self._one(r) for r in request]
        return self._one(request)

    def _one(self, request: Any) -> dict[str, Any]:
        if not isinstance(request, Mapping) or not isinstance(request.get("method"), str):
            return _error(None, -32600, "invalid request: expected an object with a method")
        rid, method = request.get("id"), str(request["method"])
        params = request.get("params") or []
        if method in REFUSED or not (method in self._dev or method.startswith(SERVED_PREFIXES)):
            return _error(rid, -32601, f"method {method} is not served here")
        try:
            with self._lock:
                if method in self._dev:
                    result = self._dev[method](list(params))
                else:
                    response = self._call(method, params)
                    if "error" in response:
                        return {"jsonrpc": "2.0", "id": rid, "error": _jsonable(response["error"])}
                    result = response.get("result")
                if method in WRITES:
                    self.client.note_external_write()
        except Exception as exc:  # a revert or a bad argument: the caller gets it as an error
            data = _revert_data(exc)
            return _error(rid, 3 if data else -32000, _message(exc), data)
        return {"jsonrpc": "2.0", "id": rid, "result": _jsonable(result)}

    def _mine(self, params: list[Any]) -> str:
        count = (
            int(params[0], 16)
            if params and isinstance(params[0], str)
            else int(params[0] if params else 1)
        )
        self._tester.mine_blocks(max(1, count))
        return "0x0"

    def _increase_time(self, params: list[Any]) -> int:
        seconds = int(params[0], 16) if isinstance(params[0], str) else int(params[0])
        now = int(self._tester.get_block_by_number("latest")["timestamp"])
        self._tester.time_travel(now + seconds + 1)
        return seconds

    def _revert(self, params: list[Any]) -> bool:
        self._tester.revert_to_snapshot(int(params[0], 16))
        self.client.forget_nonces()
        return True


def _handler_for(server: EmbeddedRpcServer) -> type[BaseHTTPRequestHandler]:
    class RpcHandler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive: web3's session reuses one connection

        def do_POST(self) -> None:
            size = int(self.headers.get("Content-Length") or 0)
            if size > MAX_BODY:  # refused unread: the connection closes after the answer
                self.close_connection = True
                self._reply(413, _error(None, -32600, f"request of {size} bytes is too large"))
                return
            try:
                request = json.loads(self.rfile.read(size))
            except ValueError as exc:
                self._reply(400, _error(None, -32700, f"parse error: {exc}"))
                return
            self._reply(200, server.answer(request))

        def _reply(self, code: int, body: Any) -> None:
            data = json.dumps(body).encode()
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            if self.close_connection:
                self.send_header("Connection", "close")
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: Any) -> None:
            log.debug("rpc: " + format, *args)

    return RpcHandler


def _jsonable(value: Any) -> Any:
    """Tester results hold bytes, HexBytes and attribute dicts; JSON-RPC wants hex strings."""
    if isinstance(value, (bytes, bytearray, HexBytes)):
        return "0x" + bytes(value).hex()
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if isinstance(value, int):
        return hex(value)
    return value


def _error(rid: Any, code: int, message: str, data: str | None = None) -> dict[str, Any]:
    err: dict[str, Any] = {"code": code, "message": message}
    if data is not None:
        err["data"] = data
    return {"jsonrpc": "2.0", "id": rid, "error": err}


def _message(exc: BaseException) -> str:
    text = str(exc.args[0]) if exc.args else type(exc).__name__
    if _revert_data(exc) is not None:
        return "execution reverted"
    return text if text.startswith("execution reverted") else f"execution reverted: {text}"


def _revert_data(exc: BaseException) -> str | None:
    """The revert's ABI-encoded data, which eth-tester leaves as a bytes literal in its message
    ("execution reverted: b'...'"): passed on as JSON-RPC error data, so custom errors decode."""
    text = str(exc.args[0]) if exc.args else ""
    literal = text.removeprefix("execution reverted: ")
    if literal.startswith(("b'", 'b"')):
        try:
            raw = ast.literal_eval(literal)
        except (ValueError, SyntaxError):
            return None
        if isinstance(raw, bytes):
            return "0x" + raw.hex()
    return None
