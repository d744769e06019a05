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
from milon_app.chain.past_assignments import RevealedHashes, rebuild

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
    LAPSED = 6


class Param(IntEnum):
    """TrainingJobs' governed parameters, by the id ``setParam`` takes."""

    ACCEPT_WINDOW = 0
    REVEAL_WINDOW = 1
    VERDICT_WINDOW = 2
    CONFIRM_WINDOW = 3
    MAX_EPOCHS_PER_ROUND = 4
    MAX_ROUND_MEMBERS = 5
    COMMITTEE_MIN = 6
    COMMITTEE_DEFAULT = 7
    COMMITTEE_MAX = 8
    PARTICIPATION_BPS = 9
    MAJORITY_BPS = 10
    CONFIRM_BPS = 11
    VALIDATOR_SHARE_BPS = 12
    AGREEMENT_BPS = 13
    LAPSE_BPS = 14
    LIVENESS_BPS = 15
    MAX_SHARE_BPS = 16
    MAX_SHARE_OF_EQUAL_BPS = 17
    MIN_IMPROVEMENT_BPS = 18
    SAMPLE_CLIP_BPS = 19


# committee-min, committee-default, committee-max as TrainingJobs is deployed (its constructor);
# governance may move them within their hard bounds, so a running chain is read, not assumed
DEPLOYED_COMMITTEE = (3, 7, 31)


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
    withdrawable_at: int  # fixed when the leave was requested
    active: bool  # eligible for work and committee seats
    admitted: bool
    suspended: bool  # slashed below the federation's minimum; topping up reinstates it


@dataclass(frozen=True)
class Candidate:
    """An active member as a job's split sees it: the capacity is the one it declared for the
    job's model where it did, else its general one (``per_model`` says which)."""

    address: str
    capacity: int
    stake: int
    per_model: bool = False


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
    committee_size: int  # 0: the governed default
    round_duration: int
    max_samples: int = 0  # bound on an update's sample count in aggregation weights (0: none)

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
    share_cap: int
    member_count: int
    assigned_count: int
    accepted_count: int
    committed_count: int
    revealed_count: int
    committee_count: int
    voted_count: int
    started_at: int
    accept_deadline: int
    commit_deadline: int
    reveal_deadline: int
    verdict_deadline: int
    confirm_deadline: int
    committee_weight: int
    voted_weight: int
    revealed_bits: int
    accepted_bits: int
    rejected_bits: int
    base_model_hash: bytes
    new_model_hash: bytes
    tallied: bool
    finalized: bool
    timed_out: bool

    @property
    def closed(self) -> bool:
        return self.finalized or self.timed_out


@dataclass(frozen=True)
class Assignment:
    epochs: int
    index: int  # position in the round's member list: its bit in verdict bitmaps
    weight: int  # effective capacity the split used (declared x delivery record); 0 once committed
    state: AssignmentState
    num_samples: int
    commitment: bytes
    update_hash: bytes


@dataclass(frozen=True)
class Seat:
    """A member's place on a round's committee (index 0: not on it)."""

    index: int
    voted: bool
    confirmed: bool
    weight: int
    verdict: int
    confirmed_hash: bytes

    @property
    def seated(self) -> bool:
        return self.index > 0


@dataclass(frozen=True)
class ProtocolParams:
    """Every governed TrainingJobs parameter, read in one call."""

    values: tuple[int, ...]

    def __getitem__(self, p: Param) -> int:
        return self.values[int(p)]


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
    "Seat": Seat,
    "JobParams": JobParams,
    "Admission": Admission,
    "AggregationRule": AggregationRule,
    "JobStatus": JobStatus,
    "AssignmentState": AssignmentState,
}


# The vote or confirmation that completes a round settles it (credits, slashes, the committee's
# pay), and so may closeAcceptance and timeoutRound: the gas of such a call depends on which
# lands last, so every one carries a floor that covers settling. The worst case is a round whose
# every update is rejected (one registry slash per member) or whose assignments all lapse:
# measured ~176k + 76k per round member (~100k when each slash also suspends the member) + 8k per
# committee seat + 600 per member x seat (tests/unit/chain/test_settle_gas.py checks the floor
# covers it; tests/bench/gas_report.py measures the ordinary round).
# Without the committee's size, the floor assumes the largest committee governance may allow.
SETTLE_GAS_BASE = 400_000
SETTLE_GAS_PER_MEMBER = 110_000
SETTLE_GAS_PER_SEAT = 12_000
SETTLE_GAS_PER_MEMBER_SEAT = 800
MAX_COMMITTEE = 64  # TrainingJobs.paramBounds(committee-max).max
SETTLE_GAS_CAP = 29_000_000  # under a 30M block gas limit: a larger limit would not be mined


# startRound's gas depends on the committee it draws, so on the block it lands in: estimated
# against one block and mined in the next, it may seat more distinct members than the estimate
# saw (each seat costs storage). Its floor covers every member of the round getting work and
# every seat going to a different member (tests/unit/chain/test_settle_gas.py).
START_GAS_BASE = 300_000
START_GAS_PER_MEMBER = 170_000
START_GAS_PER_SEAT = 100_000


def _start_gas(members: int, seats: int) -> int:
    gas = START_GAS_BASE + START_GAS_PER_MEMBER * max(members, 1) + START_GAS_PER_SEAT * seats
    return min(gas, SETTLE_GAS_CAP)


def _settle_gas(members: int, committee: int | None = None) -> int:
    m = max(members, 1)
    k = MAX_COMMITTEE if committee is None else max(committee, 0)
    gas = (
        SETTLE_GAS_BASE
        + SETTLE_GAS_PER_MEMBER * m
        + SETTLE_GAS_PER_SEAT * k
        + SETTLE_GAS_PER_MEMBER_SEAT * m * k
    )
    return min(gas, SETTLE_GAS_CAP)


class Milon:
    """The protocol as method calls; every write takes the signing account explicitly."""

    def __init__(self, suite: Suite) -> None:
        self.suite = suite
        self.client = suite.client
        self._revealed = RevealedHashes()

    def _tx(self, fn: Any, sender: LocalAccount) -> TxReceipt:
        return self.client.transact(fn, sender)

    def _call(self, fn: Any, block: int | str = "latest") -> Any:
        return self.client.call(fn, block)

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

    def set_model_capacity(
        self, sender: LocalAccount, fed_id: int, model_spec_hash: bytes, capacity: int
    ) -> TxReceipt:
        """Declare the capacity measured on a job model (0 withdraws it): every job of the
        federation whose ``model_spec_hash`` it is splits its epochs by it."""
        fn = self.suite.registry.functions.setModelCapacity(fed_id, model_spec_hash, capacity)
        return self._tx(fn, sender)

    def model_capacity(self, fed_id: int, who: str, model_spec_hash: bytes) -> int:
        """The capacity ``who`` declared for a job model (0: none, its general one applies)."""
        fn = self.suite.registry.functions.modelCapacity(fed_id, who, model_spec_hash)
        return int(self._call(fn))

    def round_candidates(
        self, fed_id: int, model_spec_hash: bytes = bytes(32), limit: int | None = None
    ) -> list[Candidate]:
        """The active members a round of a job with this model would split over, in join
        order, with the capacity the split reads (at most ``limit``; None: max-round-members)."""
        if limit is None:
            limit = self.params()[Param.MAX_ROUND_MEMBERS]
        fn = self.suite.registry.functions.roundCandidates(fed_id, model_spec_hash, limit)
        accounts, caps, stakes = self._call(fn)
        keyed = any(model_spec_hash)
        return [
            Candidate(
                address=str(a),
                capacity=int(c),
                stake=int(st),
                per_model=keyed and self.model_capacity(fed_id, a, model_spec_hash) != 0,
            )
            for a, c, st in zip(accounts, caps, stakes, strict=True)
        ]

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

    def job(self, job_id: int, block: int | str = "latest") -> Job:
        return _build(Job, self._call(self.suite.jobs.functions.job(job_id), block))

    def job_count(self) -> int:
        return int(self._call(self.suite.jobs.functions.jobCount()))

    def start_round(self, sender: LocalAccount, job_id: int) -> int:
        """Open the job's next round, with a gas floor for the largest committee it may draw."""
        job = self.job(job_id)
        p = self.params()
        members = min(self.federation(job.params.fed_id).member_count, p[Param.MAX_ROUND_MEMBERS])
        k = job.params.committee_size or p[Param.COMMITTEE_DEFAULT]
        k = min(max(k, p[Param.COMMITTEE_MIN]), p[Param.COMMITTEE_MAX])
        fn = self.suite.jobs.functions.startRound(job_id)
        self.client.transact(fn, sender, min_gas=_start_gas(members, min(members, k)))
        return self.job(job_id).current_round

    def round(self, job_id: int, r: int, block: int | str = "latest") -> Round:
        """Round ``r`` of a job; ``block``: as of that block (a confirmed read)."""
        return _build(Round, self._call(self.suite.jobs.functions.round(job_id, r), block))

    def round_members(self, job_id: int, r: int) -> list[str]:
        return list(self._call(self.suite.jobs.functions.roundMembers(job_id, r)))

    def assignment(self, job_id: int, r: int, who: str, block: int | str = "latest") -> Assignment:
        """``who``'s assignment in round ``r``. The contract keeps one record per job and member,
        which the member's next round overwrites: an earlier round's is rebuilt from its events
        (a log query: for displays; the privacy accounting reads :meth:`taken_before`)."""
        fn = self.suite.jobs.functions.assignment(job_id, r, who)
        a = _build(Assignment, self._call(fn, block))
        if a.state is not AssignmentState.NONE or r >= self.job(job_id, block).current_round:
            return a
        return rebuild(self, job_id, r, who, block)

    def revealed_before(self, job_id: int, r: int) -> set[bytes]:
        """Update hashes revealed in the job's rounds before ``r`` (a judge's replay check: the
        contract does not refuse them), from the events, read once and then incrementally."""
        return self._revealed.before(self, job_id, r)

    def taken_before(self, job_id: int, r: int, who: str) -> tuple[int, int]:
        """Rounds of the job before ``r`` that ``who`` took on (accepted, committed or revealed)
        and their epochs, from the running totals in its assignment record (one call)."""
        fn = self.suite.jobs.functions.takenBefore(job_id, r, who)
        rounds, epochs = self._call(fn)
        return int(rounds), int(epochs)

    def accept(self, sender: LocalAccount, job_id: int, r: int) -> TxReceipt:
        return self._tx(self.suite.jobs.functions.accept(job_id, r), sender)

    def decline(self, sender: LocalAccount, job_id: int, r: int) -> TxReceipt:
        return self._tx(self.suite.jobs.functions.decline(job_id, r), sender)

    def close_acceptance(
        self, sender: LocalAccount, job_id: int, members: int, committee: int | None = None
    ) -> TxReceipt:
        """Lapse the members that never answered and re-split their epochs."""
        fn = self.suite.jobs.functions.closeAcceptance(job_id)
        return self.client.transact(fn, sender, min_gas=_settle_gas(members, committee))

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

    # -- committee ----------------------------------------------------------------------------
    def committee(self, job_id: int, r: int) -> list[str]:
        return list(self._call(self.suite.jobs.functions.committee(job_id, r)))

    def seat(self, job_id: int, r: int, who: str) -> Seat:
        return _build(Seat, self._call(self.suite.jobs.functions.seat(job_id, r, who)))

    def submit_verdict(
        self,
        sender: LocalAccount,
        job_id: int,
        r: int,
        accept_bits: int,
        reasons: bytes,
        members: int,
        committee: int | None = None,
    ) -> TxReceipt:
        """One verdict over every revealed update: bit i accepts round member i's update;
        ``reasons`` has one code per round member. The last vote tallies and may settle.
        ``members``/``committee``: the round's member and committee counts (the gas floor)."""
        fn = self.suite.jobs.functions.submitVerdict(job_id, r, accept_bits, reasons)
        return self.client.transact(fn, sender, min_gas=_settle_gas(members, committee))

    def close_verdicts(
        self, sender: LocalAccount, job_id: int, members: int, committee: int | None = None
    ) -> TxReceipt:
        fn = self.suite.jobs.functions.closeVerdicts(job_id)
        return self.client.transact(fn, sender, min_gas=_settle_gas(members, committee))

    def confirm(
        self,
        sender: LocalAccount,
        job_id: int,
        r: int,
        model_hash: bytes,
        members: int,
        committee: int | None = None,
    ) -> TxReceipt:
        """Confirm the aggregate of the accepted set; the confirmation that reaches the
        threshold settles the round, so every one carries the gas for that."""
        fn = self.suite.jobs.functions.confirm(job_id, r, model_hash)
        return self.client.transact(fn, sender, min_gas=_settle_gas(members, committee))

    def timeout_round(
        self, sender: LocalAccount, job_id: int, members: int = 0, committee: int | None = None
    ) -> TxReceipt:
        fn = self.suite.jobs.functions.timeoutRound(job_id)
        return self.client.transact(fn, sender, min_gas=_settle_gas(members, committee))

    def params(self) -> ProtocolParams:
        return ProtocolParams(tuple(int(v) for v in self._call(self.suite.jobs.functions.params())))

    def delivery_factor_bps(self, fed_id: int, who: str) -> int:
        """How a member's delivery record scales its declared capacity (10,000 = 1x)."""
        _, factor = self._call(self.suite.jobs.functions.delivery(fed_id, who))
        return int(factor)

    def cancel_job(self, sender: LocalAccount, job_id: int) -> TxReceipt:
        return self._tx(self.suite.jobs.functions.cancelJob(job_id), sender)

    def claimable(self, who: str) -> int:
        return int(self._call(self.suite.jobs.functions.claimable(who)))

    def claim(self, sender: LocalAccount) -> TxReceipt:
        return self._tx(self.suite.jobs.functions.claim(), sender)

    def pending_work(self, fed_id: int, who: str) -> int:
        return int(self._call(self.suite.jobs.functions.pendingWork(fed_id, who)))

    def add_stake(self, sender: LocalAccount, fed_id: int, amount: int) -> TxReceipt:
        """Approve and add to a stake (also how a suspended member returns)."""
        self.approve(sender, self.suite.registry.address, amount)
        return self._tx(self.suite.registry.functions.addStake(fed_id, amount), sender)

    # -- releases ---------------------------------------------------------------------------
    def release(self, release_id: int) -> Release:
        return _build(Release, self._call(self.suite.models.functions.release(release_id)))

    def release_count(self) -> int:
        return int(self._call(self.suite.models.functions.releaseCount()))
