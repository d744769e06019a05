"""A blob moves between two home networks behind NAT routers through a circuit relay v2 in the
public network, then DCUtR upgrades the relayed connection to a direct one (TCP simultaneous
open through both routers). Topology and NAT behaviour: :mod:`tests.netns.nat_topology`.

Needs root, ``ip`` and ``iptables``; skipped with the reason otherwise. Writes the measured
figures to ``$MILON_NETNS_REPORT`` when set (docs/benchmarks.md, Transfer).
"""

from __future__ import annotations

import json
import os
import queue
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from tests.netns.nat_topology import RELAY_IP, Topology, missing, nat_topology
from tests.procs import stop_process

pytestmark = [pytest.mark.netns, pytest.mark.skipif(bool(missing()), reason=missing() or "-")]
PEER = Path(__file__).with_name("relay_peer.py")
REPO = Path(__file__).resolve().parents[2]
BLOB_BYTES = 5 << 20
PUNCH_WITHIN_S = 25.0


class Peer:
    """A relay_peer.py process inside a namespace, driven one JSON line at a time."""

    def __init__(self, ns: str, store: Path, listen: str, *extra: str) -> None:
        cmd = ["ip", "netns", "exec", ns, sys.executable, str(PEER), "--store", str(store),
               "--listen", listen, *extra]  # fmt: skip
        env = {**os.environ, "PYTHONPATH": str(REPO)}
        self.proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     text=True, cwd=REPO, env=env)  # fmt: skip
        self._lines: queue.Queue[str] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()
        self.ready = self._next(30)
        self.peer_id: str = self.ready["peer_id"]

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self._lines.put(line)

    def _next(self, timeout: float) -> dict[str, Any]:
        try:
            return dict(json.loads(self._lines.get(timeout=timeout)))
        except queue.Empty:
            raise AssertionError(f"peer in {self.proc.args[3]} said nothing in {timeout} s")

    def ask(self, timeout: float = 30, **cmd: Any) -> dict[str, Any]:
        assert self.proc.stdin is not None
        self.proc.stdin.write(json.dumps(cmd) + "\n")
        self.proc.stdin.flush()
        return self._next(timeout)

    def stop(self) -> None:
        if self.proc.stdin is not None:
            self.proc.stdin.close()
        stop_process(self.proc)


def _until(check: Any, within: float) -> bool:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.2)
    return False


def _start(topo: Topology, tmp_path: Path, peers: list[Peer]) -> tuple[Peer, Peer, Peer]:
    relay = Peer(topo.public, tmp_path / "relay", f"/ip4/{RELAY_IP}/tcp/4001",
                 "--reachability", "public", "--relay", "on")  # fmt: skip
    peers.append(relay)
    homes = []
    for home in ("a", "b"):
        listen = f"/ip4/{topo.home_ip(home)}/tcp/4001"  # DCUtR dials from the first listener
        peer = Peer(topo.homes[home], tmp_path / home, listen,
                    "--bootstrap", relay.ready["addrs"][0])  # fmt: skip
        peers.append(peer)
        homes.append(peer)
    return relay, homes[0], homes[1]


def _fetch(peer: Peer, digest: str, providers: list[str]) -> float:
    got = peer.ask(**{"cmd": "fetch", "digest": digest, "providers": providers})
    assert "seconds" in got, got
    return float(got["seconds"])


def test_blob_crosses_two_nats_through_the_relay_and_goes_direct_after_the_punch(tmp_path):
    peers: list[Peer] = []
    with nat_topology() as topo:
        try:
            relay, a, b = _start(topo, tmp_path, peers)
            assert _until(lambda: a.ask(cmd="reach")["reach"]["mode"] == "relay", 20)
            published = a.ask(cmd="reach")["addrs"]  # what a's peer info on chain holds
            assert "/p2p-circuit/" in published[0] and relay.peer_id in published[0]
            assert any(f"/ip4/{topo.home_ip('a')}/" in x for x in published)  # unreachable from b

            warm, timed = (a.ask(cmd="put", bytes=BLOB_BYTES)["digest"] for _ in range(2))
            _fetch(b, warm, published)  # b's router cannot route 10.1.0.2: the circuit is used
            relayed_s = _fetch(b, timed, [a.peer_id])
            relayed_only = b.ask(cmd="conns", peer=a.peer_id)["relayed"]

            punched = _until(lambda: a.peer_id in b.ask(cmd="reach")["reach"]["hole_punched"],
                             PUNCH_WITHIN_S)  # fmt: skip
            conns = b.ask(cmd="conns", peer=a.peer_id)["relayed"]
            direct = a.ask(cmd="put", bytes=BLOB_BYTES)["digest"]
            direct_s = _fetch(b, direct, [a.peer_id])
            report = {
                "relayed_MBps": round(BLOB_BYTES / relayed_s / 1e6, 1),
                "relayed_only_during_timed_fetch": relayed_only == [True],
                "hole_punched": punched,
                "connections_after": conns,
                "after_punch_MBps": round(BLOB_BYTES / direct_s / 1e6, 1),
            }
            print(json.dumps(report))
            if os.environ.get("MILON_NETNS_REPORT"):
                Path(os.environ["MILON_NETNS_REPORT"]).write_text(json.dumps(report))
            assert punched, f"DCUtR did not upgrade the relayed connection: {report}"
            assert False in conns  # a direct connection exists beside the relayed one
            assert "direct after a hole punch" in b.ask(cmd="reach")["reach"]["text"]
        finally:
            for peer in reversed(peers):
                peer.stop()
