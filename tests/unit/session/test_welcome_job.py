"""A newcomer on the simulated federation gets work: the welcome job (issue 20 item 5)."""

from __future__ import annotations

import time

import pytest
from eth_account import Account

from milon_app.config import Config
from milon_app.harness import peer_info
from milon_app.node import events as ev
from milon_app.session.session import Session, SessionOptions
from milon_app.session.welcome_job import WelcomeJob, welcome_request

KEY = b"\x23" * 32  # THROWAWAY test key
ETHER = 10**18


@pytest.fixture
def session(tmp_path, no_thread_left):
    s = Session(Config(), tmp_path, Account.from_key(KEY),
                SessionOptions(transport="inprocess", tick_s=0.05))
    s.start(lambda _m, _f: None)
    yield s
    s.stop()


def test_no_job_is_posted_before_the_user_joins(session):
    deadline = time.monotonic() + 3
    while time.monotonic() < deadline:
        assert session.milon.job_count() == 0
        time.sleep(0.1)


def test_the_joined_user_is_assigned_trains_and_is_paid(session):
    me = session.address
    t0 = time.monotonic()
    session.core.join(1, 50 * ETHER, 100, peer_info(session.core))
    bus = session.bus
    job_id = bus.wait_for(ev.JobCreated, timeout=60).job_id
    job = session.milon.job(job_id)
    assert job.owner == session.sim.peers[0].address and job.params.fed_id == 1
    bus.wait_for(ev.AssignmentDecision, lambda e: e.node == me and e.accepted, timeout=120)
    bus.wait_for(ev.TrainingProgress, lambda e: e.node == me, timeout=120)
    paid = bus.wait_for(ev.RewardCredited, lambda e: e.node == me, timeout=180)
    assert paid.amount > 0 and paid.job_id == job_id
    print(f"joined to first reward: {time.monotonic() - t0:.1f} s")


def test_an_open_job_in_the_federation_means_no_welcome_job(session):
    poster = session.sim.peers[0]
    first = poster.owner.create_job(welcome_request(1, 3))
    welcome = WelcomeJob(poster, session.sim.peers[1].address, 1)  # already a member
    welcome.step()
    assert welcome.done and welcome.job_id is None
    assert session.milon.job_count() == first
