"""Attacks on batched commits and reveals (issue 18): a censoring batcher, a forged entry.

Members hand their commits and openings to the job owner's node, which sends them in
batches (:mod:`milon_app.node.batching`). The batcher is trusted with nothing:

- Censorship: the owner's batcher drops every entry of one member. The member's commit and
  reveal do not land within HANDOFF_WAIT_S of its hand-off, so it sends its own; it is
  accepted, paid and never slashed, while the others' entries still go in batches.
  Without the fallback (the second test) the same member never commits and ends the round
  unpaid: what the first test's assertions catch in a node that only hands off.
- Forgery: an attacker gossips a commit entry in a member's name, signed with its own key.
  The batcher drops it (the signer is not the member). Sent in a batch anyway it cannot
  touch the victim: the contract commits an entry for whoever signed it, so the attacker's
  (an outsider's) entry is skipped, and a member's would only commit its own slot. The
  victim's round goes on with its own commitment and it is paid.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from milon_app.chain.batches import SignedCommit, commit_batch, commit_message, sign_commit
from milon_app.chain.bindings import AssignmentState
from milon_app.chain.verdicts import round_payments
from milon_app.node import batching
from milon_app.node import events as ev
from milon_app.node.batching import BATCH_TOPIC, Batcher, Handoffs, Key, Window
from milon_app.node.core import NodeCore
from milon_app.node.services import RoleServices
from milon_app.store.blobs import BlobStore
from tests.attacks.nodefed import STAKE, NodeFed, node_federation
from tests.unit.contracts.helpers import h


class CensoringBatcher(Batcher):
    """The owner's batcher, dropping every entry of one member."""

    def __init__(self, services: RoleServices, victim: str) -> None:
        super().__init__(services)
        self.victim = victim.lower()

    def on_message(self, sender: str, message: dict[str, Any]) -> None:
        if str(message.get("member", "")).lower() != self.victim:
            super().on_message(sender, message)


@pytest.fixture
def fed(tmp_path: Path) -> Iterator[NodeFed]:
    f = node_federation(tmp_path)
    yield f
    f.close()


def _senders(fed: NodeFed, job_id: int, event: str) -> dict[str, str]:
    """Member -> who sent the transaction its ``event`` came in."""
    client = fed.client
    logs = getattr(fed.owner.suite.jobs.events, event)().get_logs(
        argument_filters={"jobId": job_id}, from_block=0
    )
    return {
        str(e["args"]["member"]): str(client.w3.eth.get_transaction(e["transactionHash"])["from"])
        for e in logs
    }


def _censor(fed: NodeFed, victim: NodeCore) -> None:
    fed.owner.owner.batcher = CensoringBatcher(fed.owner.services, victim.address)


def _assert_paid_whole(fed: NodeFed, job_id: int) -> None:
    m = fed.owner.milon
    rewards, _ = round_payments(m, job_id, 1)
    for nd in fed.nodes:
        assert m.assignment(job_id, 1, nd.address).state is AssignmentState.REVEALED
        assert rewards[nd.address] > 0 and fed.stake(nd) == STAKE
    assert not fed.bus.history(ev.Slashed)


def test_censored_member_sends_its_own_and_is_paid(fed: NodeFed) -> None:
    victim, owner = fed.nodes[0], fed.owner.address
    _censor(fed, victim)
    job_id = fed.job(rounds=1)
    fed.until(fed.round_closed(job_id, 1))

    _assert_paid_whole(fed, job_id)
    for event in ("UpdateCommitted", "UpdateRevealed"):
        senders = _senders(fed, job_id, event)
        assert senders[victim.address] == victim.address  # its own transactions
        assert {senders[nd.address] for nd in fed.nodes[1:]} == {owner}  # the rest batched
    for kind in (ev.UpdateCommitted, ev.UpdateRevealed):  # told either way it landed
        assert {e.node for e in fed.bus.history(kind)} == {nd.address for nd in fed.nodes}


def test_without_the_fallback_the_censored_member_is_unpaid(
    fed: NodeFed, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A node that only hands off: what the test above guards against."""

    def never_fall_back(self: Handoffs, key: Key, window: Window) -> bool:
        return key in self._pending

    monkeypatch.setattr(Handoffs, "waiting", never_fall_back)
    victim = fed.nodes[0]
    _censor(fed, victim)
    job_id = fed.job(rounds=1)
    fed.until(fed.round_closed(job_id, 1))

    m = fed.owner.milon
    rewards, _ = round_payments(m, job_id, 1)
    assert m.assignment(job_id, 1, victim.address).state is not AssignmentState.REVEALED
    assert rewards.get(victim.address, 0) == 0
    assert all(rewards[nd.address] > 0 for nd in fed.nodes[1:])


def test_forged_entry_is_dropped_and_skipped(
    fed: NodeFed, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger=batching.__name__)
    victim, attacker = fed.nodes[0], fed.client.dev_accounts[9]  # no member
    m = fed.owner.milon
    job_id = fed.job(rounds=1)

    fed.until(lambda: m.job(job_id).current_round == 1)  # opened; nobody has committed yet
    assert m.assignment(job_id, 1, victim.address).state is AssignmentState.ASSIGNED

    own = sign_commit(m, attacker, job_id, 1, h("the attacker's choice"))
    forged = SignedCommit(victim.address, own.commitment, own.signature)
    gossip = fed.hub.transport("mallory", BlobStore(tmp_path / "mallory"))
    gossip.publish(BATCH_TOPIC, commit_message(job_id, 1, forged))
    fed.owner.tick()
    assert "not by the member" in caplog.text  # the batcher dropped it
    assert m.assignment(job_id, 1, victim.address).state is AssignmentState.ASSIGNED

    outcome = commit_batch(m, attacker, job_id, 1, [forged])  # sent anyway
    assert outcome.landed == () and list(outcome.skipped) == [attacker.address]
    assert m.assignment(job_id, 1, victim.address).state is AssignmentState.ASSIGNED

    fed.until(fed.round_closed(job_id, 1))
    _assert_paid_whole(fed, job_id)
    record = victim.state.commit_record(job_id, 1)
    assert record is not None
    assert m.assignment(job_id, 1, victim.address).update_hash == record.update_hash
    assert _senders(fed, job_id, "UpdateCommitted")[victim.address] == fed.owner.address
