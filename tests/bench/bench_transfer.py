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


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--mb", type=int, default=50)
    ap.add_argument("--fanout", type=int, default=8)
    ap.add_argument("--gossip-peers", type=int, default=5)
    ap.add_argument("--gossip-messages", type=int, default=10)
    args = ap.parse_args()
    size = args.mb << 20
    with tempfile.TemporaryDirectory(prefix="bench-p2p-") as tmpdir:
        tmp = Path(tmpdir)
        peers: list[Peer] = []
        try:
            # 1. point to point
            provider = Peer(tmp / "provider")
            peers.append(provider)
            digest = provider.ask(op="put", size=size, seed=1)["digest"]
            blob = (tmp / "provider" / "sha256" / digest[:2] / digest[2:]).read_bytes()
            raw_s = raw_tcp(blob, tmp)
            del blob
            fetcher = Peer(tmp / "fetcher")
            peers.append(fetcher)
            fetcher.ask(op="connect", addr=provider.addr)
            reply = fetcher.ask(op="fetch", digest=digest, providers=[provider.addr])
            p2p_s = reply["seconds"]
            mbps_raw, mbps_p2p = args.mb / raw_s, args.mb / p2p_s
            print(f"point-to-point {args.mb} MB (two processes, loopback, sha256-checked):")
            print(f"  raw TCP      {raw_s:7.3f} s  {mbps_raw:8.1f} MB/s")
            print(f"  libp2p blob  {p2p_s:7.3f} s  {mbps_p2p:8.1f} MB/s")
            print(f"  ratio        {mbps_p2p / mbps_raw:7.3f}x raw TCP (goal >= 0.15x)")
            fetcher.stop()

            # 2. fan-out
            fetchers = [Peer(tmp / f"f{i}") for i in range(args.fanout)]
            peers += fetchers
            for f in fetchers:
                f.ask(op="connect", addr=provider.addr)
            started = time.perf_counter()
            for f in fetchers:
                f.send(op="fetch", digest=digest, providers=[provider.addr], timeout_s=600)
            each = [f.reply()["seconds"] for f in fetchers]
            wall = time.perf_counter() - started
            total_mb = args.mb * args.fanout
            print(f"fan-out: 1 provider -> {args.fanout} fetchers x {args.mb} MB at once:")
            print(f"  wall {wall:.2f} s, aggregate {total_mb / wall:.1f} MB/s, "
                  f"per fetcher {min(each):.2f}..{max(each):.2f} s")
            for f in fetchers:
                f.stop()

            # 3. gossip latency
            hub = provider
            group = [hub] + [
                Peer(tmp / f"g{i}", bootstrap=[hub.addr]) for i in range(args.gossip_peers - 1)
            ]
            peers += group[1:]
            for p in group:
                p.ask(op="subscribe", topic="bench")
            time.sleep(3.0)  # let meshes form on the 1 s heartbeat
            for _ in range(args.gossip_messages):
                for p in group:
                    p.ask(op="publish", topic="bench", message={})
                time.sleep(0.05)
            time.sleep(1.0)
            for p in group:
                p.ask(op="peers")  # drains the events printed so far
            latencies = [e["latency_ms"] for p in group for e in p.events]
            expected = args.gossip_messages * len(group) * (len(group) - 1)
            print(f"gossip among {len(group)} processes: {len(latencies)}/{expected} delivered, "
                  f"median {statistics.median(latencies):.1f} ms, max {max(latencies):.1f} ms")
        finally:
            for p in peers:
                p.stop()


if __name__ == "__main__":
    main()
