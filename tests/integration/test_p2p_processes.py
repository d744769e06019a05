"""Real cross-process transfers and gossip between peers in separate OS processes."""

from __future__ import annotations

import hashlib
import json
import queue
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest


class PeerProcess:
    """One ``milon_app.p2p.peer_process``; a thread reads its stdout lines into a queue, so a
    read can wait for a condition with a limit instead of blocking for good."""

    def __init__(self, store: Path, bootstrap: list[str] = ()) -> None:
        cmd = [sys.executable, "-m", "milon_app.p2p.peer_process", "--store", str(store)]
        for addr in bootstrap:
            cmd += ["--bootstrap", addr]
        self.proc = subprocess.Popen(
            cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True
        )
        self._lines: queue.Queue[dict | None] = queue.Queue()
        self.heard: list[dict] = []  # gossip events that arrived while waiting for replies
        threading.Thread(target=self._pump, daemon=True).start()
        self.info = self.read()
        assert self.info.get("ready"), self.info

    def _pump(self) -> None:
        for line in self.proc.stdout:
            self._lines.put(json.loads(line))
        self._lines.put(None)  # end of output: the process exited

    def read(self, timeout_s: float = 180) -> dict:
        """The next line the peer printed (a reply or an event)."""
        try:
            item = self._lines.get(timeout=timeout_s)
        except queue.Empty:
            raise TimeoutError(f"peer process {self.proc.pid} said nothing for {timeout_s}s")
        if item is None:
            self._lines.put(None)
            raise RuntimeError(f"peer process {self.proc.pid} exited ({self.proc.poll()})")
        return item

    def ask(self, **cmd) -> dict:
        self.proc.stdin.write(json.dumps(cmd) + "\n")
        self.proc.stdin.flush()
        while True:
            reply = self.read()
            if "event" not in reply:
                return reply
            self.heard.append(reply)

    def hear(self, topic: str, wait_s: float) -> list[dict]:
        """Gossip on ``topic`` heard so far, waiting up to ``wait_s`` for the first."""
        end = time.monotonic() + wait_s
        while not (got := [e for e in self.heard if e.get("topic") == topic]):
            try:
                item = self.read(timeout_s=max(0.0, end - time.monotonic()))
            except TimeoutError:
                break
            if "event" in item:
                self.heard.append(item)
        return got

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

    # Meshes form on the 1 s heartbeat: a message published before that reaches nobody, so
    # b publishes once a second until both others heard it (c through a, or directly).
    def deaf() -> list[PeerProcess]:
        return [p for p in (a, c) if not p.hear("milon/round", 0.0)]

    deadline = time.monotonic() + 60
    n = 0
    while deaf() and time.monotonic() < deadline:
        n += 1
        assert b.ask(op="publish", topic="milon/round", message={"round": n})["ok"]
        for p in deaf():
            p.hear("milon/round", 1.0)
    for p in (a, c):
        events = p.hear("milon/round", 0.0)
        assert events, f"{'a' if p is a else 'c'} never heard b's gossip ({n} messages sent)"
        assert events[0]["event"] == "message"
    print(
        f"\ngossip heard after {n} message(s); latency "
        f"{a.heard[0]['latency_ms']:.0f} ms (a), {c.heard[0]['latency_ms']:.0f} ms (c)"
    )
    # c finds a blob that only b has, through b's "have" announcement
    digest = b.ask(op="put", size=100_000, seed=1)["digest"]
    reply = c.ask(op="fetch", digest=digest, timeout_s=20)
    assert reply["ok"], reply
