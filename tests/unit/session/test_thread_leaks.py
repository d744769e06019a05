"""Stopping a Session or a Driver leaves no thread behind (the p2p transport has the same check).

The Driver is run alone on stand-ins for the chain and the node; the Session is
started and stopped whole, on the in-process hub and on real libp2p hosts.
"""

from __future__ import annotations

import threading
import time
from types import SimpleNamespace
from typing import Any

import pytest
from eth_account import Account

from milon_app.config import Config
from milon_app.node import events as ev
from milon_app.session.driver import Driver
from milon_app.session.session import Session, SessionOptions
from tests.unit.session.conftest import leftover_threads

KEY = b"\x23" * 32  # THROWAWAY test key


def test_the_check_sees_a_thread_left_running():
    before = set(threading.enumerate())
    release = threading.Event()
    t = threading.Thread(target=release.wait, name="left-running", daemon=True)
    t.start()
    assert leftover_threads(before, settle_s=0.1) == ["left-running"]
    release.set()
    t.join(5)
    assert leftover_threads(before, settle_s=0.1) == []


class Chain:
    """What the driver reads of the chain: a block number that only moves when told."""

    connected = True

    def __init__(self) -> None:
        self.block = 1

    def block_number(self) -> int:
        return self.block

    def mine(self, blocks: int = 1) -> None:
        self.block += blocks


class Node:
    """A node whose tick counts itself; events go to a list."""

    address = "0x0000000000000000000000000000000000000001"

    def __init__(self) -> None:
        self.ticked = threading.Event()
        self.events: list[ev.Event] = []
        self.transport = SimpleNamespace(peers=lambda: [])

    def tick(self) -> bool:
        self.ticked.set()
        return False

    def publish(self, event: ev.Event) -> None:
        self.events.append(event)


def test_driver_stop_ends_its_thread_every_time(no_thread_left):
    for _ in range(10):
        node, other = Node(), Node()
        driver = Driver(Chain(), node, lambda o=other: [o], interval_s=0.01,
                        simulated=False)
        driver.start()
        assert node.ticked.wait(5) and other.ticked.wait(5)
        started = time.monotonic()
        driver.stop()
        assert time.monotonic() - started < 2  # woken from its wait, not after a whole interval
        assert any(isinstance(e, ev.Heartbeat) for e in node.events)


def test_driver_stop_while_its_step_fails(no_thread_left):
    class Failing(Node):
        def tick(self) -> bool:
            self.ticked.set()
            raise RuntimeError("a bug in a role")

    node = Failing()
    driver = Driver(Chain(), node, list, interval_s=0.01, simulated=False)
    driver.start()
    assert node.ticked.wait(5)
    driver.stop()
    assert any(isinstance(e, ev.NodeError) and e.where == "driver" for e in node.events)


@pytest.mark.parametrize(("transport", "cycles"), [("inprocess", 2), ("libp2p", 1)])
def test_session_stop_ends_every_thread_it_started(tmp_path, no_thread_left, transport, cycles):
    before = set(threading.enumerate())
    for i in range(cycles):
        s: Any = Session(Config(), tmp_path / f"s{i}", Account.from_key(KEY),
                         SessionOptions(transport=transport, tick_s=0.05))
        s.start()
        try:
            s.bus.wait_for(ev.Heartbeat, timeout=20)  # the driver runs
            assert leftover_threads(before, settle_s=0)  # the session's threads are up
        finally:
            s.stop()
        assert leftover_threads(before) == [], f"cycle {i}"
