"""Two home networks behind NAT routers and one public network, built from network namespaces.

::

    home a (10.1.0.2) -- router a (10.1.0.1 | 203.0.113.2) --+
                                                             +-- public bridge: relay 203.0.113.1
    home b (10.2.0.2) -- router b (10.2.0.1 | 203.0.113.3) --+

Each router MASQUERADEs what leaves its WAN side and DROPs (never rejects) every inbound
packet that conntrack does not match to a connection opened from inside: the behaviour of a
typical home router. Linux MASQUERADE keeps the source port when it is free, so the mapping
is in effect endpoint-independent (the same public port whatever the destination), while the
filtering is address-and-port dependent (only the exact peer a connection went to gets in).
203.0.113.0/24 is a documentation range; nothing leaves the namespaces.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass

RELAY_IP = "203.0.113.1"
HOMES = {"a": 1, "b": 2}
CLONE_NEWNET = 0x40000000


def missing() -> str:
    """Why the topology cannot be built here ('' when it can)."""
    if os.geteuid() != 0:
        return "needs root (network namespaces and iptables)"
    for tool in ("ip", "iptables"):
        if shutil.which(tool) is None:
            return f"`{tool}` is not installed (Debian: apt-get install -y iproute2 iptables)"
    from tests.netns.conftest import probe_failure

    return probe_failure(iptables=True) or ""


def _run(*cmd: str) -> None:
    subprocess.run(cmd, check=True, capture_output=True, text=True, timeout=20)


def _in(ns: str, *cmd: str) -> None:
    _run("ip", "netns", "exec", ns, *cmd)


@dataclass(frozen=True)
class Topology:
    public: str
    routers: dict[str, str]
    homes: dict[str, str]

    def names(self) -> list[str]:
        return [self.public, *self.routers.values(), *self.homes.values()]

    @staticmethod
    def home_ip(home: str) -> str:
        return f"10.{HOMES[home]}.0.2"


def _router(topo: Topology, home: str) -> None:
    n, router, inside = HOMES[home], topo.routers[home], topo.homes[home]
    _run("ip", "link", "add", "wan", "netns", router, "type", "veth",
         "peer", "name", f"p{home}", "netns", topo.public)  # fmt: skip
    _run("ip", "-n", topo.public, "link", "set", f"p{home}", "master", "br0", "up")
    _run("ip", "-n", router, "addr", "add", f"203.0.113.{1 + n}/24", "dev", "wan")
    _run("ip", "link", "add", "lan", "netns", router, "type", "veth",
         "peer", "name", "eth0", "netns", inside)  # fmt: skip
    _run("ip", "-n", router, "addr", "add", f"10.{n}.0.1/24", "dev", "lan")
    _run("ip", "-n", inside, "addr", "add", f"10.{n}.0.2/24", "dev", "eth0")
    for ns, dev in ((router, "wan"), (router, "lan"), (router, "lo"), (inside, "eth0"),
                    (inside, "lo")):  # fmt: skip
        _run("ip", "-n", ns, "link", "set", dev, "up")
    _run("ip", "-n", inside, "route", "add", "default", "via", f"10.{n}.0.1")
    _in(router, "sysctl", "-qw", "net.ipv4.ip_forward=1")
    _in(router, "iptables", "-t", "nat", "-A", "POSTROUTING", "-o", "wan", "-j", "MASQUERADE")
    for chain in ("FORWARD", "INPUT"):
        _in(router, "iptables", "-A", chain, "-i", "wan", "-m", "conntrack",
            "--ctstate", "ESTABLISHED,RELATED", "-j", "ACCEPT")  # fmt: skip
        _in(router, "iptables", "-A", chain, "-i", "wan", "-j", "DROP")


def _build(topo: Topology) -> None:
    for ns in topo.names():
        _run("ip", "netns", "add", ns)
    _run("ip", "-n", topo.public, "link", "add", "br0", "type", "bridge")
    _run("ip", "-n", topo.public, "addr", "add", f"{RELAY_IP}/24", "dev", "br0")
    _run("ip", "-n", topo.public, "link", "set", "br0", "up")
    _run("ip", "-n", topo.public, "link", "set", "lo", "up")
    for home in HOMES:
        _router(topo, home)


@contextlib.contextmanager
def nat_topology() -> Iterator[Topology]:
    """Builds the namespaces (names unique to this process) and deletes them on exit, also
    when building or the test failed."""
    tag = f"mr{os.getpid()}"
    topo = Topology(
        public=f"{tag}-pub",
        routers={h: f"{tag}-r{h}" for h in HOMES},
        homes={h: f"{tag}-h{h}" for h in HOMES},
    )
    try:
        _build(topo)
        yield topo
    finally:
        for ns in topo.names():
            subprocess.run(["ip", "netns", "del", ns], capture_output=True, timeout=20)


@contextlib.contextmanager
def entered(ns: str) -> Iterator[None]:
    """The calling thread inside namespace ``ns`` for the block (sockets it opens, threads and
    processes it starts live there), back in its own one afterwards, also on failure: a test
    talks to what runs in ``ns`` (anvil on the public network) as a machine there would."""
    libc = ctypes.CDLL(None, use_errno=True)
    own = os.open("/proc/thread-self/ns/net", os.O_RDONLY)
    target = os.open(f"/run/netns/{ns}", os.O_RDONLY)
    try:
        if libc.setns(target, CLONE_NEWNET) != 0:
            raise OSError(ctypes.get_errno(), f"setns into {ns} failed")
        try:
            yield
        finally:
            if libc.setns(own, CLONE_NEWNET) != 0:
                raise OSError(ctypes.get_errno(), "setns back into the test's namespace failed")
    finally:
        os.close(target)
        os.close(own)
