"""Network namespaces for tests that must not touch the machine's real interfaces (mDNS binds
every interface; NAT needs routers): each test creates its own, uniquely named, and the
fixture deletes them and stops the processes it started in them, by PID, even on failure.

Needs root and ``ip`` (iproute2); otherwise every test using :func:`netns` is skipped with
the reason.
"""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.procs import stop_process

ROOT = Path(__file__).resolve().parents[2]
PYTHON = ROOT / ".venv" / "bin" / "python"


def skip_reason() -> str | None:
    """Why namespaces cannot be made here, or None."""
    if sys.platform != "linux":
        return "network namespaces need Linux"
    if os.geteuid() != 0:
        return "network namespaces need root (run the netns tests as root)"
    if shutil.which("ip") is None:
        return "network namespaces need `ip` (iproute2)"
    return probe_failure()


@functools.cache
def probe_failure(iptables: bool = False) -> str | None:
    """Root in a container without CAP_NET_ADMIN cannot make namespaces or veth pairs (and
    a kernel without netfilter's nat table cannot MASQUERADE): try it once, then skip with
    what failed instead of failing every test."""
    name = f"milon-probe-{os.getpid()}"
    steps = [["ip", "netns", "add", name],
             ["ip", "-n", name, "link", "add", "pa", "type", "veth", "peer", "name", "pb"]]
    if iptables:
        steps.append(["ip", "netns", "exec", name, "iptables", "-t", "nat", "-L", "-n"])
    try:
        for cmd in steps:
            done = subprocess.run(cmd, capture_output=True, text=True, timeout=30, check=False)
            if done.returncode != 0:
                return f"cannot build network namespaces here: {' '.join(cmd[:4])}: " \
                       f"{done.stderr.strip()[:200]}"
        return None
    finally:
        subprocess.run(["ip", "netns", "del", name], capture_output=True, timeout=30, check=False)


def ip(*args: str) -> None:
    """Run ``ip ARGS``; a failure names the command and what ``ip`` said."""
    done = subprocess.run(["ip", *args], capture_output=True, text=True, timeout=30, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"ip {' '.join(args)}: {done.stderr.strip()}")


class Namespaces:
    """Namespaces named ``milon-<tag>-<pid>-<suffix>`` and the processes run inside them."""

    def __init__(self, tag: str) -> None:
        self.prefix = f"milon-{tag}-{os.getpid()}"
        self.names: list[str] = []
        self.procs: list[subprocess.Popen[Any]] = []

    def add(self, suffix: str) -> str:
        """A new namespace with its loopback up."""
        name = f"{self.prefix}-{suffix}"
        ip("netns", "add", name)
        self.names.append(name)
        ip("-n", name, "link", "set", "lo", "up")
        return name

    def link(self, a: str, a_cidr: str, b: str, b_cidr: str, dev: str = "eth0") -> None:
        """A veth cable between namespaces ``a`` and ``b`` (``dev`` in each), addressed
        ``a_cidr`` / ``b_cidr`` (e.g. ``10.0.0.1/24``), up: one LAN segment."""
        ip("-n", a, "link", "add", dev, "type", "veth", "peer", "name", dev, "netns", b)
        for name, cidr in ((a, a_cidr), (b, b_cidr)):
            ip("-n", name, "addr", "add", cidr, "dev", dev)
            ip("-n", name, "link", "set", dev, "up")

    def spawn(self, name: str, argv: list[str], **popen: Any) -> subprocess.Popen[Any]:
        """``argv`` inside namespace ``name`` (``ip netns exec`` execs it: the PID is its
        own); stopped when the test ends."""
        proc = subprocess.Popen(["ip", "netns", "exec", name, *argv], **popen)
        self.procs.append(proc)
        return proc

    def close(self) -> None:
        """Stop every process by PID (SIGTERM, then SIGKILL), then delete the namespaces
        (their veth ends go with them)."""
        for proc in reversed(self.procs):
            stop_process(proc)
        errors = []
        for name in reversed(self.names):
            done = subprocess.run(["ip", "netns", "del", name], capture_output=True, check=False)
            if done.returncode != 0:
                errors.append(f"{name}: {done.stderr.decode().strip()}")
        if errors:
            raise RuntimeError(f"namespaces left behind: {'; '.join(errors)}")


@pytest.fixture
def netns(request: pytest.FixtureRequest) -> Iterator[Namespaces]:
    """A :class:`Namespaces` tagged with the test module's name, cleaned up afterwards."""
    reason = skip_reason()
    if reason is not None:
        pytest.skip(reason)
    tag = request.module.__name__.rsplit(".", 1)[-1].removeprefix("test_").replace("_", "-")
    spaces = Namespaces(tag)
    try:
        yield spaces
    finally:
        spaces.close()
