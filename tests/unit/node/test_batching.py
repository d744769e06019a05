"""The batching policy (issue 18) on a real embedded chain and in-process gossip.

Member side: a ready commit is handed off once, the member waits (busy) and falls back to
its own transaction after HANDOFF_WAIT_S, at once near the deadline, or when there is no
batcher to hand to. Batcher side: entries flush when every expected member has one, or
FLUSH_AFTER_S after the oldest; one entry per member; bad, forged and foreign entries are
dropped with a logged reason. Time moves by an injected clock and ``increase_time``.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import pytest

from milon_app.chain.batches import (
    Opening,
    SignedCommit,
    commit_message,
    commit_signer,
    opening_message,
    parse_batch_message,
    sign_commit,
)
from milon_app.chain.bindings import AssignmentState, Milon
from milon_app.chain.client import ChainClient
from milon_app.chain.deploy import deploy_suite
from milon_app.compute.worker import TrainerWorker
from milon_app.errors import BadInputError
from milon_app.node.batching import (
    BATCH_TOPIC,
    COMMIT,
    FLUSH_AFTER_S,
    HANDOFF_WAIT_S,
    SELF_SEND_MARGIN_S,
    Batcher,
    Handoffs,
    Window,
)
from milon_app.node.bus import EventBus
from milon_app.node.services import RoleServices, RoleSettings
from milon_app.node.state import StateDB
from milon_app.p2p.inprocess import InProcessHub
from milon_app.store.blobs import BlobStore
from tests.unit.contracts import helpers as h


@dataclass
class Clock:
    t: float = 1_000.0

    def __call__(self) -> float:
        return self.t


@dataclass
class Round:
    client: ChainClient
    suite: Any
    milon: Milon
    owner: Any
    job_id: int
    r: int
    members: list[Any]  # the round's members' accounts, all accepted
    hub: InProcessHub = field(default_factory=InProcessHub)

    def commitment(self, m: Any) -> bytes:
        return h.commitment(*self._opening(m), m.address, self.job_id, self.r)

    def _opening(self, m: Any) -> tuple[bytes, int, bytes]:
        return h.h(f"update-{m.address}"), 100, h.h(f"salt-{m.address}")

    def opening(self, m: Any) -> Opening:
        return Opening(m.address, *self._opening(m))

    def state(self, m: Any) -> AssignmentState:
        return self.milon.assignment(self.job_id, self.r, m.address).state


@pytest.fixture(scope="module")
def deployed() -> tuple[ChainClient, Any]:
    client = ChainClient.embedded()
    return client, deploy_suite(client, client.dev_accounts[0], dev=True)


_OPEN = (AssignmentState.ACCEPTED, AssignmentState.ASSIGNED)  # not committed yet


@pytest.fixture(params=["accepted", "assigned"])
def rnd(deployed: tuple[ChainClient, Any], request: pytest.FixtureRequest) -> Iterator[Round]:
    """A round whose members all accepted, or (as nodes do, their commit accepting) left
    their assignments unanswered; commits are open; reverted afterwards."""
    client, suite = deployed
    snap = client.snapshot()
    try:
        owner, accounts = client.dev_accounts[0], client.dev_accounts[1:5]
        fed = h.federation_with_members(client, suite, accounts)
        job_id = h.create_job(client, suite, owner, fed.fed_id, totalEpochs=8, epochsPerRound=8)
        r = h.start_round(client, suite, job_id, owner)
        in_round = {a.lower() for a in h.round_members(client, suite, job_id, r)}
        members = [a for a in accounts if a.address.lower() in in_round]
        assert len(members) >= 3
        for m in members if request.param == "accepted" else ():
            h.tx(client, suite.jobs.functions.accept(job_id, r), m)
        yield Round(client, suite, Milon(suite), owner, job_id, r, members)
    finally:
        client.revert(snap)


def _services(
    tmp_path: Path, rd: Round, account: Any, settings: RoleSettings | None = None
) -> RoleServices:
    root = tmp_path / account.address
    store = BlobStore(root / "blobs")
    s = settings or RoleSettings()
    return RoleServices(
        milon=rd.milon,
        account=account,
        state=StateDB(root / "state.db"),
        store=store,
        transport=rd.hub.transport(account.address, store),
        worker=TrainerWorker(),
        publish=EventBus().publish,
        settings=lambda: s,
    )


def _window(rd: Round, **kw: Any) -> Window:
    now = rd.client.now()
    deadline = rd.milon.round(rd.job_id, rd.r).commit_deadline
    return replace(Window(rd.owner.address, deadline, now), **kw)


def _heard(rd: Round, tmp_path: Path) -> list[dict[str, Any]]:
    """What the batch topic carries, as a listener on the hub hears it."""
    got: list[dict[str, Any]] = []
    store = BlobStore(tmp_path / "listener")
    rd.hub.transport("listener", store).subscribe(BATCH_TOPIC, lambda _s, m: got.append(m))
    return got


def _commit_msg(rd: Round, m: Any) -> dict[str, Any]:
    return commit_message(
        rd.job_id, rd.r, sign_commit(rd.milon, m, rd.job_id, rd.r, rd.commitment(m))
    )


# -- member side ------------------------------------------------------------------------------
def test_member_hands_off_once_waits_then_falls_back(rnd: Round, tmp_path: Path) -> None:
    rd, m = rnd, rnd.members[0]
    clock, heard = Clock(), _heard(rnd, tmp_path)
    hand = Handoffs(_services(tmp_path, rd, m), clock)
    key, window = (rd.job_id, rd.r, COMMIT), _window(rd)
    assert not hand.waiting(key, window) and not hand.busy

    assert hand.hand_off(key, window, lambda: _commit_msg(rd, m))
    job_id, r, entry = parse_batch_message(heard[0])
    assert (job_id, r) == (rd.job_id, rd.r) and isinstance(entry, SignedCommit)
    assert commit_signer(rd.milon, job_id, r, entry) == m.address  # signed by the member
    assert hand.busy and hand.waiting(key, window)

    clock.t += HANDOFF_WAIT_S - 0.1
    assert hand.busy and hand.waiting(key, window)
    clock.t += 0.1  # the batch never came: the member sends its own, and is not busy
    assert not hand.busy and not hand.waiting(key, window)
    assert not hand.hand_off(key, window, lambda: _commit_msg(rd, m))  # never gossiped twice
    assert len(heard) == 1
    assert hand.settled(key) and not hand.settled(key)


def test_member_sends_its_own_near_the_deadline_or_without_a_batcher(
    rnd: Round, tmp_path: Path
) -> None:
    rd, m = rnd, rnd.members[0]
    heard = _heard(rnd, tmp_path)
    key = (rd.job_id, rd.r, COMMIT)
    hand = Handoffs(_services(tmp_path, rd, m), Clock())
    near = _window(rd)
    near = replace(near, now=near.deadline - SELF_SEND_MARGIN_S)
    assert not hand.hand_off(key, near, lambda: _commit_msg(rd, m))  # too late to hand off
    assert hand.hand_off(key, _window(rd), lambda: _commit_msg(rd, m))
    assert hand.waiting(key, _window(rd)) and not hand.waiting(key, near)  # deadline came near

    other = (rd.job_id, rd.r + 1, COMMIT)
    mine = _window(rd, batcher=m.address)  # the member owns the job: nobody to hand to
    assert not hand.hand_off(other, mine, lambda: _commit_msg(rd, m))
    off = Handoffs(_services(tmp_path / "off", rd, m, RoleSettings(batching=False)), Clock())
    assert not off.hand_off(other, _window(rd), lambda: _commit_msg(rd, m))

    def too_big() -> dict[str, Any]:  # the transport refuses it: no gossip today
        return {"pad": "x" * 70_000}

    with pytest.raises(BadInputError):
        rd.hub.transport("probe", BlobStore(tmp_path / "probe")).publish(BATCH_TOPIC, too_big())
    assert not hand.hand_off(other, _window(rd), too_big)
    assert len(heard) == 1


# -- batcher side -----------------------------------------------------------------------------
def _step(batcher: Batcher, rd: Round) -> None:
    batcher.step(rd.job_id, rd.r, rd.milon.round(rd.job_id, rd.r), rd.client.now(), lambda j: True)


def test_batcher_flushes_a_complete_round_in_one_transaction(rnd: Round, tmp_path: Path) -> None:
    rd = rnd
    batcher = Batcher(_services(tmp_path, rd, rd.owner), Clock())
    block = rd.client.block_number()
    for m in rd.members[:-1]:
        batcher.on_message(m.address, _commit_msg(rd, m))
    batcher.on_message(rd.members[0].address, _commit_msg(rd, rd.members[0]))  # a repeat
    _step(batcher, rd)
    assert rd.client.block_number() == block  # one member still expected, entries are fresh
    assert batcher.busy
    batcher.on_message(rd.members[-1].address, _commit_msg(rd, rd.members[-1]))
    _step(batcher, rd)
    assert rd.client.block_number() == block + 1  # all of them in one transaction
    assert all(rd.state(m) is AssignmentState.COMMITTED for m in rd.members)
    assert not batcher.holding and not batcher.busy

    for m in rd.members:  # commits closed: every member's opening, one transaction
        batcher.on_message(m.address, opening_message(rd.job_id, rd.r, rd.opening(m)))
    _step(batcher, rd)
    assert rd.client.block_number() == block + 2
    assert all(rd.state(m) is AssignmentState.REVEALED for m in rd.members)


def test_batcher_flushes_the_entries_it_has_after_a_while(rnd: Round, tmp_path: Path) -> None:
    rd, first, late = rnd, rnd.members[0], rnd.members[1]
    clock = Clock()
    batcher = Batcher(_services(tmp_path, rd, rd.owner), clock)
    batcher.on_message(first.address, _commit_msg(rd, first))
    _step(batcher, rd)
    assert rd.state(first) in _OPEN  # held, not sent
    clock.t += FLUSH_AFTER_S
    assert not batcher.busy  # held past its age: a driver may move time again
    batcher.on_message(late.address, _commit_msg(rd, late))
    _step(batcher, rd)  # the oldest is due: both go
    assert rd.state(first) is rd.state(late) is AssignmentState.COMMITTED


def test_batcher_drops_bad_forged_and_foreign_entries(
    rnd: Round, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    rd, victim = rnd, rnd.members[0]
    attacker = rd.client.dev_accounts[9]
    clock = Clock()
    batcher = Batcher(_services(tmp_path, rd, rd.owner), clock)
    caplog.set_level(logging.DEBUG, logger="milon_app.node.batching")
    good = _commit_msg(rd, victim)
    for bad in (
        {},
        {**good, "type": "vote"},
        {**good, "sig": "zz"},
        {**good, "job": -1},
        {**good, "member": "0x12"},
        {**good, "commitment": 5},
    ):
        batcher.on_message("peer", bad)
    assert not batcher.holding
    assert caplog.text.count("dropped a batch message from peer") == 6

    # signed with the attacker's own key, in the victim's name: dropped, never sent
    forged = sign_commit(rd.milon, attacker, rd.job_id, rd.r, h.h("attacker's update"))
    entry = SignedCommit(victim.address, forged.commitment, forged.signature)
    batcher.on_message("attacker", commit_message(rd.job_id, rd.r, entry))
    outsider = sign_commit(rd.milon, attacker, rd.job_id, rd.r, h.h("outsider"))
    batcher.on_message("attacker", commit_message(rd.job_id, rd.r, outsider))  # no member
    not_mine = commit_message(rd.job_id + 1, rd.r, outsider)
    batcher.on_message("attacker", not_mine)
    batcher.on_message("peer", commit_message(rd.job_id, rd.r + 1, forged))  # a later round
    rd.client.increase_time(1)
    block = rd.client.block_number()
    batcher.step(
        rd.job_id, rd.r, rd.milon.round(rd.job_id, rd.r), rd.client.now(), lambda j: j == rd.job_id
    )
    clock.t += FLUSH_AFTER_S
    _step(batcher, rd)
    assert rd.client.block_number() == block and not batcher.holding
    assert rd.state(victim) in _OPEN
    assert "not by the member" in caplog.text
    assert "is no member" in caplog.text
    assert "not a job of this node" in caplog.text
    assert "not its round now" in caplog.text

    # the victim's own entry still goes through, and a wrong opening of it is dropped
    batcher.on_message(victim.address, good)
    clock.t += FLUSH_AFTER_S
    _step(batcher, rd)
    assert rd.state(victim) is AssignmentState.COMMITTED
    for m in rd.members[1:]:
        h.commit(rd.client, rd.suite, rd.job_id, rd.r, h.Update(m, *rd._opening(m)))
    wrong = replace(rd.opening(victim), num_samples=101)
    batcher.on_message("attacker", opening_message(rd.job_id, rd.r, wrong))
    _step(batcher, rd)
    assert "does not open" in caplog.text and not batcher.holding
    assert rd.state(victim) is AssignmentState.COMMITTED
