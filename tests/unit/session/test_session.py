"""The app's session without Qt: the simulated network, the driver, pause, the in-app demo."""

from __future__ import annotations

import time

import pytest
from eth_account import Account

from milon_app.config import Config
from milon_app.demo import DemoOptions
from milon_app.errors import BadInputError, ConfigError
from milon_app.node import events as ev
from milon_app.session.session import Session, SessionOptions, desktop_roles, network_kind
from milon_app.session.simulation import USER_MILON

KEY = b"\x22" * 32  # THROWAWAY test key


@pytest.fixture
def session(tmp_path, no_thread_left):
    """Set up after the leak check, so the check runs once the session has stopped."""
    s = Session(Config(), tmp_path, Account.from_key(KEY),
                SessionOptions(transport="inprocess", tick_s=0.05))
    steps: list[str] = []
    s.start(lambda msg, _f: steps.append(msg))
    s.steps = steps
    yield s
    s.stop()


def test_simulated_network_is_funded_and_founded(session):
    assert session.steps[-1] == "ready"
    m = session.milon
    assert m.balance(session.address) == USER_MILON
    assert m.federation(1).member_count == 3
    assert session.core.suite.client.balance(session.address) > 0
    assert session.dev_chain
    assert session.core.roles == {"contributor", "validator", "keeper", "owner"}


def test_the_desktop_node_runs_the_configured_roles_and_the_owners():
    cfg = Config()
    cfg.node.roles = ["validator", "keeper"]
    assert desktop_roles(cfg) == ("validator", "keeper", "owner")
    cfg.node.roles = ["owner", "contributor"]
    assert desktop_roles(cfg) == ("owner", "contributor")


def test_driver_produces_blocks_and_heartbeats(session):
    hb = session.bus.wait_for(ev.Heartbeat, timeout=10)
    assert hb.node == session.address and hb.peers == 3
    b0 = session.core.suite.client.block_number()
    deadline = time.monotonic() + 10
    while session.core.suite.client.block_number() == b0 and time.monotonic() < deadline:
        time.sleep(0.1)
    assert session.core.suite.client.block_number() > b0  # the idle chain still ticks


def test_pause_declines_new_work_and_resume_restores(session):
    session.set_accept_mode("manual", 7)
    session.set_paused(True)
    assert session.paused and session.core.policy.mode == "never"
    session.set_accept_mode("auto", 9)  # changed while paused: applies on resume
    assert session.core.policy.mode == "never"
    session.set_paused(False)
    assert session.core.policy.mode == "auto" and session.core.policy.max_epochs == 9


def test_in_app_demo_runs_on_the_session_chain(session):
    opts = DemoOptions(nodes=2, rounds=1, epochs_per_round=4, transport="inprocess",
                       governance=False, baseline=False)
    report = session.run_demo(opts)
    assert report.rounds and report.rounds[0].accuracy is not None
    # the demo's federation and job live on the same chain the tabs read
    assert session.milon.federation_count() == 2
    assert session.milon.job(report.job_id).owner == session.sim.spare_accounts[0].address
    assert not session.demo_running.is_set()
    with pytest.raises(BadInputError, match="accounts for"):
        session.run_demo(DemoOptions(nodes=9, transport="inprocess"))


def test_the_in_app_demo_runs_again(session):
    """A second demo reuses the first one's accounts with fresh nodes: the owner's new node
    finds the first demo's completed job, whose model nobody serves any more. That history
    is recorded without an accuracy instead of failing every tick (and the demo with it)."""
    opts = DemoOptions(nodes=2, rounds=1, epochs_per_round=4, transport="inprocess",
                       governance=False, baseline=False)
    first, second = session.run_demo(opts), session.run_demo(opts)
    assert second.job_id == first.job_id + 1
    assert second.rounds and second.rounds[0].accuracy is not None


def test_rpc_network_needs_a_manifest(tmp_path):
    cfg = Config()
    cfg.chain.rpc_url = "http://127.0.0.1:9"
    assert network_kind(cfg) == "rpc"
    s = Session(cfg, tmp_path, Account.from_key(KEY))
    with pytest.raises(ConfigError, match="manifest"):
        s.start()
    assert s.node is None


def test_simulated_members_data_follows_the_partition_option(tmp_path):
    from milon_app.node.local_data import BuiltinPartition

    s = Session(Config(), tmp_path, Account.from_key(KEY),
                SessionOptions(transport="inprocess", tick_s=0.05, sim_partition="shards:2"))
    s.start()
    try:
        parts = [s.core.data, *(p.data for p in s.sim.peers)]
        assert all(isinstance(d, BuiltinPartition) and d.partition == "shards:2" for d in parts)
        assert [d.index for d in parts] == [0, 1, 2, 3] and {d.parts for d in parts} == {4}
    finally:
        s.stop()


def test_a_bad_partition_is_refused_with_its_text(tmp_path):
    s = Session(Config(), tmp_path, Account.from_key(KEY),
                SessionOptions(transport="inprocess", sim_partition="zipf:2"))
    with pytest.raises(BadInputError, match="unknown partition 'zipf:2'"):
        s.start()
    assert s.node is None
