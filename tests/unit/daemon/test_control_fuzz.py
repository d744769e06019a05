"""Property tests for the daemon's control channel: its files and its loopback HTTP server.

``milon status`` reads the info and token files the daemon leaves; whatever
they hold it prints the status or a MilonError (never a KeyError or a
traceback from http.client). The server answers any bytes sent to its port
with an HTTP status or closes the connection, never serves without the
token, and keeps serving.
"""

from __future__ import annotations

import json
import socket

from hypothesis import given
from hypothesis import strategies as st

from milon_app.daemon.control import INFO_FILE, TOKEN_FILE, ControlServer, control_dir, query_status
from milon_app.errors import MilonError
from tests.unit.fuzz_util import FUZZ, FUZZ_SLOW, bounded_memory, outcome

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3)
    | st.dictionaries(st.text(max_size=6), inner, max_size=3),
    max_leaves=8,
)


@st.composite
def info_files(draw: st.DrawFn) -> bytes:
    info = {"port": draw(st.sampled_from([1, 0, 65536, -1, True, "8080", None, 2.5])), "pid": 1}
    if draw(st.booleans()):
        info = draw(json_values)
    data = json.dumps(info).encode()
    return draw(st.sampled_from([data, data[:-1], b"\xff" + data, b"[" * 5000]))


def test_any_control_files_give_status_or_milon_error(tmp_path):
    folder = control_dir(tmp_path)
    folder.mkdir(parents=True)

    @FUZZ
    @given(
        info_files() | st.binary(max_size=100),
        st.text(max_size=40) | st.binary(max_size=40).map(lambda b: b.decode("latin-1")),
    )
    def check(info: bytes, token: str) -> None:
        (folder / INFO_FILE).write_bytes(info)
        (folder / TOKEN_FILE).write_text(token, encoding="utf-8", errors="surrogateescape")
        status = outcome(lambda: query_status(tmp_path, timeout_s=2), MilonError)
        assert status is None  # nothing listens on those ports: never a status

    check()


METHODS = [b"GET", b"POST", b"HEAD", b"DELETE", b"\x00", b""]
PATHS = [b"/status", b"/", b"/../status", b"/status?x=1", b"*", b"/" + b"a" * 70000]


@st.composite
def http_requests(draw: st.DrawFn, token: str) -> bytes:
    if draw(st.integers(0, 4)) == 0:
        return draw(st.binary(max_size=300))
    auth = draw(
        st.sampled_from([f"Bearer {token}", f"Bearer {token}x", "Bearer ", "", token])
        | st.text(max_size=20)
    )
    lines = [
        draw(st.sampled_from(METHODS)) + b" " + draw(st.sampled_from(PATHS)) + b" HTTP/1.1",
        b"Host: 127.0.0.1",
        b"Authorization: " + auth.encode("utf-8", "replace"),
    ]
    if draw(st.booleans()):
        lines.append(draw(st.sampled_from([b"Content-Length: 99999999", b"X: " + b"y" * 70000])))
    lines += draw(st.lists(st.binary(max_size=30), max_size=3))
    return b"\r\n".join(lines) + b"\r\n\r\n"


def _exchange(port: int, data: bytes) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        try:
            sock.sendall(data)
            sock.shutdown(socket.SHUT_WR)
        except OSError:
            return b""  # the server already closed on us: allowed
        out = b""
        while True:
            try:
                chunk = sock.recv(65536)
            except (TimeoutError, OSError):
                break
            if not chunk:
                break
            out += chunk
        return out


def test_any_bytes_to_the_status_port_are_answered_or_closed(tmp_path, capfd):
    server = ControlServer(tmp_path, lambda: {"secret_status": "only with the token"})
    server.start({"version": "test"})
    try:
        token = (control_dir(tmp_path) / TOKEN_FILE).read_text().strip()

        @FUZZ_SLOW
        @given(http_requests(token))
        def check(data: bytes) -> None:
            reply = _exchange(server.port, data)
            if reply:
                assert reply.startswith(b"HTTP/1."), reply[:40]
            if b"only with the token" in reply:
                assert f"Bearer {token}\r\n".encode() in data

        with bounded_memory():
            check()
        # socketserver prints a handler's uncaught exception to stderr and carries on
        assert "Traceback" not in capfd.readouterr().err
        assert query_status(tmp_path) == {"secret_status": "only with the token"}
    finally:
        server.stop()
