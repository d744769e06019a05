"""The one logging setup: quiet by default, library chatter at debug level with -v, and the
daemon's stderr one JSON object per line whatever py-libp2p, a warning or a thread says."""

from __future__ import annotations

import io
import json
import logging
import threading
import warnings

import pytest

import milon_app.p2p.host
from milon_app import logsetup

TCP = "libp2p.transport.tcp.tcp"


@pytest.fixture
def restore_logging():
    root, lib = logging.getLogger(), logging.getLogger("libp2p")
    saved = (root.level, list(root.handlers), lib.level, lib.propagate, list(lib.handlers))
    state = (logsetup._state.verbose, logsetup._state.configured, logsetup._state.handler)
    hook = threading.excepthook
    yield
    root.setLevel(saved[0])
    root.handlers[:] = saved[1]
    lib.setLevel(saved[2])
    lib.propagate = saved[3]
    lib.handlers[:] = saved[4]
    logsetup._state.verbose, logsetup._state.configured, logsetup._state.handler = state
    threading.excepthook = hook
    logging.captureWarnings(False)
    logging.getLogger("libp2p.network.auto_connector").setLevel(logging.NOTSET)


def _chatter() -> None:
    logging.getLogger(TCP).error("Failed to open TCP stream: all attempts to connect failed")
    chatty = logging.getLogger("libp2p.network.auto_connector")
    chatty.setLevel(logging.INFO)  # as some libp2p modules do
    chatty.info("AUTO_CONNECTOR_STATE: num_connections=0")
    logging.getLogger("milon_app.p2p.fetch").warning("fetch of ab from cd failed: gone")
    logging.getLogger("milon_app.node.core").error("tick failed")


def test_default_output_has_only_milons_errors(restore_logging, capsys):
    out = io.StringIO()
    logsetup.configure(0, stream=out)
    milon_app.p2p.host._route_libp2p_logging()  # what importing the transport does
    _chatter()
    text = out.getvalue()
    assert "tick failed" in text
    assert "TCP stream" not in text and "AUTO_CONNECTOR" not in text and "WARNING" not in text
    assert capsys.readouterr().err == ""  # nothing raw through the last-resort handler


def test_verbose_shows_library_chatter_at_debug_level(restore_logging):
    out = io.StringIO()
    logsetup.configure(1, stream=out)
    _chatter()
    lines = out.getvalue().splitlines()
    (tcp,) = [ln for ln in lines if "Failed to open TCP stream" in ln]
    assert f"DEBUG {TCP}:" in tcp
    assert any("WARNING milon_app.p2p.fetch" in ln for ln in lines)
    assert not any("AUTO_CONNECTOR" in ln for ln in lines)  # INFO chatter needs -vv
    out2 = io.StringIO()
    logsetup.configure(2, stream=out2)
    _chatter()
    assert "AUTO_CONNECTOR" in out2.getvalue()


def test_daemon_stderr_is_one_json_object_per_line(restore_logging, capsys):
    out = io.StringIO()
    logsetup.configure(1, json_lines=True, stream=out)
    _chatter()
    try:
        raise RuntimeError("nonce too low")
    except RuntimeError:
        logging.getLogger("milon_app.node.core").exception("tick failed")
    with warnings.catch_warnings():
        warnings.simplefilter("always")
        warnings.warn("a library's warning", UserWarning, stacklevel=1)
    t = threading.Thread(target=lambda: 1 / 0, name="worker")
    t.start()
    t.join()
    lines = out.getvalue().splitlines()
    records = [json.loads(ln) for ln in lines]  # every line parses
    assert all(
        r["event"] == "Log" and {"ts", "level", "logger", "message"} <= r.keys() for r in records
    )
    by_msg = {r["message"]: r for r in records}
    assert by_msg["tick failed"]["level"] == "error"
    assert "nonce too low" in next(r["traceback"] for r in records if "traceback" in r)
    assert any("a library's warning" in r["message"] for r in records)
    assert any(r["message"] == "thread worker ended with an error" for r in records)
    assert any("TCP stream" in r["message"] and r["level"] == "debug" for r in records)
    assert capsys.readouterr().err == ""


def test_daemon_keeps_its_own_warnings_but_not_library_chatter_by_default(restore_logging):
    out = io.StringIO()
    logsetup.configure(0, json_lines=True, stream=out)
    _chatter()
    messages = [json.loads(ln)["message"] for ln in out.getvalue().splitlines()]
    assert messages == ["fetch of ab from cd failed: gone", "tick failed"]
