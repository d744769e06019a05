"""LAN discovery (``p2p.mdns``) between two MILON hosts on one LAN segment: two network
namespaces joined by a veth cable, one host in each (``mdns_peer.py``), no bootstrap.

With mDNS on they find each other and one fetches a blob from the other; with it off, on
the same topology, they do not find each other within the same time. Namespaces keep
zeroconf (which binds every interface) off this machine's real network.
"""

from __future__ import annotations

import json
import queue
import subprocess
import threading
from pathlib import Path
from typing import Any

import pytest

from tests.netns.conftest import PYTHON, ROOT, Namespaces

pytestmark = pytest.mark.netns

SCRIPT = ROOT / "tests" / "netns" / "mdns_peer.py"
WINDOW_S = 10.0  # mDNS found the peer in ~1.2 s here; the off check waits as long as this
BLOB_BYTES = 1 << 20
LISTEN = "/ip4/0.0.0.0/tcp/4001"  # expanded to the namespace's veth address


class Host:
    """One ``mdns_peer.py`` in a namespace; its JSON lines are read on a thread so every
    wait has a limit."""

    def __init__(self, netns: Namespaces, ns: str, store: Path, *args: str) -> None:
        self.log = store.with_suffix(".stderr")
        cmd = [str(PYTHON), str(SCRIPT), "--store", str(store), "--listen", LISTEN, *args]
        with self.log.open("w") as err:
            self.proc = netns.spawn(
                ns, cmd, cwd=ROOT, text=True, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                stderr=err,
            )  # fmt: skip
        self.lines: queue.Queue[dict[str, Any] | None] = queue.Queue()
        self.seen: list[dict[str, Any]] = []
        threading.Thread(target=self._pump, daemon=True).start()

    def _pump(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.put(json.loads(line))
        self.lines.put(None)

    def expect(self, key: str, timeout_s: float = 30.0) -> dict[str, Any]:
        """The first line carrying ``key`` (earlier ones are kept in ``seen``)."""
        for line in self.seen:
            if key in line:
                return line
        while True:
            try:
                line = self.lines.get(timeout=timeout_s)
            except queue.Empty:
                raise AssertionError(f"no {key!r} within {timeout_s} s; {self.tail()}") from None
            if line is None:
                raise AssertionError(
                    f"host exited ({self.proc.poll()}) before {key!r}; {self.tail()}"
                )
            self.seen.append(line)
            if key in line:
                return line

    def connected(self) -> set[str]:
        """Peer IDs it reported connected so far (reads what is already printed)."""
        while True:
            try:
                line = self.lines.get_nowait()
            except queue.Empty:
                break
            if line is not None:
                self.seen.append(line)
        return {e["peer_id"] for e in self.seen if e.get("event") == "peer_connected"}

    def finish(self) -> int:
        """Close stdin: the host stops and exits; its exit code."""
        assert self.proc.stdin is not None
        self.proc.stdin.close()
        return self.proc.wait(timeout=20)

    def tail(self) -> str:
        return "stderr: " + self.log.read_text()[-1500:]


def _segment(netns: Namespaces, net: int) -> tuple[str, str]:
    """Two namespaces on one LAN segment, 10.77.<net>.1 and .2."""
    a, b = netns.add(f"{net}a"), netns.add(f"{net}b")
    netns.link(a, f"10.77.{net}.1/24", b, f"10.77.{net}.2/24")
    return a, b


def test_mdns_finds_the_lan_peer_and_fetches_a_blob(netns: Namespaces, tmp_path: Path) -> None:
    a, b = _segment(netns, 1)
    server = Host(netns, a, tmp_path / "a", "--mdns", "on", "--serve-bytes", str(BLOB_BYTES))
    offer = server.expect("ready")
    assert offer["addrs"] == [f"/ip4/10.77.1.1/tcp/4001/p2p/{offer['peer_id']}"]
    finder = Host(
        netns, b, tmp_path / "b", "--mdns", "on", "--find", offer["peer_id"],
        "--digest", offer["digest"], "--within", str(WINDOW_S),
    )  # fmt: skip
    me = finder.expect("ready")["peer_id"]
    found = finder.expect("found", WINDOW_S + 30)
    assert found["found"], f"mDNS did not find the peer in {WINDOW_S} s; {finder.tail()}"
    fetched = finder.expect("fetched")
    assert fetched == {"fetched": offer["digest"], "sha256_ok": True}
    assert me in server.connected()  # the server published the connection too
    assert (finder.finish(), server.finish()) == (0, 0)


def test_without_mdns_the_lan_peers_stay_apart(netns: Namespaces, tmp_path: Path) -> None:
    a, b = _segment(netns, 2)
    server = Host(netns, a, tmp_path / "a", "--mdns", "off")
    offer = server.expect("ready")
    finder = Host(
        netns, b, tmp_path / "b", "--mdns", "off", "--find", offer["peer_id"],
        "--within", str(WINDOW_S),
    )  # fmt: skip
    found = finder.expect("found", WINDOW_S + 30)
    assert not found["found"] and not server.connected() and not finder.connected()
    assert (finder.finish(), server.finish()) == (0, 0)
