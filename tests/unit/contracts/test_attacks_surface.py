"""An unprivileged attacker calls every state-changing entry point of every shipped contract.

The list of entry points comes from the compiled ABIs (every non-view,
non-pure function, plus receive/fallback), and each one must be classified
in SURFACE below: either it reverts for the attacker with one of the named
access/state errors, or it is permissionless and harmless: it succeeds and
nothing that belongs to anybody else changes (balances, allowances, votes,
stakes, claimable rewards, jobs, rounds, assignments, committee seats,
delivery records, governed parameters, proposals). A new
external function that is not in SURFACE fails the test until it is
classified here.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from eth_account import Account
from eth_account.signers.local import LocalAccount
from eth_utils.crypto import keccak

from milon_app.chain.artifacts import CONTRACT_NAMES, load_artifact
from milon_app.chain.deploy import SuiteParams, deploy_suite
from milon_app.chain.errors import ContractRevert, _type_str, revert_from_exception

from .attackers import send_value
from .helpers import (
    ETHER,
    GOVERNANCE,
    approve,
    commit,
    create_federation,
    create_job,
    delegate_all,
    finish_round,
    fund,
    job_params,
    join,
    make_update,
    reveal,
    reverts,
    start_round,
    tx,
)

MAX = 2**256 - 1
ZERO32 = b"\0" * 32


@dataclass
class World:
    """A live federation the attacker walks into: stakes, escrow, rewards, a round, a vote."""

    suite: Any
    attacker: LocalAccount
    victims: list[LocalAccount]
    owner: LocalAccount
    fed: int
    gov_fed: int
    done_job: int
    job: int
    round: int
    proposal: tuple[list[str], list[int], list[bytes], bytes]
    pid: int
    victim_update: Any


def _build_world(client, suite, accounts) -> World:
    v1, v2, owner, attacker = accounts[1], accounts[2], accounts[3], accounts[7]
    fed = create_federation(client, suite, owner)
    gov_fed = create_federation(client, suite, owner, name="closed", admission=GOVERNANCE)
    for v in (v1, v2):
        join(client, suite, v, fed)
        approve(client, suite, v, suite.registry.address, MAX)
        approve(client, suite, v, suite.jobs.address, MAX)
    # A finished job leaves both victims with claimable rewards.
    done = create_job(client, suite, owner, fed, totalEpochs=2, epochsPerRound=2)
    r = start_round(client, suite, done, owner)
    ups = [make_update(v, done, r) for v in (v1, v2)]
    for v in (v1, v2):
        tx(client, suite.jobs.functions.accept(done, r), v)
    for u in ups:
        commit(client, suite, done, r, u)
    for u in ups:
        reveal(client, suite, done, r, u)
    finish_round(client, suite, done, r, [v1, v2], [v1.address, v2.address], keccak(text="m1"))
    # A running job: both victims accepted, v1 committed (its preimage is known to the test).
    job = create_job(client, suite, owner, fed, totalEpochs=4, epochsPerRound=2)
    r = start_round(client, suite, job, owner)
    for v in (v1, v2):
        tx(client, suite.jobs.functions.accept(job, r), v)
    vu = make_update(v1, job, r)
    commit(client, suite, job, r, vu)
    # An active governance proposal with the deployer's vote on it.
    delegate_all(client, suite)
    call = suite.registry.functions.setSlashBps(500)
    proposal = ([suite.registry.address], [0], [call._encode_transaction_data()], b"")
    desc = "lower the slash rate"
    tx(client, suite.governor.functions.propose(*proposal[:3], desc), suite.deployer)
    desc_hash = keccak(text=desc)
    proposal = (proposal[0], proposal[1], proposal[2], desc_hash)
    pid = client.call(suite.governor.functions.hashProposal(*proposal))
    client.mine(int(client.call(suite.governor.functions.votingDelay())) + 1)
    tx(client, suite.governor.functions.castVote(pid, 1), suite.deployer)
    fund(client, suite, attacker, 100 * ETHER)  # the attacker's own money, approved like a user's
    approve(client, suite, attacker, suite.registry.address, MAX)
    approve(client, suite, attacker, suite.jobs.address, MAX)
    return World(suite, attacker, [v1, v2], owner, fed, gov_fed, done, job, r, proposal, pid, vu)


def _fingerprint(client, w: World) -> dict[str, Any]:
    """Everything that belongs to someone other than the attacker."""
    s, c = w.suite, client.call
    tok, reg, jobs, gov = (s.token.functions, s.registry.functions, s.jobs.functions,
                           s.governor.functions)  # fmt: skip
    fp: dict[str, Any] = {}
    others = [*w.victims, w.owner, s.deployer]
    for a in [x.address for x in others]:
        fp[f"balance {a}"] = c(tok.balanceOf(a))
        fp[f"votes {a}"] = c(tok.getVotes(a))
        fp[f"delegates {a}"] = c(tok.delegates(a))
        fp[f"nonce {a}"] = c(tok.nonces(a))
        fp[f"claimable {a}"] = c(jobs.claimable(a))
    for v in w.victims:
        for spender in (s.registry.address, s.jobs.address, w.attacker.address):
            fp[f"allowance {v.address} {spender}"] = c(tok.allowance(v.address, spender))
        for fed in (w.fed, w.gov_fed):
            fp[f"member {fed} {v.address}"] = c(reg.member(fed, v.address))
            fp[f"pending {fed} {v.address}"] = c(jobs.pendingWork(fed, v.address))
        for job in (w.done_job, w.job):
            fp[f"assignment {job} {v.address}"] = c(jobs.assignment(job, w.round, v.address))
            fp[f"seat {job} {v.address}"] = c(jobs.seat(job, w.round, v.address))
            fp[f"benched {job} {v.address}"] = c(jobs.lastSlashedRound(job, v.address))
        fp[f"delivery {v.address}"] = c(jobs.delivery(w.fed, v.address))
    for job in (w.done_job, w.job):
        fp[f"job {job}"] = c(jobs.job(job))
        fp[f"round {job}"] = c(jobs.round(job, w.round))
        fp[f"committee {job}"] = c(jobs.committee(job, w.round))
        fp[f"members {job}"] = c(jobs.roundMembers(job, w.round))
    for name in ("slashBps", "leaveCooldown", "minStakeFloor", "maxMembers", "jobs",
                 "govSlashCapBps"):  # fmt: skip
        fp[f"registry.{name}"] = c(getattr(reg, name)())
    fp["jobs.params"] = c(jobs.params())
    fp["federation"] = c(reg.federation(w.fed))[:5]  # name, hash, minStake, admission, creator
    fp["proposal state"] = c(gov.state(w.pid))
    fp["proposal votes"] = c(gov.proposalVotes(w.pid))
    fp["governor settings"] = (c(gov.votingDelay()), c(gov.votingPeriod()),
                               c(gov.proposalThreshold()), c(gov.timelock()))  # fmt: skip
    fp["timelock delay"] = c(s.timelock.functions.getMinDelay())
    fp["releases"] = c(s.models.functions.releaseCount())
    return fp


def _holdings(client, w: World) -> dict[str, int]:
    """What the contracts hold: the attacker may add to it (a stake, an escrow), never take."""
    s = w.suite
    out = {}
    for c in (s.registry, s.jobs, s.timelock, s.governor):
        out[f"tokens {c.address}"] = client.call(s.token.functions.balanceOf(c.address))
        out[f"eth {c.address}"] = client.balance(c.address)
    return out


def _sign_typed(acct: LocalAccount, client, w: World, primary: str, fields, message) -> Any:
    domain = {"name": "MILON", "version": "1", "chainId": client.chain_id,
              "verifyingContract": w.suite.token.address}  # fmt: skip
    return Account.sign_typed_data(acct.key, domain, {primary: fields}, message)


def _delegate_by_sig(client, w: World) -> Any:
    """The attacker's own valid signature: it can only ever delegate the signer's votes."""
    expiry = client.now() + 3600
    fields = [{"name": "delegatee", "type": "address"}, {"name": "nonce", "type": "uint256"},
              {"name": "expiry", "type": "uint256"}]  # fmt: skip
    nonce = client.call(w.suite.token.functions.nonces(w.attacker.address))
    msg = {"delegatee": w.attacker.address, "nonce": nonce, "expiry": expiry}
    sig = _sign_typed(w.attacker, client, w, "Delegation", fields, msg)
    return w.suite.token.functions.delegateBySig(
        w.attacker.address,
        nonce,
        expiry,
        sig.v,
        sig.r.to_bytes(32, "big"),
        sig.s.to_bytes(32, "big"),
    )


def _forged_permit(client, w: World) -> Any:
    """The attacker signs a permit that claims to come from a victim."""
    victim = w.victims[0].address
    deadline = client.now() + 3600
    fields = [{"name": n, "type": t} for n, t in (("owner", "address"), ("spender", "address"),
              ("value", "uint256"), ("nonce", "uint256"), ("deadline", "uint256"))]  # fmt: skip
    msg = {"owner": victim, "spender": w.attacker.address, "value": MAX, "nonce": 0,
           "deadline": deadline}  # fmt: skip
    sig = _sign_typed(w.attacker, client, w, "Permit", fields, msg)
    return w.suite.token.functions.permit(
        victim, w.attacker.address, MAX, deadline, sig.v, sig.r.to_bytes(32, "big"),
        sig.s.to_bytes(32, "big"),
    )  # fmt: skip


ANY_SIG = b"\x11" * 64 + b"\x1b"
Fn = Callable[[Any, World], Any] | None  # None: receive(), a plain value transfer
Spec = tuple[Fn, tuple[str, ...]]  # (bound call, allowed revert errors; () = must succeed)
HARMLESS: tuple[str, ...] = ()


def _tl(w: World) -> Any:
    return w.suite.timelock.functions


def _op(w: World) -> tuple[str, int, bytes]:
    return (w.suite.registry.address, 0, w.suite.registry.functions.setSlashBps(0)
            ._encode_transaction_data())  # fmt: skip


SURFACE: dict[str, Spec] = {
    # ---- MilonToken: the attacker may move only what it owns or was allowed
    "MilonToken.approve(address,uint256)":
        (lambda c, w: w.suite.token.functions.approve(w.victims[0].address, MAX), HARMLESS),
    "MilonToken.transfer(address,uint256)":
        (lambda c, w: w.suite.token.functions.transfer(w.attacker.address, ETHER), HARMLESS),
    "MilonToken.transferFrom(address,address,uint256)":
        (lambda c, w: w.suite.token.functions.transferFrom(w.victims[0].address,
                                                           w.attacker.address, 1),
         ("ERC20InsufficientAllowance",)),
    "MilonToken.delegate(address)":
        (lambda c, w: w.suite.token.functions.delegate(w.attacker.address), HARMLESS),
    "MilonToken.delegateBySig(address,uint256,uint256,uint8,bytes32,bytes32)":
        (_delegate_by_sig, HARMLESS),
    "MilonToken.permit(address,address,uint256,uint256,uint8,bytes32,bytes32)":
        (_forged_permit, ("ERC2612InvalidSigner",)),
    # dev deployments only (mints to the caller); a production token refuses: see the test below
    "MilonToken.faucet(address,uint256)":
        (lambda c, w: w.suite.token.functions.faucet(w.attacker.address, ETHER), HARMLESS),
    # ---- FederationRegistry
    "FederationRegistry.setJobs(address)":
        (lambda c, w: w.suite.registry.functions.setJobs(w.attacker.address), ("NotAuthorized",)),
    "FederationRegistry.createFederation(string,bytes32,uint256,uint8)":
        (lambda c, w: w.suite.registry.functions.createFederation("evil", ZERO32, ETHER, 0),
         HARMLESS),
    "FederationRegistry.admitMember(uint256,address)":
        (lambda c, w: w.suite.registry.functions.admitMember(w.gov_fed, w.attacker.address),
         ("NotGovernance",)),
    "FederationRegistry.removeMember(uint256,address)":
        (lambda c, w: w.suite.registry.functions.removeMember(w.fed, w.victims[0].address),
         ("NotGovernance",)),
    "FederationRegistry.join(uint256,uint256,uint64,string)":
        (lambda c, w: w.suite.registry.functions.join(w.fed, ETHER, 10**6, "evil"), HARMLESS),
    "FederationRegistry.addStake(uint256,uint256)":
        (lambda c, w: w.suite.registry.functions.addStake(w.fed, ETHER), ("NotMember",)),
    "FederationRegistry.updateMember(uint256,uint64,string)":
        (lambda c, w: w.suite.registry.functions.updateMember(w.fed, 1, "x"), ("NotMember",)),
    "FederationRegistry.setModelCapacity(uint256,bytes32,uint64)":
        (lambda c, w: w.suite.registry.functions.setModelCapacity(w.fed, keccak(text="m"), 2**64 - 1),
         ("NotMember",)),
    "FederationRegistry.requestLeave(uint256)":
        (lambda c, w: w.suite.registry.functions.requestLeave(w.fed), ("NotMember",)),
    "FederationRegistry.withdrawStake(uint256)":
        (lambda c, w: w.suite.registry.functions.withdrawStake(w.fed), ("NothingToWithdraw",)),
    "FederationRegistry.slash(uint256,address,uint256,bytes32)":
        (lambda c, w: w.suite.registry.functions.slash(w.fed, w.victims[0].address, MAX, ZERO32),
         ("NotAuthorized",)),
    "FederationRegistry.setMinStakeFloor(uint256)":
        (lambda c, w: w.suite.registry.functions.setMinStakeFloor(0), ("NotGovernance",)),
    "FederationRegistry.setSlashBps(uint16)":
        (lambda c, w: w.suite.registry.functions.setSlashBps(10_000), ("NotGovernance",)),
    "FederationRegistry.setLeaveCooldown(uint64)":
        (lambda c, w: w.suite.registry.functions.setLeaveCooldown(0), ("NotGovernance",)),
    "FederationRegistry.setMaxMembers(uint256)":
        (lambda c, w: w.suite.registry.functions.setMaxMembers(1), ("NotGovernance",)),
    "FederationRegistry.setGovSlashCapBps(uint16)":
        (lambda c, w: w.suite.registry.functions.setGovSlashCapBps(5_000), ("NotGovernance",)),
    # ---- TrainingJobs
    "TrainingJobs.setParam(uint256,uint256)":
        (lambda c, w: w.suite.jobs.functions.setParam(9, 5_001), ("NotGovernance",)),
    "TrainingJobs.createJob((uint256,bytes32,bytes32,bytes32,uint32,uint32,uint256,uint8,uint8,uint64,uint64))":
        (lambda c, w: w.suite.jobs.functions.createJob(job_params(w.fed, totalEpochs=2,
                                                                  epochsPerRound=1)), HARMLESS),
    "TrainingJobs.cancelJob(uint256)":
        (lambda c, w: w.suite.jobs.functions.cancelJob(w.job), ("NotJobOwner",)),
    "TrainingJobs.startRound(uint256)":
        (lambda c, w: w.suite.jobs.functions.startRound(w.job), ("RoundInProgress",)),
    "TrainingJobs.accept(uint256,uint256)":
        (lambda c, w: w.suite.jobs.functions.accept(w.job, w.round), ("NotAssigned",)),
    "TrainingJobs.decline(uint256,uint256)":
        (lambda c, w: w.suite.jobs.functions.decline(w.job, w.round), ("NotAssigned",)),
    "TrainingJobs.commit(uint256,uint256,bytes32)":
        (lambda c, w: w.suite.jobs.functions.commit(w.job, w.round, keccak(text="x")),
         ("NotAccepted",)),
    "TrainingJobs.reveal(uint256,uint256,bytes32,uint64,bytes32)":
        (lambda c, w: w.suite.jobs.functions.reveal(
            w.job, w.round, w.victim_update.update_hash, w.victim_update.num_samples,
            w.victim_update.salt), ("NotCommitted",)),
    # a batch entry forged for a victim recovers to the attacker (not in the round): skipped
    "TrainingJobs.commitBatch(uint256,uint256,(bytes32,bytes32,bytes32)[])":
        (lambda c, w: w.suite.jobs.functions.commitBatch(
            w.job, w.round, [(keccak(text="x"), keccak(text="r"), keccak(text="vs"))]), HARMLESS),
    "TrainingJobs.revealBatch(uint256,uint256,(address,bytes32,uint64,bytes32)[])":
        (lambda c, w: w.suite.jobs.functions.revealBatch(w.job, w.round, [(
            w.victims[0].address, w.victim_update.update_hash, w.victim_update.num_samples,
            w.victim_update.salt)]), HARMLESS),
    "TrainingJobs.commitAs(uint256,uint256,address,bytes32)":
        (lambda c, w: w.suite.jobs.functions.commitAs(
            w.job, w.round, w.victims[0].address, keccak(text="x")), ("NotSelf",)),
    "TrainingJobs.revealAs(uint256,uint256,(address,bytes32,uint64,bytes32))":
        (lambda c, w: w.suite.jobs.functions.revealAs(w.job, w.round, (
            w.victims[0].address, w.victim_update.update_hash, w.victim_update.num_samples,
            w.victim_update.salt)), ("NotSelf",)),
    "TrainingJobs.closeAcceptance(uint256)":  # every assignment was answered
        (lambda c, w: w.suite.jobs.functions.closeAcceptance(w.job),
         ("AcceptanceOpen", "NothingLapsed")),
    "TrainingJobs.submitVerdict(uint256,uint256,uint256,bytes)":
        (lambda c, w: w.suite.jobs.functions.submitVerdict(w.job, w.round, 0, b"\x00\x00"),
         ("NotOnCommittee",)),
    "TrainingJobs.closeVerdicts(uint256)":
        (lambda c, w: w.suite.jobs.functions.closeVerdicts(w.job), ("VerdictsOpen",)),
    "TrainingJobs.confirm(uint256,uint256,bytes32)":
        (lambda c, w: w.suite.jobs.functions.confirm(w.job, w.round, keccak(text="evil")),
         ("NotOnCommittee",)),
    "TrainingJobs.timeoutRound(uint256)":
        (lambda c, w: w.suite.jobs.functions.timeoutRound(w.job), ("RoundNotStuck",)),
    "TrainingJobs.claim()":
        (lambda c, w: w.suite.jobs.functions.claim(), ("NothingToClaim",)),
    "TrainingJobs.memberJoined(uint256,address)":
        (lambda c, w: w.suite.jobs.functions.memberJoined(w.fed, w.victims[0].address),
         ("NotRegistry",)),
    # ---- ModelRegistry
    "ModelRegistry.recordRelease(uint256,bytes32,string)":
        (lambda c, w: w.suite.models.functions.recordRelease(w.job, keccak(text="evil"), "x"),
         ("NotGovernance",)),
    # ---- MilonTimelock (executor role is open: anyone may execute a *ready* operation)
    "MilonTimelock.schedule(address,uint256,bytes,bytes32,bytes32,uint256)":
        (lambda c, w: _tl(w).schedule(*_op(w), ZERO32, ZERO32, 10**6),
         ("AccessControlUnauthorizedAccount",)),
    "MilonTimelock.scheduleBatch(address[],uint256[],bytes[],bytes32,bytes32,uint256)":
        (lambda c, w: _tl(w).scheduleBatch(*([x] for x in _op(w)), ZERO32, ZERO32, 10**6),
         ("AccessControlUnauthorizedAccount",)),
    "MilonTimelock.cancel(bytes32)":
        (lambda c, w: _tl(w).cancel(ZERO32), ("AccessControlUnauthorizedAccount",)),
    "MilonTimelock.execute(address,uint256,bytes,bytes32,bytes32)":
        (lambda c, w: _tl(w).execute(*_op(w), ZERO32, ZERO32),
         ("TimelockUnexpectedOperationState",)),
    "MilonTimelock.executeBatch(address[],uint256[],bytes[],bytes32,bytes32)":
        (lambda c, w: _tl(w).executeBatch(*([x] for x in _op(w)), ZERO32, ZERO32),
         ("TimelockUnexpectedOperationState",)),
    "MilonTimelock.updateDelay(uint256)":
        (lambda c, w: _tl(w).updateDelay(0), ("TimelockUnauthorizedCaller",)),
    "MilonTimelock.grantRole(bytes32,address)":
        (lambda c, w: _tl(w).grantRole(c.call(_tl(w).PROPOSER_ROLE()), w.attacker.address),
         ("AccessControlUnauthorizedAccount",)),
    "MilonTimelock.revokeRole(bytes32,address)":
        (lambda c, w: _tl(w).revokeRole(c.call(_tl(w).PROPOSER_ROLE()), w.suite.governor.address),
         ("AccessControlUnauthorizedAccount",)),
    "MilonTimelock.renounceRole(bytes32,address)":
        (lambda c, w: _tl(w).renounceRole(c.call(_tl(w).PROPOSER_ROLE()),
                                          w.suite.governor.address),
         ("AccessControlBadConfirmation",)),
    # token receiver hooks: return their selector, touch no state
    "MilonTimelock.onERC721Received(address,address,uint256,bytes)":
        (lambda c, w: _tl(w).onERC721Received(w.attacker.address, w.attacker.address, 1, b""),
         HARMLESS),
    "MilonTimelock.onERC1155Received(address,address,uint256,uint256,bytes)":
        (lambda c, w: _tl(w).onERC1155Received(w.attacker.address, w.attacker.address, 1, 1, b""),
         HARMLESS),
    "MilonTimelock.onERC1155BatchReceived(address,address,uint256[],uint256[],bytes)":
        (lambda c, w: _tl(w).onERC1155BatchReceived(w.attacker.address, w.attacker.address,
                                                    [1], [1], b""), HARMLESS),
    "MilonTimelock.receive()": (None, HARMLESS),  # a donation to the treasury
    # ---- MilonGovernor (the attacker holds no votes)
    "MilonGovernor.propose(address[],uint256[],bytes[],string)":
        (lambda c, w: w.suite.governor.functions.propose(*w.proposal[:3], "evil twin"),
         HARMLESS),  # threshold 0: anyone may propose; passing still needs the votes
    "MilonGovernor.execute(address[],uint256[],bytes[],bytes32)":
        (lambda c, w: w.suite.governor.functions.execute(*w.proposal),
         ("GovernorUnexpectedProposalState",)),
    "MilonGovernor.queue(address[],uint256[],bytes[],bytes32)":
        (lambda c, w: w.suite.governor.functions.queue(*w.proposal),
         ("GovernorUnexpectedProposalState",)),
    "MilonGovernor.cancel(address[],uint256[],bytes[],bytes32)":
        (lambda c, w: w.suite.governor.functions.cancel(*w.proposal),
         ("GovernorUnableToCancel", "GovernorOnlyProposer", "GovernorUnexpectedProposalState")),
    "MilonGovernor.castVote(uint256,uint8)":
        (lambda c, w: w.suite.governor.functions.castVote(w.pid, 0), HARMLESS),  # weight 0
    "MilonGovernor.castVoteWithReason(uint256,uint8,string)":
        (lambda c, w: w.suite.governor.functions.castVoteWithReason(w.pid, 0, "no"), HARMLESS),
    "MilonGovernor.castVoteWithReasonAndParams(uint256,uint8,string,bytes)":
        (lambda c, w: w.suite.governor.functions.castVoteWithReasonAndParams(w.pid, 0, "no", b""),
         HARMLESS),
    "MilonGovernor.castVoteBySig(uint256,uint8,address,bytes)":
        (lambda c, w: w.suite.governor.functions.castVoteBySig(w.pid, 0, w.suite.deployer.address,
                                                               ANY_SIG),
         ("GovernorInvalidSignature",)),
    "MilonGovernor.castVoteWithReasonAndParamsBySig(uint256,uint8,address,string,bytes,bytes)":
        (lambda c, w: w.suite.governor.functions.castVoteWithReasonAndParamsBySig(
            w.pid, 0, w.suite.deployer.address, "no", b"", ANY_SIG),
         ("GovernorInvalidSignature",)),
    "MilonGovernor.relay(address,uint256,bytes)":
        (lambda c, w: w.suite.governor.functions.relay(*_op(w)), ("GovernorOnlyExecutor",)),
    "MilonGovernor.setProposalThreshold(uint256)":
        (lambda c, w: w.suite.governor.functions.setProposalThreshold(MAX),
         ("GovernorOnlyExecutor",)),
    "MilonGovernor.setVotingDelay(uint48)":
        (lambda c, w: w.suite.governor.functions.setVotingDelay(0), ("GovernorOnlyExecutor",)),
    "MilonGovernor.setVotingPeriod(uint32)":
        (lambda c, w: w.suite.governor.functions.setVotingPeriod(1), ("GovernorOnlyExecutor",)),
    "MilonGovernor.updateQuorumNumerator(uint256)":
        (lambda c, w: w.suite.governor.functions.updateQuorumNumerator(0),
         ("GovernorOnlyExecutor",)),
    "MilonGovernor.updateTimelock(address)":
        (lambda c, w: w.suite.governor.functions.updateTimelock(w.attacker.address),
         ("GovernorOnlyExecutor",)),
    # the governor refuses deposits: its executor is the timelock
    "MilonGovernor.onERC721Received(address,address,uint256,bytes)":
        (lambda c, w: w.suite.governor.functions.onERC721Received(
            w.attacker.address, w.attacker.address, 1, b""), ("GovernorDisabledDeposit",)),
    "MilonGovernor.onERC1155Received(address,address,uint256,uint256,bytes)":
        (lambda c, w: w.suite.governor.functions.onERC1155Received(
            w.attacker.address, w.attacker.address, 1, 1, b""), ("GovernorDisabledDeposit",)),
    "MilonGovernor.onERC1155BatchReceived(address,address,uint256[],uint256[],bytes)":
        (lambda c, w: w.suite.governor.functions.onERC1155BatchReceived(
            w.attacker.address, w.attacker.address, [1], [1], b""),
         ("GovernorDisabledDeposit",)),
    "MilonGovernor.receive()": (None, ("GovernorDisabledDeposit",)),
}  # fmt: skip


def external_entry_points() -> set[str]:
    """Contract.signature for every state-changing function, receive and fallback in the ABIs."""
    out = set()
    for name in CONTRACT_NAMES:
        for item in load_artifact(name)["abi"]:
            if item["type"] in ("receive", "fallback"):
                out.add(f"{name}.{item['type']}()")
            elif item["type"] == "function" and item["stateMutability"] not in ("view", "pure"):
                args = ",".join(_type_str(i) for i in item["inputs"])
                out.add(f"{name}.{item['name']}({args})")
    return out


def test_every_external_function_is_classified():
    found = external_entry_points()
    missing = sorted(found - set(SURFACE))
    stale = sorted(set(SURFACE) - found)
    assert not missing, f"new external functions: classify them in SURFACE: {missing}"
    assert not stale, f"SURFACE lists functions the ABIs no longer have: {stale}"


def _value_transfer_revert(client, w: World, to: str) -> ContractRevert | None:
    """Send 1 wei from the attacker to ``to``: the named revert, or None if it went through."""
    try:
        client.w3.eth.call({"from": w.attacker.address, "to": to, "value": 1, "gas": 200_000})
    except Exception as exc:
        rev = revert_from_exception(exc, "receive")
        if rev is None:
            raise
        return rev
    send_value(client, w.attacker, to, 1)
    return None


def test_attacker_calls_every_external_function(client, suite, accounts):
    w = _build_world(client, suite, accounts)
    before, held = _fingerprint(client, w), _holdings(client, w)
    outcomes: dict[str, str] = {}
    for key in sorted(SURFACE):
        build, allowed = SURFACE[key]
        contract = key.split(".")[0]
        snap = client.snapshot()
        try:
            if build is None:  # receive(): a plain value transfer
                target = suite.by_name()[contract].address
                rev = _value_transfer_revert(client, w, target)
            else:
                try:
                    tx(client, build(client, w), w.attacker)
                    rev = None
                except ContractRevert as exc:
                    rev = exc
            if allowed:
                assert rev is not None, f"{key}: succeeded for an unprivileged caller"
                assert rev.error_name in allowed, f"{key}: {rev} (allowed: {allowed})"
                outcomes[key] = rev.error_name
            else:
                assert rev is None, f"{key}: classified harmless but reverted: {rev}"
                after = _fingerprint(client, w)
                changed = sorted(k for k in before if before[k] != after[k])
                assert not changed, f"{key}: changed others' state: {changed}"
                now = _holdings(client, w)
                taken = sorted(k for k in held if now[k] < held[k])
                assert not taken, f"{key}: took from {taken}"
                outcomes[key] = "ok, harmless"
        finally:
            client.revert(snap)
    assert len(outcomes) == len(SURFACE)
    assert _fingerprint(client, w) == before


def test_production_token_has_no_faucet_for_the_attacker(client, accounts):
    prod = deploy_suite(client, accounts[0], dev=False, params=SuiteParams())
    with reverts("FaucetDisabled"):
        tx(client, prod.token.functions.faucet(accounts[7].address, 1), accounts[7])
