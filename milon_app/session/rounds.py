"""A round in words: its phase with the deadline that matters now, and how it was judged.

The phase follows the contract's own rules (the predicates of
:mod:`milon_app.node.jobs`, which mirror ``TrainingJobs``), so the CLI and the
window never call a round "open for verdicts" when the chain would refuse a
vote. Verdicts come from :func:`milon_app.chain.verdicts.round_verdicts`;
reason codes get the verdict function's names here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from milon_app.federation.policy import reason_name
from milon_app.node.jobs import acceptance_closed, commit_closed, round_stuck, verdict_open

if TYPE_CHECKING:
    from milon_app.chain.bindings import Round
    from milon_app.chain.verdicts import UpdateVerdict

# The five deadlines of a round, in order: (phase, Round field).
DEADLINES = (
    ("accept", "accept_deadline"),
    ("commit", "commit_deadline"),
    ("reveal", "reveal_deadline"),
    ("verdict", "verdict_deadline"),
    ("confirm", "confirm_deadline"),
)


@dataclass(frozen=True)
class Phase:
    key: str  # accept, commit, reveal, verdict, confirm, finalized, timed-out, stuck
    text: str  # what is happening, for people
    deadline: int | None  # chain time the phase ends; None once the round is closed

    @property
    def open(self) -> bool:
        return self.deadline is not None


def round_phase(rnd: Round, now: int) -> Phase:
    """Where round ``rnd`` stands at chain time ``now``."""
    if rnd.finalized:
        return Phase("finalized", "finalized", None)
    if rnd.timed_out:
        return Phase("timed-out", "timed out", None)
    if round_stuck(rnd, now):
        return Phase("stuck", "stuck: past its deadlines (anyone may time it out)", None)
    if not acceptance_closed(rnd):
        if now <= rnd.accept_deadline:
            return Phase(
                "accept", "accept: members accept or decline their epochs", rnd.accept_deadline
            )
        return Phase(
            "accept",
            "accept window over: unanswered assignments lapse once anyone closes acceptance",
            rnd.accept_deadline,
        )
    if not commit_closed(rnd, now):
        return Phase(
            "commit", "commit: members train and commit their updates", rnd.commit_deadline
        )
    if not verdict_open(rnd, now):
        return Phase(
            "reveal", "reveal: members reveal their committed updates", rnd.reveal_deadline
        )
    if not rnd.tallied:
        if now <= rnd.verdict_deadline:
            return Phase(
                "verdict", "verdict: the committee judges every update", rnd.verdict_deadline
            )
        return Phase(
            "verdict", "verdict window over: anyone may tally the votes", rnd.verdict_deadline
        )
    return Phase(
        "confirm", "confirm: the committee confirms the aggregated model", rnd.confirm_deadline
    )


def votes_against(u: UpdateVerdict) -> list[tuple[str, str]]:
    """(validator, reason name) for every vote rejecting update ``u``."""
    return [(v.validator, reason_name(v.reason)) for v in u.votes if not v.accepted]


def votes_for(u: UpdateVerdict) -> list[str]:
    return [v.validator for v in u.votes if v.accepted]
