"""A round's committee and its per-update verdicts, read back from the chain for front-ends.

The contract keeps each committee member's accept bitmap; the reason codes a
member gave for its rejections live only in its ``VerdictSubmitted`` event.
This module joins the two into one picture per update: its outcome and who
voted what, with which reason. Reason codes are plain integers here; their
names belong to the verdict function (``milon_app.federation.verdicts.Reason``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from milon_app.chain.bindings import AssignmentState, Milon

OUTCOMES = ("accepted", "rejected", "undecided", "pending", "no-show", "lapsed", "declined")


@dataclass(frozen=True)
class Vote:
    validator: str
    accepted: bool
    reason: int  # 0 when accepted


@dataclass(frozen=True)
class UpdateVerdict:
    member: str
    index: int
    epochs: int
    update_hash: str  # "" when nothing was revealed
    num_samples: int
    outcome: str  # one of OUTCOMES
    votes: tuple[Vote, ...]


@dataclass(frozen=True)
class CommitteeSeat:
    member: str
    weight: int
    voted: bool
    confirmed: bool
    confirmed_hash: str


@dataclass(frozen=True)
class RoundVerdicts:
    job_id: int
    round: int
    committee: tuple[CommitteeSeat, ...]
    updates: tuple[UpdateVerdict, ...]
    tallied: bool
    finalized: bool
    timed_out: bool
    model_hash: str


def _round_logs(milon: Milon, name: str, job_id: int, r: int, from_block: int | None) -> list[Any]:
    """Decoded arguments of TrainingJobs event ``name`` for one round (indexed by job, round),
    searched from ``from_block`` (a block at or before the round's start: cheaper) or from
    the deployment."""
    suite = milon.suite
    event = getattr(suite.jobs.events, name)
    start = suite.manifest.deployed_block if from_block is None else from_block
    client = milon.client

    def fetch(a: int, b: int) -> Any:
        flt = {"jobId": job_id, "round": r}
        return event().get_logs(argument_filters=flt, from_block=a, to_block=b)

    logs: Any = client.get_logs(fetch, start, client.block_number())
    return [log["args"] for log in logs]


def verdict_events(
    milon: Milon, job_id: int, r: int, from_block: int | None = None
) -> dict[str, tuple[int, bytes]]:
    """validator -> (accept bitmap, reason codes) from the round's ``VerdictSubmitted`` events."""
    return {
        str(a["validator"]): (int(a["acceptBits"]), bytes(a["reasons"]))
        for a in _round_logs(milon, "VerdictSubmitted", job_id, r, from_block)
    }


def round_payments(
    milon: Milon, job_id: int, r: int, from_block: int | None = None
) -> tuple[dict[str, int], dict[str, int]]:
    """What round ``r`` credited: (contributors' rewards, validators' pay), by address."""
    rewards: dict[str, int] = {}
    for a in _round_logs(milon, "RewardCredited", job_id, r, from_block):
        rewards[str(a["member"])] = rewards.get(str(a["member"]), 0) + int(a["amount"])
    pay: dict[str, int] = {}
    for a in _round_logs(milon, "ValidatorPaid", job_id, r, from_block):
        pay[str(a["validator"])] = pay.get(str(a["validator"]), 0) + int(a["amount"])
    return rewards, pay


def round_verdicts(
    milon: Milon, job_id: int, r: int, from_block: int | None = None
) -> RoundVerdicts:
    """Everything a job owner or a member wants to know about how round ``r`` was judged."""
    rnd = milon.round(job_id, r)
    seats = []
    for who in milon.committee(job_id, r):
        s = milon.seat(job_id, r, who)
        seats.append(
            CommitteeSeat(who, s.weight, s.voted, s.confirmed, s.confirmed_hash.hex() * s.confirmed)
        )
    ballots = verdict_events(milon, job_id, r, from_block)
    updates = []
    for member in milon.round_members(job_id, r):
        a = milon.assignment(job_id, r, member)
        bit = 1 << a.index
        votes = []
        for validator, (bits, reasons) in sorted(ballots.items()):
            if validator == member or not rnd.revealed_bits & bit:
                continue
            code = reasons[a.index] if a.index < len(reasons) else 0
            votes.append(Vote(validator, bool(bits & bit), 0 if bits & bit else int(code)))
        revealed = a.state is AssignmentState.REVEALED
        updates.append(
            UpdateVerdict(
                member=member,
                index=a.index,
                epochs=a.epochs,
                update_hash=a.update_hash.hex() if revealed else "",
                num_samples=a.num_samples,
                outcome=_outcome(
                    rnd.tallied or rnd.timed_out, rnd.accepted_bits, rnd.rejected_bits, bit, a.state
                ),
                votes=tuple(votes),
            )
        )
    return RoundVerdicts(
        job_id=job_id,
        round=r,
        committee=tuple(seats),
        updates=tuple(updates),
        tallied=rnd.tallied,
        finalized=rnd.finalized,
        timed_out=rnd.timed_out,
        model_hash=rnd.new_model_hash.hex() if rnd.finalized else "",
    )


def _outcome(closed: bool, accepted: int, rejected: int, bit: int, state: AssignmentState) -> str:
    """What became of one member's assignment; ``closed``: tallied or timed out."""
    if state is AssignmentState.LAPSED:
        return "lapsed"
    if state is AssignmentState.DECLINED:
        return "declined"
    if state is not AssignmentState.REVEALED:
        return "no-show" if closed else "pending"
    if not closed:
        return "pending"
    if accepted & bit:
        return "accepted"
    return "rejected" if rejected & bit else "undecided"
