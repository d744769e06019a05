"""The simulated federation and the in-app demo in a child process (issue 20, item 6).

Real processes, real libp2p hosts, the embedded chain served over loopback
JSON-RPC: the window's session must see the same members, events, welcome
job and demo it saw when everything ran in its own process.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from eth_account import Account

from milon_app.chain.bindings import JobStatus
from milon_app.config import Config
from milon_app.demo import DemoOptions
from milon_app.errors import MilonError
from milon_app.harness import peer_info
from milon_app.node import events as ev
from milon_app.session.session import Session, SessionOptions
from milon_app.session.sim_process import SimProcess, SimProcessError
from tests.procs import pid_gone

KEY = b"\x24" * 32  # THROWAWAY test key
ETHER = 10**18


def wait_gone(pid: int, timeout_s: float = 10) -> bool:
    deadline = time.monotonic() + timeout_s
    while not pid_gone(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    return pid_gone(pid)


@pytest.fixture(scope="module")
def session(tmp_path_factory) -> Iterator[Session]:
    s = Session(Config(), tmp_path_factory.mktemp("child"), Account.from_key(KEY),
                SessionOptions(transport="libp2p", tick_s=0.1))
    s.start()
    pid = s.sim.pid if isinstance(s.sim, SimProcess) else None
    yield s
    s.stop()
    assert pid is not None and wait_gone(pid), "the simulated federation's process outlived stop"


def test_the_members_run_in_a_child_process_and_the_node_reaches_the_chain_over_rpc(session):
    sim = session.sim
    assert isinstance(sim, SimProcess) and session.in_child
    assert sim.pid is not None and sim.pid != os.getpid() and sim.alive()
    assert session.client.kind == "rpc" and session.client.serves_embedded and session.dev_chain
    assert len(sim.peers) == 3 and len(sim.spare_accounts) >= 4
    for peer in sim.peers:  # the window reads their node databases, and the chain agrees
        assert session.milon.member(sim.fed_id, peer.address).active
        assert peer.state.memberships() == [sim.fed_id]
    assert session.local_nodes()[0].address == session.address


def test_the_welcome_job_reaches_the_user_through_the_child(session):
    me, bus = session.address, session.bus
    session.core.join(1, 50 * ETHER, 100, peer_info(session.core))
    created = bus.wait_for(ev.JobCreated, timeout=60)
    assert session.milon.job(created.job_id).owner == session.sim.peers[0].address
    bus.wait_for(ev.AssignmentDecision, lambda e: e.node == me and e.accepted, timeout=120)
    paid = bus.wait_for(ev.RewardCredited, lambda e: e.node == me, timeout=180)
    assert paid.amount > 0 and paid.job_id == created.job_id
    owner = session.sim.peers[0]  # its database, written there, read here
    assert owner.state.job_info(created.job_id)[0] == "owner"
    peers = {p.address for p in session.sim.peers}
    assert any(e.node in peers for e in bus.history(ev.TrainingProgress))  # forwarded events


def test_the_in_app_demo_runs_there_and_reports_each_round_here(session):
    rows: list[tuple[Any, int]] = []
    report = session.run_demo(
        DemoOptions(nodes=2, rounds=1, governance=False, baseline=False),
        lambda row, total: rows.append((row, total)),
    )
    assert [(r.round, total) for r, total in rows] == [(1, 1)]
    assert len(report.rounds) == 1 and report.final_accuracy is not None
    assert session.milon.job(report.job_id).status is not JobStatus.OPEN  # the demo ended it
    demo_nodes = {n["address"] for n in report.nodes}
    assert any(e.node in demo_nodes for e in session.bus.history(ev.TrainingProgress))
    assert not session.demo_running.is_set()


def test_stopping_during_a_demo_ends_it_and_the_child(tmp_path):
    s = Session(Config(), tmp_path, Account.from_key(KEY),
                SessionOptions(transport="libp2p", tick_s=0.1, welcome_job=False))
    s.start()
    sim = s.sim
    assert isinstance(sim, SimProcess) and sim.pid is not None
    outcome: list[BaseException] = []

    def run() -> None:
        try:
            s.run_demo(DemoOptions(nodes=2, rounds=20, governance=False, baseline=False))
        except BaseException as exc:
            outcome.append(exc)

    t = threading.Thread(target=run)
    t.start()
    s.bus.wait_for(ev.RoundStarted, lambda e: e.job_id >= 1, timeout=120)
    t0 = time.monotonic()
    s.stop()
    t.join(60)
    assert not t.is_alive() and outcome and isinstance(outcome[0], MilonError), outcome
    assert time.monotonic() - t0 < 60
    assert wait_gone(sim.pid)


def test_a_child_that_dies_is_reported_not_waited_for(tmp_path):
    from milon_app.node.bus import EventBus
    from milon_app.session.simulation import SimOptions

    bus = EventBus()
    sim = SimProcess(bus, tmp_path, SimOptions(), Account.from_key(KEY).address, {})
    sim.start()  # the chain is deployed and served; no members yet
    try:
        assert sim.pid is not None and sim.alive() and sim.rpc_url.startswith("http://127.")
        os.kill(sim.pid, signal.SIGKILL)
        err = bus.wait_for(ev.NodeError, lambda e: e.where == "simulated federation", timeout=30)
        assert "ended" in err.message and "-9" in err.message
        with pytest.raises(SimProcessError, match="ended"):
            sim.run_demo(DemoOptions(nodes=2, rounds=1), None, threading.Event())
        with pytest.raises(SimProcessError, match="ended"):
            sim.start_peers(["/ip4/127.0.0.1/tcp/1"])
    finally:
        sim.stop()
    assert pid_gone(sim.pid)
