"""Transfer benchmark for the libp2p peer layer; prints figures, asserts nothing.

    python tests/bench/bench_transfer.py [--mb 50] [--fanout 8] [--gossip-peers 5]

1. 50 MB blob between two processes over /milon/blob/1.0.0 (hash-checked into
   the store) vs a raw TCP send of the same bytes, received and hashed by a
   child process, in the same run: the ratio is the figure to watch.
2. Fan-out: one provider serving the blob to N fetcher processes at once.
3. Gossip latency among K processes (median, max).
"""

from __future__ import annotations

import argparse
import json
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

RAW_RECEIVER = r"""
import hashlib, socket, sys
srv = socket.socket(); srv.bind(("127.0.0.1", 0)); srv.listen(1)
print(srv.getsockname()[1], flush=True)
conn, _ = srv.accept(); h = hashlib.sha256(); n = 0
with open(sys.argv[1], "wb") as out:
    while chunk := conn.recv(1 << 20):
        h.update(chunk); out.write(chunk); n += len(chunk)
conn.sendall(h.hexdigest().encode()); conn.close()
"""


class Peer:
    def __init__(self, store: Path, bootstrap: list[str] | None = None) -> None:
        cmd = [sys.executable, "-m", "milon_app.p2p.peer_process", "--store", str(store)]
        for addr in bootstrap or []:
            cmd += ["--bootstrap", addr]
        self.proc = subprocess.Popen(
            cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True
        )
        self.info = self.read()
        self.addr = self.info["addrs"][0]
        self.events: list[dict] = []

    def read(self) -> dict:
        line = self.proc.stdout.readline()  # type: ignore[union-attr]
        if not line:
            raise RuntimeError(f"peer process {self.proc.pid} exited")
        return json.loads(line)

    def send(self, **cmd: object) -> None:
        self.proc.stdin.write(json.dumps(cmd) + "\n")  # type: ignore[union-attr]
        self.proc.stdin.flush()  # type: ignore[union-attr]

    def reply(self) -> dict:
        while True:
            msg = self.read()
            if "event" in msg:
                self.events.append(msg)
                continue
            if not msg.get("ok"):
                raise RuntimeError(msg.get("error"))
            return msg

    def ask(self, **cmd: object) -> dict:
        self.send(**cmd)
        return self.reply()

    def stop(self) -> None:
        if self.proc.poll() is None:
            try:
                self.send(op="quit")
                self.proc.wait(timeout=20)
            except (OSError, subprocess.TimeoutExpired):
                self.proc.kill()
                self.proc.wait()


def raw_tcp(data: bytes, tmp: Path) -> float:
    proc = subprocess.Popen(
        [sys.executable, "-c", RAW_RECEIVER, str(tmp / "raw.bin")],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        port = int(proc.stdout.readline())  # type: ignore[union-attr]
        started = time.perf_counter()
        with socket.create_connection(("127.0.0.1", port)) as sock:
            sock.sendall(data)
            sock.shutdown(socket.SHUT_WR)
            sock.recv(64)
        return time.perf_counter() - started
    finally:
        proc.wait(timeout=30)


def point_to_point(tmp: Path, mb: int, peers: list[Peer]) -> tuple[Peer, str, dict[str, float]]:
    """A blob of ``mb`` MB over libp2p vs raw TCP; returns the provider (still running) and digest."""
    provider = Peer(tmp / "provider")
    peers.append(provider)
    digest = provider.ask(op="put", size=mb << 20, seed=1)["digest"]
    blob = (tmp / "provider" / "sha256" / digest[:2] / digest[2:]).read_bytes()
    raw_s = raw_tcp(blob, tmp)
    del blob
    fetcher = Peer(tmp / "fetcher")
    peers.append(fetcher)
    fetcher.ask(op="connect", addr=provider.addr)
    p2p_s = fetcher.ask(op="fetch", digest=digest, providers=[provider.addr])["seconds"]
    fetcher.stop()
    return provider, digest, {
        "mb": mb, "raw_s": raw_s, "p2p_s": p2p_s, "raw_mbps": mb / raw_s, "p2p_mbps": mb / p2p_s,
        "ratio": raw_s / p2p_s,
    }


def fan_out(tmp: Path, provider: Peer, digest: str, mb: int, n: int, peers: list[Peer]) -> dict:
    """One provider serving the blob to ``n`` fetcher processes at once."""
    fetchers = [Peer(tmp / f"f{i}") for i in range(n)]
    peers += fetchers
    for f in fetchers:
        f.ask(op="connect", addr=provider.addr)
    started = time.perf_counter()
    for f in fetchers:
        f.send(op="fetch", digest=digest, providers=[provider.addr], timeout_s=600)
    each = [f.reply()["seconds"] for f in fetchers]
    wall = time.perf_counter() - started
    for f in fetchers:
        f.stop()
    return {"fetchers": n, "mb": mb, "wall_s": wall, "aggregate_mbps": mb * n / wall,
            "min_s": min(each), "max_s": max(each)}


def gossip(tmp: Path, hub: Peer, n: int, messages: int, peers: list[Peer]) -> dict:
    """Gossip latency among ``n`` processes (the hub and n-1 that bootstrap from it)."""
    group = [hub] + [Peer(tmp / f"g{i}", bootstrap=[hub.addr]) for i in range(n - 1)]
    peers += group[1:]
    for p in group:
        p.ask(op="subscribe", topic="bench")
    time.sleep(3.0)  # let meshes form on the 1 s heartbeat
    for _ in range(messages):
        for p in group:
            p.ask(op="publish", topic="bench", message={})
        time.sleep(0.05)
    time.sleep(1.0)
    for p in group:
        p.ask(op="peers")  # drains the events printed so far
    latencies = [e["latency_ms"] for p in group for e in p.events]
    return {"peers": n, "delivered": len(latencies), "expected": messages * n * (n - 1),
            "median_ms": statistics.median(latencies) if latencies else None,
            "max_ms": max(latencies) if latencies else None}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--mb", type=int, default=50)
    ap.add_argument("--fanout", type=int, default=8)
    ap.add_argument("--gossip-peers", type=int, default=5)
    ap.add_argument("--gossip-messages", type=int, default=10)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-p2p-") as tmpdir:
        tmp = Path(tmpdir)
        peers: list[Peer] = []
        try:
            provider, digest, p2p = point_to_point(tmp, args.mb, peers)
            print(f"point-to-point {args.mb} MB (two processes, loopback, sha256-checked):")
            print(f"  raw TCP      {p2p['raw_s']:7.3f} s  {p2p['raw_mbps']:8.1f} MB/s")
            print(f"  libp2p blob  {p2p['p2p_s']:7.3f} s  {p2p['p2p_mbps']:8.1f} MB/s")
            print(f"  ratio        {p2p['ratio']:7.3f}x raw TCP (goal >= 0.15x)")
            fo = fan_out(tmp, provider, digest, args.mb, args.fanout, peers)
            print(f"fan-out: 1 provider -> {args.fanout} fetchers x {args.mb} MB at once:")
            print(f"  wall {fo['wall_s']:.2f} s, aggregate {fo['aggregate_mbps']:.1f} MB/s, "
                  f"per fetcher {fo['min_s']:.2f}..{fo['max_s']:.2f} s")
            g = gossip(tmp, provider, args.gossip_peers, args.gossip_messages, peers)
            print(f"gossip among {g['peers']} processes: {g['delivered']}/{g['expected']} "
                  f"delivered, median {g['median_ms']:.1f} ms, max {g['max_ms']:.1f} ms")
        finally:
            for p in peers:
                p.stop()


if __name__ == "__main__":
    main()
