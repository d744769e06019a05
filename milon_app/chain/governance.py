"""Governance as a member does it: delegate, propose, vote, queue, execute.

Proposals carry (targets, values, calldatas, description); the same tuple is
needed again to queue and execute, so :class:`ProposalCall` keeps it together.
Parameters live behind the timelock, so an executed proposal is the only way
they change.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum
from typing import Any

from eth_account.signers.local import LocalAccount
from web3 import Web3

from milon_app.chain.client import EMBEDDED
from milon_app.chain.deploy import Suite
from milon_app.errors import BadInputError


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


# name -> (contract attribute on Suite, setter function)
PARAMETERS: dict[str, tuple[str, str]] = {
    "min-stake-floor": ("registry", "setMinStakeFloor"),
    "slash-bps": ("registry", "setSlashBps"),
    "leave-cooldown": ("registry", "setLeaveCooldown"),
    "max-members": ("registry", "setMaxMembers"),
    "accept-window": ("jobs", "setAcceptWindow"),
    "reveal-window": ("jobs", "setRevealWindow"),
    "proposal-window": ("jobs", "setProposalWindow"),
    "max-epochs-per-round": ("jobs", "setMaxEpochsPerRound"),
    "max-round-members": ("jobs", "setMaxRoundMembers"),
}


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
        attr, fn = PARAMETERS[name]
        contract = getattr(self.suite, attr)
        data = contract.encode_abi(fn, args=[value])
        text = description or f"Set {name} to {value}"
        return ProposalCall([contract.address], [0], [bytes.fromhex(data[2:])], text)

    def admit_member(self, fed_id: int, account: str, description: str = "") -> ProposalCall:
        reg = self.suite.registry
        data = reg.encode_abi("admitMember", args=[fed_id, account])
        text = description or f"Admit {account} to federation {fed_id}"
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
        return int(self.client.call(self.suite.token.functions.getVotes(who)))

    # -- dev chains: push a proposal through in one go ------------------------------------
    def pass_proposal(
        self, proposer: LocalAccount, voters: list[LocalAccount], call: ProposalCall
    ) -> tuple[int, ProposalState]:
        """Propose, vote FOR with every voter, wait out the periods, queue and execute.

        Only for dev chains (embedded or anvil), where blocks and time can be advanced.
        """
        if self.client.kind != EMBEDDED and self.client.chain_id != 31337:
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
