from __future__ import annotations

import json
import stat
import urllib.error
import urllib.request

import pytest

from milon_app.daemon.control import ControlServer, control_dir, query_status
from milon_app.errors import MilonError, NotFoundError


def test_status_round_trip_with_token(tmp_path):
    server = ControlServer(tmp_path, lambda: {"state": "running", "block": 7})
    server.start({"address": "0xabc"})
    try:
        assert query_status(tmp_path) == {"state": "running", "block": 7}
        token_file = control_dir(tmp_path) / "control-token"
        assert stat.S_IMODE(token_file.stat().st_mode) == 0o600
        info = json.loads((control_dir(tmp_path) / "daemon.json").read_text())
        assert info["port"] == server.port and info["address"] == "0xabc"
        assert "token" not in json.dumps(info)
        # no token, wrong token, wrong path
        url = f"http://127.0.0.1:{server.port}/status"
        with pytest.raises(urllib.error.HTTPError) as err:
            urllib.request.urlopen(url, timeout=5)
        assert err.value.code == 401
        bad = urllib.request.Request(url, headers={"Authorization": "Bearer nope"})
        with pytest.raises(urllib.error.HTTPError):
            urllib.request.urlopen(bad, timeout=5)
    finally:
        server.stop()
    with pytest.raises(NotFoundError, match="no running daemon"):
        query_status(tmp_path)


def test_token_survives_restarts(tmp_path):
    a = ControlServer(tmp_path, dict)
    token = (control_dir(tmp_path) / "control-token").read_text()
    a._server.server_close()
    ControlServer(tmp_path, dict)._server.server_close()
    assert (control_dir(tmp_path) / "control-token").read_text() == token


def test_a_failing_status_is_an_error_not_a_crash(tmp_path):
    def broken() -> dict:
        raise RuntimeError("chain gone")

    server = ControlServer(tmp_path, broken)
    server.start({})
    try:
        with pytest.raises(MilonError, match="HTTP 500"):
            query_status(tmp_path)
    finally:
        server.stop()


def test_stale_info_file_says_not_running(tmp_path):
    folder = control_dir(tmp_path)
    folder.mkdir(parents=True)
    (folder / "daemon.json").write_text(json.dumps({"port": 1, "pid": 99999}))
    (folder / "control-token").write_text("t")
    with pytest.raises(NotFoundError, match="not running"):
        query_status(tmp_path)
