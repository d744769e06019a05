"""What the job-owner dashboard shows, read from the chain, the node's state and the bus.

Blocking reads only, returning plain dataclasses, so the tab's worker thread
calls :func:`read_view` and the GUI thread just paints the result. Accuracy
comes from this node's own round results (only an owner scores its model);
accepted and rejected updates come from the validators' events on the bus.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from milon_app.chain.bindings import Job, JobStatus
from milon_app.node.events import RoundFinalized, UpdatesValidated
from milon_app.units import short_address

if TYPE_CHECKING:
    from milon_app.session.session import Session

ZERO = b"\0" * 32


@dataclass(frozen=True)
class JobRow:
    job_id: int
    fed_id: int
    status: str
    round_text: str
    epochs_text: str
    escrow_left: int  # wei
    accuracy: float | None
    mine: bool


@dataclass(frozen=True)
class RoundRow:
    round: int
    status: str
    accuracy: float | None
    accepted: int | None
    rejected: str
    model_hash: str


@dataclass(frozen=True)
class SeatRow:
    member: str
    epochs: int
    state: str
    samples: int


@dataclass(frozen=True)
class JobDetail:
    job_id: int
    summary: str
    current_round: int
    completed: bool
    rounds: list[RoundRow] = field(default_factory=list)
    seats: list[SeatRow] = field(default_factory=list)

    @property
    def points(self) -> tuple[list[int], list[float]]:
        """(round, accuracy %) for every scored round: the chart's data."""
        pts = [(r.round, r.accuracy * 100) for r in self.rounds if r.accuracy is not None]
        return [p[0] for p in pts], [p[1] for p in pts]


@dataclass(frozen=True)
class OwnerView:
    jobs: list[JobRow]
    detail: JobDetail | None
    show_all: bool


def rule_name(job: Job) -> str:
    return job.params.aggregation_rule.name.lower().replace("_", "-")


def read_view(session: Session, selected: int | None, show_all: bool) -> OwnerView:
    """Blocking: the job list and, for ``selected`` (else the newest), its detail."""
    core = session.core
    m = core.milon
    mine = set(core.state.jobs("owner"))
    ids = list(range(1, m.job_count() + 1)) if show_all else sorted(mine)
    jobs: dict[int, Job] = {i: m.job(i) for i in ids}
    rows = []
    for i in ids:
        job = jobs[i]
        scored = [acc for _r, _h, acc, _info in core.state.round_results(i) if acc is not None]
        rows.append(
            JobRow(
                job_id=i,
                fed_id=job.params.fed_id,
                status=job.status.name.lower(),
                round_text=round_text(job),
                epochs_text=f"{job.epochs_done}/{job.params.total_epochs}",
                escrow_left=job.escrow_remaining,
                accuracy=scored[-1] if scored else None,
                mine=i in mine,
            )
        )
    chosen = selected if selected in jobs else (ids[-1] if ids else None)
    detail = read_detail(session, chosen, jobs[chosen]) if chosen is not None else None
    return OwnerView(rows, detail, show_all)


def round_text(job: Job) -> str:
    p = job.params
    total = -(-p.total_epochs // p.epochs_per_round) if p.epochs_per_round else 0
    return f"{job.current_round}/{total}"


def read_detail(session: Session, job_id: int, job: Job) -> JobDetail:
    core = session.core
    m = core.milon
    names = member_names(session)
    results = {r: (h, acc) for r, h, acc, _info in core.state.round_results(job_id)}
    validated: dict[int, UpdatesValidated] = {}
    finalized: dict[int, RoundFinalized] = {}
    for e in session.bus.history(UpdatesValidated, RoundFinalized):
        if getattr(e, "job_id", None) != job_id:
            continue
        if isinstance(e, UpdatesValidated):
            validated.setdefault(e.round, e)
        elif isinstance(e, RoundFinalized):
            finalized.setdefault(e.round, e)
    rounds = []
    for r in range(1, job.current_round + 1):
        rnd = m.round(job_id, r)
        v = validated.get(r)
        accepted = len(v.accepted) if v else None
        if accepted is None and r in finalized:
            accepted = finalized[r].accepted_count
        rejected = "; ".join(f"{names(a)}: {why}" for a, why in v.rejected) if v else ""
        status = "finalized" if rnd.finalized else "timed out" if rnd.timed_out else "running"
        model = rnd.new_model_hash.hex() if rnd.finalized and rnd.new_model_hash != ZERO else ""
        rounds.append(
            RoundRow(
                round=r,
                status=status,
                accuracy=results.get(r, ("", None))[1],
                accepted=accepted,
                rejected=rejected or ("none" if v else ""),
                model_hash=model[:12],
            )
        )
    seats = []
    if job.current_round > 0:
        r = job.current_round
        for who in m.round_members(job_id, r):
            a = m.assignment(job_id, r, who)
            seats.append(SeatRow(names(who), a.epochs, a.state.name.lower(), a.num_samples))
    return JobDetail(
        job_id=job_id,
        summary=summary(job_id, job),
        current_round=job.current_round,
        completed=job.status is JobStatus.COMPLETED,
        rounds=rounds,
        seats=seats,
    )


def summary(job_id: int, job: Job) -> str:
    from milon_app.units import format_amount

    p = job.params
    return (
        f"Job {job_id} · federation {p.fed_id} · {job.status.name.lower()} · "
        f"{p.epochs_per_round} epochs a round, {format_amount(p.reward_per_epoch)} MILON per "
        f"epoch · {rule_name(job)}, quorum {p.validator_quorum}"
    )


def member_names(session: Session) -> _Names:
    me = session.address
    sims: Sequence[str] = [n.address for n in session.sim.peers] if session.sim else []
    return _Names(me, list(sims))


class _Names:
    """Address -> what a person recognises: "you", "simulated member 2", or 0x12…cdef."""

    def __init__(self, me: str, sims: list[str]) -> None:
        self.me = me.lower()
        self.sims = {a.lower(): i for i, a in enumerate(sims, start=1)}

    def __call__(self, address: str) -> str:
        key = address.lower()
        if key == self.me:
            return f"you ({short_address(address)})"
        if key in self.sims:
            return f"simulated member {self.sims[key]} ({short_address(address)})"
        return short_address(address)
