"""What the job-owner dashboard shows, read from the chain and the node's state.

Blocking reads only, returning plain dataclasses, so the tab's worker thread
calls :func:`read_view` and the GUI thread just paints the result. Accuracy
comes from this node's own round results (only an owner scores its model);
how each update was judged, and by whom, comes from the chain
(:func:`milon_app.chain.verdicts.round_verdicts`): the committee's bitmaps and
the reason codes of its ``VerdictSubmitted`` events. A closed round never
changes, so its verdicts are read once per tab (``cache``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from milon_app.chain.bindings import Job, JobStatus, Param
from milon_app.session.privacy_view import dashboard_text, job_privacy
from milon_app.session.rounds import round_phase, votes_against, votes_for
from milon_app.units import short_address

if TYPE_CHECKING:
    from milon_app.chain.bindings import Milon
    from milon_app.chain.verdicts import RoundVerdicts
    from milon_app.session.session import Session

ZERO = b"\0" * 32
VerdictCache = dict[tuple[int, int], "RoundVerdicts"]  # (job, round) -> a closed round's verdicts


@dataclass(frozen=True)
class OwnerJobRow:
    """A job in the owner's table (the Jobs tab's member rows are ``gui.tabs.jobs.JobRow``)."""

    job_id: int
    fed_id: int
    status: str
    round_text: str
    epochs_text: str
    escrow_left: int  # wei
    accuracy: float | None
    mine: bool


@dataclass(frozen=True)
class OwnerRoundRow:
    """A round of the selected job, as its owner follows it (the demo's report row is
    ``demo_rounds.RoundRow``)."""

    round: int
    status: str  # finalized, timed out, or the running round's phase
    accuracy: float | None
    accepted: int | None  # None until the committee's votes are tallied
    rejected: str  # "member: reason, reason" per rejected update
    model_hash: str


@dataclass(frozen=True)
class VerdictRow:
    """One update of a round: its outcome and who voted what, with reasons."""

    member: str
    outcome: str  # accepted, rejected, undecided, pending, no-show, lapsed
    accepted_by: str
    rejected_by: str  # "validator: reason; ..."


@dataclass(frozen=True)
class SeatRow:
    member: str
    epochs: int
    state: str
    samples: int


@dataclass(frozen=True)
class CommitteeRow:
    member: str
    weight: int  # wei of stake at the draw
    voted: bool
    confirmed: bool


@dataclass(frozen=True)
class JobDetail:
    job_id: int
    summary: str
    current_round: int
    completed: bool
    rounds: list[OwnerRoundRow] = field(default_factory=list)
    seats: list[SeatRow] = field(default_factory=list)
    verdicts: dict[int, list[VerdictRow]] = field(default_factory=dict)  # by round
    committee: list[CommitteeRow] = field(default_factory=list)  # the current round's
    phase: str = ""  # the current round's phase, in words
    privacy: str = ""  # the setting and epsilon a round / for the job / spent (dashboard_text)

    @property
    def points(self) -> tuple[list[int], list[float]]:
        """(round, accuracy %) for every scored round: the chart's data."""
        pts = [(r.round, r.accuracy * 100) for r in self.rounds if r.accuracy is not None]
        return [p[0] for p in pts], [p[1] for p in pts]


@dataclass(frozen=True)
class OwnerView:
    jobs: list[OwnerJobRow]
    detail: JobDetail | None
    show_all: bool


def rule_name(job: Job) -> str:
    return job.params.aggregation_rule.name.lower().replace("_", "-")


def read_view(
    session: Session, selected: int | None, show_all: bool, cache: VerdictCache | None = None
) -> OwnerView:
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
            OwnerJobRow(
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
    detail = None
    if chosen is not None:
        detail = read_detail(session, chosen, jobs[chosen], {} if cache is None else cache)
    return OwnerView(rows, detail, show_all)


def round_text(job: Job) -> str:
    p = job.params
    total = -(-p.total_epochs // p.epochs_per_round) if p.epochs_per_round else 0
    return f"{job.current_round}/{total}"


def verdicts_of(m: Milon, job_id: int, r: int, cache: VerdictCache) -> RoundVerdicts:
    from milon_app.chain.verdicts import round_verdicts

    hit = cache.get((job_id, r))
    if hit is not None:
        return hit
    v = round_verdicts(m, job_id, r)
    if v.finalized or v.timed_out:
        cache[(job_id, r)] = v
    return v


def read_detail(session: Session, job_id: int, job: Job, cache: VerdictCache) -> JobDetail:
    core = session.core
    m = core.milon
    names = member_names(session)
    results = {r: (h, acc) for r, h, acc, _info in core.state.round_results(job_id)}
    now = m.client.now()
    rounds, verdicts = [], {}
    phase = ""
    for r in range(1, job.current_round + 1):
        v = verdicts_of(m, job_id, r, cache)
        verdicts[r] = [
            VerdictRow(
                member=names(u.member),
                outcome=u.outcome,
                accepted_by=", ".join(names(a) for a in votes_for(u)),
                rejected_by="; ".join(f"{names(a)}: {why}" for a, why in votes_against(u)),
            )
            for u in v.updates
            if u.outcome != "declined"
        ]
        if v.finalized or v.timed_out:
            status = "finalized" if v.finalized else "timed out"
        else:
            phase = round_phase(m.round(job_id, r), now).text
            status = phase.split(":")[0]
        rejected = [
            f"{names(u.member)}: {', '.join(sorted({why for _a, why in votes_against(u)}))}"
            for u in v.updates
            if u.outcome == "rejected"
        ]
        rounds.append(
            OwnerRoundRow(
                round=r,
                status=status,
                accuracy=results.get(r, ("", None))[1],
                accepted=sum(u.outcome == "accepted" for u in v.updates)
                if v.tallied or v.timed_out
                else None,
                rejected="; ".join(rejected) or ("none" if v.tallied else ""),
                model_hash=v.model_hash[:12],
            )
        )
    seats, committee = [], []
    if job.current_round > 0:
        r = job.current_round
        for who in m.round_members(job_id, r):
            a = m.assignment(job_id, r, who)
            seats.append(SeatRow(names(who), a.epochs, a.state.name.lower(), a.num_samples))
        committee = [
            CommitteeRow(names(s.member), s.weight, s.voted, s.confirmed)
            for s in verdicts_of(m, job_id, r, cache).committee
        ]
    return JobDetail(
        job_id=job_id,
        summary=summary(job_id, job, m.params()[Param.COMMITTEE_DEFAULT]),
        current_round=job.current_round,
        completed=job.status is JobStatus.COMPLETED,
        rounds=rounds,
        seats=seats,
        verdicts=verdicts,
        committee=committee,
        phase=phase,
        privacy=dashboard_text(job_privacy(m, core.store, job_id, job)),
    )


def summary(job_id: int, job: Job, committee_default: int) -> str:
    from milon_app.units import format_amount

    p = job.params
    size = p.committee_size or committee_default
    chosen = "" if p.committee_size else " (the governed default)"
    return (
        f"Job {job_id} · federation {p.fed_id} · {job.status.name.lower()} · "
        f"{p.epochs_per_round} epochs a round, {format_amount(p.reward_per_epoch)} MILON per "
        f"epoch · {rule_name(job)}, committee of {size}{chosen}"
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
