"""Governance as a member does it: delegate, propose, vote, queue, execute.

Proposals carry (targets, values, calldatas, description); the same tuple is
needed again to queue and execute, so :class:`ProposalCall` keeps it together.
Parameters live behind the timelock, so an executed proposal is the only way
they change.

Every front-end reads proposals and asks whether a step may be taken
(:meth:`Governance.can_vote`, :meth:`~Governance.can_queue`,
:meth:`~Governance.can_execute`, :meth:`~Governance.can_propose`) here, so
the window and the CLI refuse the same things with the same words.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum
from typing import Any

from eth_account.signers.local import LocalAccount
from web3 import Web3

from milon_app.chain.bindings import Param
from milon_app.chain.deploy import Suite
from milon_app.errors import BadInputError
from milon_app.units import relative, utc


class ProposalState(IntEnum):
    PENDING = 0
    ACTIVE = 1
    CANCELED = 2
    DEFEATED = 3
    SUCCEEDED = 4
    QUEUED = 5
    EXPIRED = 6
    EXECUTED = 7


class Support(IntEnum):
    AGAINST = 0
    FOR = 1
    ABSTAIN = 2


# The registry's parameters: name -> setter function.
REGISTRY_PARAMETERS: dict[str, str] = {
    "min-stake-floor": "setMinStakeFloor",
    "slash-bps": "setSlashBps",
    "leave-cooldown": "setLeaveCooldown",
    "max-members": "setMaxMembers",
    "gov-slash-cap-bps": "setGovSlashCapBps",
}
# TrainingJobs' parameters, all set through ``setParam(id, value)``: name -> id.
JOBS_PARAMETERS: dict[str, Param] = {p.name.lower().replace("_", "-"): p for p in Param}
# Every parameter a proposal may change, with what it means (the CLI and the window list them).
PARAMETERS: dict[str, str] = {
    "min-stake-floor": "smallest minimum stake a new federation may set (MILON)",
    "slash-bps": "share of stake slashed for a rejected update or a no-show (basis points)",
    "leave-cooldown": "seconds from a leave request to a withdrawable stake",
    "max-members": "most members a federation may hold",
    "gov-slash-cap-bps": "most of a stake one governance slash may take (basis points)",
    "accept-window": "seconds members have to accept or decline a round's epochs",
    "reveal-window": "seconds to reveal a committed update",
    "verdict-window": "seconds the committee has to submit its verdicts",
    "confirm-window": "seconds the committee has to confirm the aggregated model",
    "max-epochs-per-round": "most epochs a job may put in one round",
    "max-round-members": "most members one round splits epochs over",
    "committee-min": "smallest validator committee a job may ask for",
    "committee-default": "committee size of a job that does not choose one",
    "committee-max": "largest validator committee a job may ask for",
    "participation-bps": "committee weight that must vote for verdicts to count (basis points)",
    "majority-bps": "share of the voted weight an update needs, strictly more (basis points)",
    "confirm-bps": "committee weight confirming one model that finalizes a round (basis points)",
    "validator-share-bps": "validators' share of each accepted epoch's reward (basis points)",
    "agreement-bps": "agreement with the majority a validator needs to be paid (basis points)",
    "lapse-bps": "penalty for letting an assignment lapse unanswered (basis points of stake)",
    "liveness-bps": "penalty for a committee member that does not vote (basis points of stake)",
    "max-share-bps": "largest share of a round's epochs one member may get (basis points)",
    "max-share-of-equal-bps": "largest multiple of the equal share one member may get (bps)",
    "min-improvement-bps": "improvement an update needs, share of the round's median (bps)",
    "sample-clip-bps": "sample-count clip in aggregation weights, multiple of the median (bps)",
}
assert set(PARAMETERS) == set(REGISTRY_PARAMETERS) | set(JOBS_PARAMETERS)


@dataclass(frozen=True)
class ProposalCall:
    targets: list[str]
    values: list[int]
    calldatas: list[bytes]
    description: str

    @property
    def description_hash(self) -> bytes:
        return bytes(Web3.keccak(text=self.description))

    def args(self) -> tuple[Any, ...]:
        return (self.targets, self.values, self.calldatas)


@dataclass(frozen=True)
class Check:
    """Whether a governance step may be taken now, and if not, why not (plain words)."""

    state: ProposalState | None  # the proposal's state; None for a proposal not yet made
    why_not: str = ""

    @property
    def ok(self) -> bool:
        return not self.why_not

    def require(self) -> None:
        """Raise :class:`BadInputError` with the reason when the step may not be taken."""
        if self.why_not:
            raise BadInputError(self.why_not)


@dataclass(frozen=True)
class Tally:
    against: int
    for_: int
    abstain: int


class Governance:
    def __init__(self, suite: Suite) -> None:
        self.suite = suite
        self.client = suite.client
        self.gov = suite.governor

    # -- building proposals ---------------------------------------------------------------
    def set_parameter(self, name: str, value: int, description: str = "") -> ProposalCall:
        if name not in PARAMETERS:
            raise BadInputError(
                f"unknown parameter {name!r}: expected one of {', '.join(sorted(PARAMETERS))}"
            )
        if name in REGISTRY_PARAMETERS:
            contract = self.suite.registry
            data = contract.encode_abi(REGISTRY_PARAMETERS[name], args=[value])
        else:
            contract = self.suite.jobs
            data = contract.encode_abi("setParam", args=[int(JOBS_PARAMETERS[name]), value])
        text = description or f"Set {name} to {value}"
        return ProposalCall([contract.address], [0], [bytes.fromhex(data[2:])], text)

    def admit_member(self, fed_id: int, account: str, description: str = "") -> ProposalCall:
        reg = self.suite.registry
        data = reg.encode_abi("admitMember", args=[fed_id, account])
        text = description or f"Admit {account} to federation {fed_id}"
        return ProposalCall([reg.address], [0], [bytes.fromhex(data[2:])], text)

    def slash_member(
        self, fed_id: int, account: str, amount: int, reason: str, description: str = ""
    ) -> ProposalCall:
        """Slash a member for a stated cause; the registry caps it (``gov-slash-cap-bps``)."""
        if not reason or len(reason.encode()) > 32:
            raise BadInputError("a governance slash needs a reason of 1 to 32 bytes")
        reg = self.suite.registry
        why = reason.encode().ljust(32, b"\0")
        data = reg.encode_abi("slash", args=[fed_id, account, amount, why])
        text = description or f"Slash {account} in federation {fed_id}: {reason}"
        return ProposalCall([reg.address], [0], [bytes.fromhex(data[2:])], text)

    def remove_member(self, fed_id: int, account: str, description: str = "") -> ProposalCall:
        reg = self.suite.registry
        data = reg.encode_abi("removeMember", args=[fed_id, account])
        text = description or f"Remove {account} from federation {fed_id}"
        return ProposalCall([reg.address], [0], [bytes.fromhex(data[2:])], text)

    def approve_release(
        self, job_id: int, model_hash: bytes, uri: str, description: str = ""
    ) -> ProposalCall:
        models = self.suite.models
        data = models.encode_abi("recordRelease", args=[job_id, model_hash, uri])
        text = description or f"Approve the model of job {job_id} ({model_hash.hex()[:12]})"
        return ProposalCall([models.address], [0], [bytes.fromhex(data[2:])], text)

    # -- lifecycle ------------------------------------------------------------------------
    def delegate(self, sender: LocalAccount, to: str | None = None) -> None:
        self.client.transact(self.suite.token.functions.delegate(to or sender.address), sender)

    def proposal_id(self, call: ProposalCall) -> int:
        fn = self.gov.functions.hashProposal(*call.args(), call.description_hash)
        return int(self.client.call(fn))

    def propose(self, sender: LocalAccount, call: ProposalCall) -> int:
        fn = self.gov.functions.propose(*call.args(), call.description)
        self.client.transact(fn, sender)
        return self.proposal_id(call)

    def vote(
        self, sender: LocalAccount, proposal_id: int, support: Support, reason: str = ""
    ) -> None:
        fn = self.gov.functions.castVoteWithReason(proposal_id, int(support), reason)
        self.client.transact(fn, sender)

    def queue(self, sender: LocalAccount, call: ProposalCall) -> None:
        self.client.transact(self.gov.functions.queue(*call.args(), call.description_hash), sender)

    def execute(self, sender: LocalAccount, call: ProposalCall) -> None:
        fn = self.gov.functions.execute(*call.args(), call.description_hash)
        self.client.transact(fn, sender)

    # -- reading --------------------------------------------------------------------------
    def state(self, proposal_id: int) -> ProposalState:
        return ProposalState(self.client.call(self.gov.functions.state(proposal_id)))

    def tally(self, proposal_id: int) -> Tally:
        against, for_, abstain = self.client.call(self.gov.functions.proposalVotes(proposal_id))
        return Tally(int(against), int(for_), int(abstain))

    def voting_delay(self) -> int:
        return int(self.client.call(self.gov.functions.votingDelay()))

    def voting_period(self) -> int:
        return int(self.client.call(self.gov.functions.votingPeriod()))

    def timelock_delay(self) -> int:
        return int(self.client.call(self.suite.timelock.functions.getMinDelay()))

    def votes(self, who: str) -> int:
        """Voting power now (tokens delegated to ``who``)."""
        return int(self.client.call(self.suite.token.functions.getVotes(who)))

    def votes_at(self, who: str, block: int) -> int:
        """Voting power at ``block`` (a proposal's snapshot): what a vote on it weighs."""
        return int(self.client.call(self.gov.functions.getVotes(who, block)))

    def delegate_of(self, who: str) -> str | None:
        """Whom ``who`` delegated its token votes to; None when to nobody."""
        to = str(self.client.call(self.suite.token.functions.delegates(who)))
        return None if int(to, 16) == 0 else to

    def has_voted(self, proposal_id: int, who: str) -> bool:
        return bool(self.client.call(self.gov.functions.hasVoted(proposal_id, who)))

    def snapshot(self, proposal_id: int) -> int:
        """The proposal's snapshot block (voting opens after it); 0 when there is no such one."""
        return int(self.client.call(self.gov.functions.proposalSnapshot(proposal_id)))

    def deadline(self, proposal_id: int) -> int:
        """The last block of voting on the proposal."""
        return int(self.client.call(self.gov.functions.proposalDeadline(proposal_id)))

    def eta(self, proposal_id: int) -> int:
        """Chain time from which a queued proposal may be executed; 0 unless queued."""
        return int(self.client.call(self.gov.functions.proposalEta(proposal_id)))

    def quorum(self, block: int) -> int:
        """Votes (for + abstain) a proposal with its snapshot at ``block`` needs."""
        return int(self.client.call(self.gov.functions.quorum(block)))

    # -- checks: may this be done now, and if not, why not --------------------------------
    # ``name`` is how a message names the proposal (default: ``proposal <id>``).
    def can_propose(self, call: ProposalCall) -> Check:
        """A call and description already proposed cannot be proposed again."""
        pid = self.proposal_id(call)
        if self.snapshot(pid):
            return Check(self.state(pid), f"an identical proposal already exists (id {pid}): "
                         "change the description to propose the same action again")
        return Check(None)

    def can_vote(
        self, proposal_id: int, voter: str | None, *, name: str = "", voter_name: str = ""
    ) -> Check:
        """Voting is open and ``voter`` (named ``voter_name`` in the message) has not voted.

        With ``voter`` None, only whether voting is open.
        """
        name = name or f"proposal {proposal_id}"
        state = self.state(proposal_id)
        if state is ProposalState.PENDING:
            start, block = self.snapshot(proposal_id), self.client.block_number()
            return Check(state, f"voting on {name} opens after block {start} (now {block})")
        if state is not ProposalState.ACTIVE:
            return Check(state, f"{name} is {state.name.lower()}: voting is closed")
        if voter is not None and self.has_voted(proposal_id, voter):
            return Check(state, f"{voter_name or voter} already voted on {name}")
        return Check(state)

    def can_queue(self, proposal_id: int, *, name: str = "") -> Check:
        """Only a succeeded proposal can be queued in the timelock."""
        name = name or f"proposal {proposal_id}"
        state = self.state(proposal_id)
        if state is not ProposalState.SUCCEEDED:
            return Check(state, f"{name} is {state.name.lower()}; only a succeeded proposal "
                         "can be queued")
        return Check(state)

    def can_execute(self, proposal_id: int, *, name: str = "") -> Check:
        """Only a queued proposal whose timelock delay has passed (chain time) can be executed."""
        name = name or f"proposal {proposal_id}"
        state = self.state(proposal_id)
        if state is not ProposalState.QUEUED:
            first = " (queue it first)" if state is ProposalState.SUCCEEDED else ""
            return Check(state, f"{name} is {state.name.lower()}; only a queued proposal can be "
                         f"executed{first}")
        eta, now = self.eta(proposal_id), self.client.now()
        if now < eta:
            return Check(state, f"{name} is in the timelock until {utc(eta)} "
                         f"({relative(eta, now)}, chain time)")
        return Check(state)

    # -- dev chains: push a proposal through in one go ------------------------------------
    def pass_proposal(
        self, proposer: LocalAccount, voters: list[LocalAccount], call: ProposalCall
    ) -> tuple[int, ProposalState]:
        """Propose, vote FOR with every voter, wait out the periods, queue and execute.

        Only for dev chains (embedded or anvil), where blocks and time can be advanced.
        """
        if not self.client.is_dev:
            raise BadInputError("pass_proposal advances chain time: dev chains only")
        pid = self.propose(proposer, call)
        self.client.mine(self.voting_delay() + 1)
        for v in voters:
            self.vote(v, pid, Support.FOR, "demo")
        self.client.mine(self.voting_period() + 1)
        if self.state(pid) is not ProposalState.SUCCEEDED:
            return pid, self.state(pid)
        self.queue(proposer, call)
        self.client.increase_time(self.timelock_delay() + 1)
        self.execute(proposer, call)
        return pid, self.state(pid)
