"""The daemon's status channel: HTTP on 127.0.0.1 only, guarded by a bearer token.

The token is generated at first start into a 0600 file in the data folder,
so only the user who owns the node can read its status; the port and PID
are published beside it for ``milon status``.
"""

from __future__ import annotations

import hmac
import json
import os
import secrets
import threading
import urllib.error
import urllib.request
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from milon_app.errors import BadInputError, MilonError, NotFoundError
from milon_app.util.atomic import atomic_write_text

TOKEN_FILE = "control-token"  # noqa: S105 - a file name, not a secret
INFO_FILE = "daemon.json"


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
            def do_GET(self) -> None:
                auth = self.headers.get("Authorization", "")
                if not hmac.compare_digest(auth, f"Bearer {token}"):
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
        info = json.loads((folder / INFO_FILE).read_text())
        token = (folder / TOKEN_FILE).read_text().strip()
    except FileNotFoundError as exc:
        raise NotFoundError(
            f"no running daemon for data folder {data_dir} (start it with `milon --daemon`)"
        ) from exc
    except json.JSONDecodeError as exc:
        raise BadInputError(f"daemon info file in {folder} is corrupt: {exc}") from exc
    req = urllib.request.Request(
        f"http://127.0.0.1:{int(info['port'])}/status",
        headers={"Authorization": f"Bearer {token}"},
    )
    try:
        with urllib.request.urlopen(req, timeout=timeout_s) as resp:  # noqa: S310
            data: dict[str, Any] = json.loads(resp.read())
            return data
    except urllib.error.HTTPError as exc:
        raise MilonError(f"daemon refused the status request: HTTP {exc.code}") from exc
    except (urllib.error.URLError, OSError) as exc:
        raise NotFoundError(
            f"daemon (pid {info.get('pid')}) does not answer on 127.0.0.1:{info['port']}: "
            "it is not running"
        ) from exc
