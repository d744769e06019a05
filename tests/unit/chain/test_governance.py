"""Governance reads and the checks every front-end asks before a step (vote, queue, execute)."""

from __future__ import annotations

import pytest

from milon_app.chain.governance import Check, Governance, ProposalState, Support
from milon_app.errors import BadInputError

ETHER = 10**18
SUPPLY = 100_000_000 * ETHER  # SuiteParams.initial_supply, all held by the deployer


def refused(check: Check, *needles: str) -> None:
    assert not check.ok
    for n in needles:
        assert n in check.why_not, check.why_not
    with pytest.raises(BadInputError) as exc:
        check.require()
    assert str(exc.value) == check.why_not


def test_reads_delegation_votes_and_proposal_blocks(client, suite, accounts):
    gov = Governance(suite)
    deployer, other = accounts[0], accounts[1]
    assert client.is_dev
    assert gov.delegate_of(deployer.address) is None and gov.votes(deployer.address) == 0
    gov.delegate(deployer, other.address)
    assert gov.delegate_of(deployer.address) == other.address
    assert gov.votes(other.address) == SUPPLY
    gov.delegate(deployer)
    assert gov.delegate_of(deployer.address) == deployer.address
    assert gov.votes(other.address) == 0

    call = gov.set_parameter("max-members", 9)
    pid = gov.proposal_id(call)
    assert gov.snapshot(pid) == 0 and gov.eta(pid) == 0  # no such proposal yet
    assert gov.propose(deployer, call) == pid
    start, end = gov.snapshot(pid), gov.deadline(pid)
    assert start >= client.block_number() and end == start + gov.voting_period()
    client.mine(2)
    assert gov.votes_at(deployer.address, start) == SUPPLY
    assert gov.votes_at(other.address, start) == 0
    assert gov.quorum(start) == SUPPLY * 4 // 100
    assert not gov.has_voted(pid, deployer.address)
    gov.vote(deployer, pid, Support.FOR)
    assert gov.has_voted(pid, deployer.address) and not gov.has_voted(pid, other.address)


def test_checks_follow_a_proposal_through_its_life(client, suite, accounts):
    gov = Governance(suite)
    deployer, other = accounts[0], accounts[1]
    gov.delegate(deployer)
    call = gov.set_parameter("slash-bps", 1_200, "stricter")
    assert gov.can_propose(call) == Check(None)
    pid = gov.propose(deployer, call)
    refused(gov.can_propose(call), "identical proposal already exists", str(pid))
    assert gov.can_propose(gov.set_parameter("slash-bps", 1_200, "again")).ok

    # pending: voting not open yet, for anyone
    start = gov.snapshot(pid)
    refused(gov.can_vote(pid, None), f"voting on proposal {pid} opens after block {start}")
    refused(gov.can_queue(pid), f"proposal {pid} is pending; only a succeeded proposal")
    refused(gov.can_execute(pid), "pending; only a queued proposal can be executed")

    client.mine(2)
    check = gov.can_vote(pid, deployer.address)
    assert check.ok and check.state is ProposalState.ACTIVE
    check.require()  # nothing to raise
    gov.vote(deployer, pid, Support.FOR)
    refused(gov.can_vote(pid, deployer.address), f"{deployer.address} already voted")
    refused(
        gov.can_vote(pid, deployer.address, name="the proposal", voter_name="you"),
        "you already voted on the proposal",
    )
    assert gov.can_vote(pid, other.address).ok and gov.can_vote(pid, None).ok

    client.mine(gov.voting_period() + 1)
    refused(gov.can_vote(pid, other.address), f"proposal {pid} is succeeded: voting is closed")
    refused(gov.can_execute(pid), "only a queued proposal can be executed (queue it first)")
    assert gov.can_queue(pid) == Check(ProposalState.SUCCEEDED)
    gov.queue(deployer, call)
    assert gov.eta(pid) >= client.now() + gov.timelock_delay() - 5
    refused(gov.can_queue(pid, name="it"), "it is queued; only a succeeded proposal")
    refused(gov.can_execute(pid), "is in the timelock until", "UTC", "chain time")

    client.increase_time(gov.timelock_delay() + 1)
    assert gov.can_execute(pid).ok
    gov.execute(deployer, call)
    assert gov.state(pid) is ProposalState.EXECUTED
    refused(gov.can_execute(pid), "executed; only a queued proposal")
    refused(gov.can_vote(pid, None), "executed: voting is closed")


def test_a_defeated_proposal_can_be_neither_queued_nor_executed(client, suite, accounts):
    gov = Governance(suite)
    deployer = accounts[0]
    gov.delegate(deployer)
    pid = gov.propose(deployer, gov.set_parameter("max-members", 8))
    client.mine(2)
    gov.vote(deployer, pid, Support.AGAINST)
    client.mine(gov.voting_period() + 1)
    assert gov.state(pid) is ProposalState.DEFEATED
    refused(gov.can_queue(pid), "defeated; only a succeeded proposal can be queued")
    check = gov.can_execute(pid)
    refused(check, "defeated; only a queued proposal can be executed")
    assert "queue it first" not in check.why_not and check.state is ProposalState.DEFEATED
