"""`milon --daemon` refuses bad configs with the config exit code, before touching anything."""

from __future__ import annotations

import subprocess
import sys

import pytest

from milon_app.daemon.runner import parse_milon
from milon_app.errors import BadInputError
from milon_app.exit_codes import ExitCode


def daemon(tmp_path, *args):
    return subprocess.run(
        [sys.executable, "-m", "milon_app", "--home", str(tmp_path), "--daemon", *args],
        capture_output=True, text=True, timeout=120,
    )


@pytest.mark.parametrize(
    ("toml", "message"),
    [
        ("[chain]\nrpc_url = 'embedded'\n", "a daemon needs a chain other processes share"),
        ("[chain]\nrpc_url = 'http://127.0.0.1:1'\n", "chain.manifest is empty"),
        ("[chain\n", "not valid TOML"),
        ("[node]\nroles = 'owner'\n", "expected a list"),
        ("[nodes]\n", "unknown config key 'nodes'"),
    ],
)
def test_bad_daemon_configs(tmp_path, toml, message):
    cfg = tmp_path / "node.toml"
    cfg.write_text(toml)
    res = daemon(tmp_path, "--config", str(cfg))
    assert res.returncode == ExitCode.CONFIG, res.stderr
    assert message in res.stderr


def test_missing_config_file(tmp_path):
    res = daemon(tmp_path, "--config", str(tmp_path / "nope.toml"))
    assert res.returncode == ExitCode.CONFIG
    assert "does not exist" in res.stderr


def test_missing_wallet_is_reported(tmp_path):
    cfg = tmp_path / "node.toml"
    manifest = tmp_path / "m.json"
    manifest.write_text("{}")
    cfg.write_text(f"[chain]\nrpc_url = 'http://127.0.0.1:1'\nmanifest = '{manifest}'\n"
                   f"[wallet]\nsecret_store = 'prompt'\n")
    res = daemon(tmp_path, "--config", str(cfg))
    assert res.returncode == ExitCode.NOT_FOUND
    assert "milon wallet create" in res.stderr


def test_status_without_daemon(tmp_path):
    res = subprocess.run([sys.executable, "-m", "milon_app", "--home", str(tmp_path), "status"],
                         capture_output=True, text=True, timeout=60)
    assert res.returncode == ExitCode.NOT_FOUND
    assert "no running daemon" in res.stderr


def test_parse_milon():
    assert parse_milon("10", "x") == 10 * 10**18
    assert parse_milon("0.5", "x") == 5 * 10**17
    for bad in ("-1", "abc", "1e-30"):
        with pytest.raises(BadInputError):
            parse_milon(bad, "stake")
