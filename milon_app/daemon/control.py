"""The daemon's status channel: HTTP on 127.0.0.1 only, guarded by a bearer token.

The token is generated at first start into a 0600 file in the data folder,
so only the user who owns the node can read its status; the port and PID
are published beside it for ``milon status``.
"""

from __future__ import annotations

import hmac
import json
import os
import re
import secrets
import threading
import urllib.error
import urllib.request
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from milon_app.compute.bounded_json import loads_bounded
from milon_app.errors import BadInputError, MilonError, NotFoundError
from milon_app.util.atomic import atomic_write_text

TOKEN_FILE = "control-token"  # noqa: S105 - a file name, not a secret
INFO_FILE = "daemon.json"
MAX_STATUS_BYTES = 4 << 20
MAX_INFO_BYTES = 64 * 1024
_TOKEN = re.compile(r"[A-Za-z0-9_-]{1,128}")  # what secrets.token_urlsafe writes


def control_dir(data_dir: Path) -> Path:
    return data_dir / "daemon"


def load_or_create_token(data_dir: Path) -> str:
    path = control_dir(data_dir) / TOKEN_FILE
    try:
        token = path.read_text().strip()
        if token:
            return token
    except FileNotFoundError:
        pass
    token = secrets.token_urlsafe(32)
    atomic_write_text(path, token + "\n", mode=0o600)
    return token


class ControlServer:
    def __init__(self, data_dir: Path, status: Callable[[], dict[str, Any]], port: int = 0) -> None:
        self.data_dir = data_dir
        self._token = load_or_create_token(data_dir)
        token, status_fn = self._token, status

        class Handler(BaseHTTPRequestHandler):
            default_request_version = "HTTP/1.0"  # errors to junk get a status line too

            def do_GET(self) -> None:
                # bytes: compare_digest raises TypeError on non-ASCII text from a client
                auth = self.headers.get("Authorization", "").encode("utf-8", "surrogateescape")
                if not hmac.compare_digest(auth, f"Bearer {token}".encode()):
                    self._reply(401, {"error": "missing or wrong token"})
                    return
                if self.path != "/status":
                    self._reply(404, {"error": f"no such path {self.path}"})
                    return
                try:
                    self._reply(200, status_fn())
                except Exception as exc:  # the status must never take the daemon down
                    self._reply(500, {"error": repr(exc)})

            def _reply(self, code: int, body: dict[str, Any]) -> None:
                data = json.dumps(body, default=str).encode()
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: Any) -> None:
                return None  # requests carry no secrets, but keep the log for events

        self._server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="milon-control", daemon=True
        )

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    def start(self, info: dict[str, Any]) -> None:
        self._thread.start()
        payload = {**info, "port": self.port, "pid": os.getpid()}
        atomic_write_text(control_dir(self.data_dir) / INFO_FILE, json.dumps(payload) + "\n")

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=10)
        (control_dir(self.data_dir) / INFO_FILE).unlink(missing_ok=True)


def query_status(data_dir: Path, timeout_s: float = 10.0) -> dict[str, Any]:
    """What ``milon status`` prints: ask the running daemon over loopback."""
    folder = control_dir(data_dir)
    try:
        raw_info = (folder / INFO_FILE).read_bytes()[: MAX_INFO_BYTES + 1]
        token = (folder / TOKEN_FILE).read_bytes()[:256].decode("ascii", "replace").strip()
    except FileNotFoundError as exc:
        raise NotFoundError(
            f"no running daemon for data folder {data_dir} (start it with `milon --daemon`)"
        ) from exc
    info = loads_bounded(raw_info, max_bytes=MAX_INFO_BYTES, max_depth=4, what="daemon info file")
    port = info.get("port") if isinstance(info, dict) else None
    if isinstance(port, bool) or not isinstance(port, int) or not 0 < port < 65536:
        raise BadInputError(f"daemon info file in {folder} is corrupt: no valid port")
    if not _TOKEN.fullmatch(token):
        raise BadInputError(f"control token file in {folder} is corrupt")
    req = urllib.request.Request(
        f"http://127.0.0.1:{port}/status",
        headers={"Authorization": f"Bearer {token}"},
    )
    try:
        with urllib.request.urlopen(req, timeout=timeout_s) as resp:  # noqa: S310
            data = loads_bounded(
                resp.read(MAX_STATUS_BYTES + 1),
                max_bytes=MAX_STATUS_BYTES,
                max_depth=16,
                what="the daemon's status reply",
            )
    except urllib.error.HTTPError as exc:
        raise MilonError(f"daemon refused the status request: HTTP {exc.code}") from exc
    except (urllib.error.URLError, OSError) as exc:
        raise NotFoundError(
            f"daemon (pid {info.get('pid')}) does not answer on 127.0.0.1:{port}: it is not running"
        ) from exc
    if not isinstance(data, dict):
        raise BadInputError("the daemon's status reply is not a JSON object")
    return data
