"""Reading proposals back from the governor's events, and their status as plain numbers."""

from __future__ import annotations

import pytest

from milon_app.chain.governance import Governance, ProposalCall, ProposalState, Support
from milon_app.chain.proposals import (
    Proposal,
    ProposalLog,
    find_proposal,
    proposal_status,
    proposals,
)
from milon_app.errors import BadInputError, NotFoundError

ETHER = 10**18
SUPPLY = 100_000_000 * ETHER  # SuiteParams.initial_supply, all held by the deployer


def test_proposal_life_as_status(client, suite, accounts):
    gov = Governance(suite)
    deployer, other = accounts[0], accounts[1]
    log = ProposalLog(suite)
    assert proposals(suite) == [] and log.read() == []
    gov.delegate(deployer)
    call = gov.set_parameter("slash-bps", 1_500, "raise the slash fraction")
    pid = gov.propose(deployer, call)

    (p,) = log.read()
    assert p.id == pid and p.proposer == deployer.address and p.call == call
    assert p.vote_end > p.vote_start >= p.block
    st = proposal_status(gov, p, client.block_number())
    assert st.state is ProposalState.PENDING and st.opens_in >= 1 and st.blocks_left == 0
    assert st.quorum is None and st.quorum_fraction is None  # the snapshot is in the future

    client.mine(2)
    gov.vote(deployer, pid, Support.FOR, "yes")
    gov.vote(other, pid, Support.AGAINST, "no weight")  # other holds no delegated votes
    block = client.block_number()
    st = proposal_status(gov, p, block)
    assert st.state is ProposalState.ACTIVE and st.blocks_left == p.vote_end - block > 0
    assert st.for_ == SUPPLY and st.against == 0 and st.abstain == 0
    assert st.quorum == SUPPLY * 4 // 100
    assert st.quorum_votes == SUPPLY and st.quorum_fraction == 1.0

    client.mine(gov.voting_period() + 1)
    assert proposal_status(gov, p, client.block_number()).state is ProposalState.SUCCEEDED
    gov.queue(deployer, call)
    st = proposal_status(gov, p, client.block_number())
    assert st.state is ProposalState.QUEUED
    assert st.eta >= client.now() + gov.timelock_delay() - 5
    client.increase_time(gov.timelock_delay() + 1)
    gov.execute(deployer, call)
    st = proposal_status(gov, p, client.block_number())
    assert st.state is ProposalState.EXECUTED and st.eta == 0
    assert client.call(suite.registry.functions.slashBps()) == 1_500

    # the log reads on from where it stopped: the same proposal once, then the new one
    second = gov.propose(deployer, gov.set_parameter("max-members", 9))
    assert [x.id for x in log.read()] == [pid, second]
    assert [x.id for x in proposals(suite)] == [pid, second]


def test_find_proposal_by_id_and_prefix(client, suite, accounts):
    gov = Governance(suite)
    pid = gov.propose(accounts[0], gov.set_parameter("max-members", 7))
    assert find_proposal(suite, str(pid)).id == pid
    assert find_proposal(suite, str(pid)[:6]).id == pid
    with pytest.raises(NotFoundError, match="no proposal 0 on this deployment"):
        find_proposal(suite, "0")  # no decimal id starts with 0

    call = ProposalCall([], [], [], "x")
    made = [Proposal(i, "0x", call, 1, 2, 1) for i in (1234, 1235, 12)]
    assert find_proposal(suite, "12", made).id == 12  # an exact id wins over prefixes
    with pytest.raises(BadInputError, match="ambiguous"):
        find_proposal(suite, "123", made)
