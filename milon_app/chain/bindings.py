"""Typed Python bindings for the contract functions the app uses.

The node core and front-ends call these instead of raw web3 functions, so
struct fields have names and types, hashes are ``bytes``, and a contract
change shows up as a type error or one failing test here.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass
from enum import IntEnum
from typing import Any, TypeVar

from eth_account.signers.local import LocalAccount
from web3 import Web3
from web3.types import TxReceipt

from milon_app.chain.deploy import Suite

T = TypeVar("T")


class Admission(IntEnum):
    OPEN = 0
    GOVERNANCE = 1


class AggregationRule(IntEnum):
    FEDAVG = 0
    MEDIAN = 1
    TRIMMED_MEAN = 2
    KRUM = 3
    MULTI_KRUM = 4


class JobStatus(IntEnum):
    OPEN = 0
    COMPLETED = 1
    CANCELLED = 2


class AssignmentState(IntEnum):
    NONE = 0
    ASSIGNED = 1
    ACCEPTED = 2
    DECLINED = 3
    COMMITTED = 4
    REVEALED = 5


@dataclass(frozen=True)
class Federation:
    name: str
    metadata_hash: bytes
    min_stake: int
    admission: Admission
    creator: str
    member_count: int
    total_capacity: int


@dataclass(frozen=True)
class Member:
    stake: int
    capacity: int
    peer_info: str
    joined_at: int
    leave_requested_at: int
    active: bool
    admitted: bool


@dataclass(frozen=True)
class JobParams:
    fed_id: int
    model_spec_hash: bytes
    dataset_spec_hash: bytes
    initial_model_hash: bytes
    total_epochs: int
    epochs_per_round: int
    reward_per_epoch: int
    aggregation_rule: AggregationRule
    validator_quorum: int
    round_duration: int

    def as_tuple(self) -> tuple[Any, ...]:
        return tuple(getattr(self, f.name) for f in dataclasses.fields(self))

    @property
    def escrow(self) -> int:
        return self.total_epochs * self.reward_per_epoch


@dataclass(frozen=True)
class Job:
    owner: str
    params: JobParams
    global_model_hash: bytes
    current_round: int
    epochs_done: int
    escrow_remaining: int
    status: JobStatus
    final_model_hash: bytes


@dataclass(frozen=True)
class Round:
    epochs: int
    epochs_trained: int
    member_count: int
    assigned_count: int
    accepted_count: int
    committed_count: int
    revealed_count: int
    started_at: int
    accept_deadline: int
    commit_deadline: int
    reveal_deadline: int
    proposal_deadline: int
    base_model_hash: bytes
    new_model_hash: bytes
    finalized: bool
    timed_out: bool


@dataclass(frozen=True)
class Assignment:
    epochs: int
    capacity: int
    state: AssignmentState
    num_samples: int
    commitment: bytes
    update_hash: bytes


@dataclass(frozen=True)
class Release:
    job_id: int
    model_hash: bytes
    uri: str
    recorded_at: int


def _snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def _build(cls: type[T], value: Any) -> T:
    """A dataclass from a web3 struct tuple, field by field in ABI order."""
    kwargs: dict[str, Any] = {}
    for fld, item in zip(dataclasses.fields(cls), value, strict=True):  # type: ignore[arg-type]
        tp = fld.type if not isinstance(fld.type, str) else _TYPES.get(fld.type)
        if tp is not None and dataclasses.is_dataclass(tp):
            item = _build(tp, item)
        elif isinstance(tp, type) and issubclass(tp, IntEnum):
            item = tp(item)
        elif isinstance(item, (bytes, bytearray)):
            item = bytes(item)
        kwargs[fld.name] = item
    return cls(**kwargs)


_TYPES: dict[str, Any] = {
    "JobParams": JobParams,
    "Admission": Admission,
    "AggregationRule": AggregationRule,
    "JobStatus": JobStatus,
    "AssignmentState": AssignmentState,
}


# Finalizing a round: ~341k gas at 4 members, +~36k per member (tests/bench/gas_report.py),
# with headroom for quorums above 1 and for slashing paths.
FINALIZE_GAS_BASE = 400_000
FINALIZE_GAS_PER_MEMBER = 60_000


class Milon:
    """The protocol as method calls; every write takes the signing account explicitly."""

    def __init__(self, suite: Suite) -> None:
        self.suite = suite
        self.client = suite.client

    def _tx(self, fn: Any, sender: LocalAccount) -> TxReceipt:
        return self.client.transact(fn, sender)

    def _call(self, fn: Any) -> Any:
        return self.client.call(fn)

    # -- token ------------------------------------------------------------------------------
    def balance(self, who: str) -> int:
        return int(self._call(self.suite.token.functions.balanceOf(who)))

    def approve(self, sender: LocalAccount, spender: str, amount: int) -> TxReceipt:
        return self._tx(self.suite.token.functions.approve(spender, amount), sender)

    def transfer(self, sender: LocalAccount, to: str, amount: int) -> TxReceipt:
        return self._tx(self.suite.token.functions.transfer(to, amount), sender)

    def delegate(self, sender: LocalAccount, to: str) -> TxReceipt:
        return self._tx(self.suite.token.functions.delegate(to), sender)

    def votes(self, who: str) -> int:
        return int(self._call(self.suite.token.functions.getVotes(who)))

    # -- federations ------------------------------------------------------------------------
    def create_federation(
        self,
        sender: LocalAccount,
        name: str,
        metadata_hash: bytes,
        min_stake: int,
        admission: Admission = Admission.OPEN,
    ) -> int:
        reg = self.suite.registry
        self._tx(
            reg.functions.createFederation(name, metadata_hash, min_stake, int(admission)), sender
        )
        return int(self._call(reg.functions.federationCount()))

    def federation(self, fed_id: int) -> Federation:
        return _build(Federation, self._call(self.suite.registry.functions.federation(fed_id)))

    def federation_count(self) -> int:
        return int(self._call(self.suite.registry.functions.federationCount()))

    def join(
        self, sender: LocalAccount, fed_id: int, stake: int, capacity: int, peer_info: str
    ) -> TxReceipt:
        """Approve the stake and join in one call (two transactions)."""
        self.approve(sender, self.suite.registry.address, stake)
        fn = self.suite.registry.functions.join(fed_id, stake, capacity, peer_info)
        return self._tx(fn, sender)

    def update_member(
        self, sender: LocalAccount, fed_id: int, capacity: int, peer_info: str
    ) -> TxReceipt:
        fn = self.suite.registry.functions.updateMember(fed_id, capacity, peer_info)
        return self._tx(fn, sender)

    def request_leave(self, sender: LocalAccount, fed_id: int) -> TxReceipt:
        return self._tx(self.suite.registry.functions.requestLeave(fed_id), sender)

    def withdraw_stake(self, sender: LocalAccount, fed_id: int) -> TxReceipt:
        return self._tx(self.suite.registry.functions.withdrawStake(fed_id), sender)

    def member(self, fed_id: int, who: str) -> Member:
        return _build(Member, self._call(self.suite.registry.functions.member(fed_id, who)))

    def members(self, fed_id: int) -> list[str]:
        return list(self._call(self.suite.registry.functions.members(fed_id)))

    def active_members(self, fed_id: int) -> list[str]:
        return list(self._call(self.suite.registry.functions.activeMembers(fed_id)))

    # -- jobs -------------------------------------------------------------------------------
    def create_job(self, sender: LocalAccount, params: JobParams) -> int:
        self.approve(sender, self.suite.jobs.address, params.escrow)
        self._tx(self.suite.jobs.functions.createJob(params.as_tuple()), sender)
        return int(self._call(self.suite.jobs.functions.jobCount()))

    def job(self, job_id: int) -> Job:
        return _build(Job, self._call(self.suite.jobs.functions.job(job_id)))

    def job_count(self) -> int:
        return int(self._call(self.suite.jobs.functions.jobCount()))

    def start_round(self, sender: LocalAccount, job_id: int) -> int:
        self._tx(self.suite.jobs.functions.startRound(job_id), sender)
        return self.job(job_id).current_round

    def round(self, job_id: int, r: int) -> Round:
        return _build(Round, self._call(self.suite.jobs.functions.round(job_id, r)))

    def round_members(self, job_id: int, r: int) -> list[str]:
        return list(self._call(self.suite.jobs.functions.roundMembers(job_id, r)))

    def assignment(self, job_id: int, r: int, who: str) -> Assignment:
        fn = self.suite.jobs.functions.assignment(job_id, r, who)
        return _build(Assignment, self._call(fn))

    def accept(self, sender: LocalAccount, job_id: int, r: int) -> TxReceipt:
        return self._tx(self.suite.jobs.functions.accept(job_id, r), sender)

    def decline(self, sender: LocalAccount, job_id: int, r: int) -> TxReceipt:
        return self._tx(self.suite.jobs.functions.decline(job_id, r), sender)

    @staticmethod
    def commitment(
        update_hash: bytes, num_samples: int, salt: bytes, member: str, job_id: int, r: int
    ) -> bytes:
        """keccak256(abi.encode(...)) exactly as the contract computes it (checked by a test)."""
        from eth_abi.abi import encode

        data = encode(
            ["bytes32", "uint64", "bytes32", "address", "uint256", "uint256"],
            [update_hash, num_samples, salt, member, job_id, r],
        )
        return bytes(Web3.keccak(data))

    def commit(self, sender: LocalAccount, job_id: int, r: int, commitment: bytes) -> TxReceipt:
        return self._tx(self.suite.jobs.functions.commit(job_id, r, commitment), sender)

    def reveal(
        self,
        sender: LocalAccount,
        job_id: int,
        r: int,
        update_hash: bytes,
        num_samples: int,
        salt: bytes,
    ) -> TxReceipt:
        fn = self.suite.jobs.functions.reveal(job_id, r, update_hash, num_samples, salt)
        return self._tx(fn, sender)

    def propose(
        self,
        sender: LocalAccount,
        job_id: int,
        r: int,
        model_hash: bytes,
        accepted: list[str],
        members: int = 0,
    ) -> TxReceipt:
        """Vote for a round's outcome, with gas for finalizing it.

        The estimate is taken as a plain vote; if another validator's vote lands
        first, this one reaches the quorum and pays for finalization (rewards and
        slashing for each of the round's ``members``), which costs more.
        """
        ordered = sorted(accepted, key=lambda a: int(a, 16))  # the contract wants ascending
        fn = self.suite.jobs.functions.propose(job_id, r, model_hash, ordered)
        floor = FINALIZE_GAS_BASE + FINALIZE_GAS_PER_MEMBER * max(members, len(ordered))
        return self.client.transact(fn, sender, min_gas=floor)

    def has_proposed(self, job_id: int, r: int, validator: str) -> bool:
        return bool(self._call(self.suite.jobs.functions.hasProposed(job_id, r, validator)))

    def timeout_round(self, sender: LocalAccount, job_id: int) -> TxReceipt:
        return self._tx(self.suite.jobs.functions.timeoutRound(job_id), sender)

    def cancel_job(self, sender: LocalAccount, job_id: int) -> TxReceipt:
        return self._tx(self.suite.jobs.functions.cancelJob(job_id), sender)

    def claimable(self, who: str) -> int:
        return int(self._call(self.suite.jobs.functions.claimable(who)))

    def claim(self, sender: LocalAccount) -> TxReceipt:
        return self._tx(self.suite.jobs.functions.claim(), sender)

    def pending_work(self, fed_id: int, who: str) -> int:
        return int(self._call(self.suite.jobs.functions.pendingWork(fed_id, who)))

    # -- releases ---------------------------------------------------------------------------
    def release(self, release_id: int) -> Release:
        return _build(Release, self._call(self.suite.models.functions.release(release_id)))

    def release_count(self) -> int:
        return int(self._call(self.suite.models.functions.releaseCount()))
