"""Quiet by default (issue 20 item 2): ``milon demo`` prints its result, not py-libp2p's dial
errors nor MILON's warnings; and a daemon's stderr is one JSON object per line even with
``-v``, while it dials a bootstrap peer that is not there (py-libp2p's "Failed to open TCP
stream" errors, raw text before). Every process started here is stopped by PID."""

from __future__ import annotations

import json
import subprocess
import sys
import time

import pytest

from tests.helpers.daemon_fed import owner_endpoint, start_chain_federation, write_daemon_config
from tests.procs import stop_process

CHATTER = ("WARNING", "ERROR", "Failed to open TCP stream", "libp2p", "Traceback")


def test_demo_prints_its_result_and_no_log_lines(tmp_path):
    res = subprocess.run(
        [sys.executable, "-m", "milon_app", "--home", str(tmp_path), "demo", "--nodes", "3",
         "--rounds", "1", "--epochs-per-round", "6"],
        capture_output=True, text=True, timeout=240,
    )  # fmt: skip
    assert res.returncode == 0, res.stderr
    assert "MILON demo" in res.stdout and "final accuracy" in res.stdout
    for word in CHATTER:
        assert word not in res.stdout + res.stderr, res.stderr


@pytest.mark.anvil
def test_daemon_stderr_is_json_lines_while_libp2p_fails_to_dial(tmp_path):
    chain = start_chain_federation(tmp_path, "quiet", 1)
    proc = None
    try:
        home = tmp_path / "node"
        _listen, absent = owner_endpoint(chain.deployer)  # nobody listens there
        toml = write_daemon_config(
            home, chain.members[0], chain.rpc, chain.manifest,
            f'[p2p]\nbootstrap = ["{absent}"]\n\n'
            f'[[federations]]\nid = {chain.fed}\nstake = "20"\ncapacity = 100\n',
        )  # fmt: skip
        log = home / "daemon.log"
        with open(log, "wb") as out:
            proc = subprocess.Popen(
                [sys.executable, "-m", "milon_app", "--home", str(home), "--daemon", "-v",
                 "--config", str(toml)],
                stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            )  # fmt: skip
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline and proc.poll() is None:
            text = log.read_text(errors="replace")
            if '"FederationJoined"' in text and "TCP stream" in text:
                break
            time.sleep(0.5)
        assert stop_process(proc) == 0
        proc = None
        lines = log.read_text(errors="replace").splitlines()
        records = []
        for ln in lines:
            try:
                records.append(json.loads(ln))
            except ValueError:
                pytest.fail(f"not a JSON line on the daemon's stderr: {ln!r}")
        events = {r["event"] for r in records}
        assert {"NodeStarted", "FederationJoined", "NodeStopped"} <= events
        joined = next(r for r in records if r["event"] == "FederationJoined")
        assert joined["stake"] == "20" and joined["stake_wei"] == 20 * 10**18
        # the library's dial errors are there, as JSON at debug level (-v)
        dials = [r for r in records if r["event"] == "Log" and "TCP stream" in r["message"]]
        assert dials and all(r["level"] == "debug" for r in dials)
    finally:
        if proc is not None:
            stop_process(proc)
        chain.anvil.stop()
