"""Real cross-process transfers and gossip between peers in separate OS processes."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import time
from pathlib import Path

import pytest


class PeerProcess:
    def __init__(self, store: Path, bootstrap: list[str] = ()) -> None:
        cmd = [sys.executable, "-m", "milon_app.p2p.peer_process", "--store", str(store)]
        for addr in bootstrap:
            cmd += ["--bootstrap", addr]
        self.proc = subprocess.Popen(
            cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True
        )
        self.info = self.read()
        assert self.info.get("ready"), self.info

    def read(self) -> dict:
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError(f"peer process {self.proc.pid} exited ({self.proc.poll()})")
        return json.loads(line)

    def ask(self, **cmd) -> dict:
        self.proc.stdin.write(json.dumps(cmd) + "\n")
        self.proc.stdin.flush()
        while True:
            reply = self.read()
            if "event" not in reply:
                return reply

    def stop(self) -> None:
        if self.proc.poll() is not None:
            return
        try:
            self.proc.stdin.write(json.dumps({"op": "quit"}) + "\n")
            self.proc.stdin.close()
            self.proc.wait(timeout=15)
        except (OSError, ValueError, subprocess.TimeoutExpired):
            self.proc.kill()  # by our own PID handle
            self.proc.wait(timeout=5)


@pytest.fixture
def peers(tmp_path):
    started: list[PeerProcess] = []

    def start(name: str, bootstrap: list[str] = ()) -> PeerProcess:
        peer = PeerProcess(tmp_path / name, bootstrap)
        started.append(peer)
        return peer

    yield start
    for peer in started:
        peer.stop()


def test_cross_process_fetch_and_fallback(peers, tmp_path):
    a = peers("a")
    dead = peers("dead")
    b = peers("b", bootstrap=[a.info["addrs"][0]])
    size = 3 << 20
    digest = a.ask(op="put", size=size, seed=7)["digest"]
    dead_addr = dead.info["addrs"][0]
    dead.stop()
    reply = b.ask(op="fetch", digest=digest, providers=[dead_addr, a.info["addrs"][0]])
    assert reply["ok"], reply
    stored = tmp_path / "b" / "sha256" / digest[:2] / digest[2:]
    assert stored.stat().st_size == size
    assert hashlib.sha256(stored.read_bytes()).hexdigest() == digest
    missing = hashlib.sha256(b"absent").hexdigest()
    reply = b.ask(op="fetch", digest=missing, providers=[a.info["addrs"][0]], timeout_s=5)
    assert not reply["ok"] and "not found" in reply["error"]


def test_cross_process_gossip_and_discovery(peers):
    a = peers("a")
    b = peers("b", bootstrap=[a.info["addrs"][0]])
    c = peers("c", bootstrap=[a.info["addrs"][0]])
    for p in (a, b, c):
        assert p.ask(op="subscribe", topic="milon/round")["ok"]
    time.sleep(2.0)  # meshes form on the 1 s heartbeat
    assert b.ask(op="publish", topic="milon/round", message={"round": 1})["ok"]
    for p in (a, c):  # c hears b through a (or directly): gossip relays
        event = p.read()
        assert event["event"] == "message" and event["latency_ms"] < 2000
    # c finds a blob that only b has, through b's "have" announcement
    digest = b.ask(op="put", size=100_000, seed=1)["digest"]
    reply = c.ask(op="fetch", digest=digest, timeout_s=20)
    assert reply["ok"], reply
