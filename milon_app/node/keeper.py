"""The keeper role: move rounds along when nobody else has to, so a job never hangs.

Three permissionless calls, each once the contract allows it: ``closeAcceptance``
(members left their assignments unanswered: they lapse and their epochs go to
the members that accepted), ``closeVerdicts`` (the committee's time is up, or
there is nothing to judge) and ``timeoutRound`` (nobody accepted, or the
committee never confirmed a model). Losing the race to another keeper is not
an error.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from milon_app.chain.bindings import Round
from milon_app.chain.errors import ContractRevert
from milon_app.node import events as ev
from milon_app.node.jobs import JobContext, acceptance_lapsed, round_stuck, verdicts_closable

if TYPE_CHECKING:
    from milon_app.node.services import RoleServices

# Reverts that mean another keeper (or the round itself) got there first.
LOST_RACE = frozenset(
    {
        "NothingLapsed",
        "AcceptanceOpen",
        "VerdictsOpen",
        "NoRoundInProgress",
        "RoundNotStuck",
        "RoundClosed",
        "WrongRound",
    }
)


class Keeper:
    def __init__(self, services: RoleServices) -> None:
        self.services = services

    def step(self, ctx: JobContext, r: int, rnd: Round, now: int) -> None:
        m, me, job_id, n = self.services.milon, self.services.account, ctx.job_id, rnd.member_count
        if acceptance_lapsed(rnd, now):
            self._try(lambda: m.close_acceptance(me, job_id, n))
            return
        if verdicts_closable(rnd, now):  # a tally short of participation fails the round
            sent = self._try(lambda: m.close_verdicts(me, job_id, n))
        elif round_stuck(rnd, now):
            sent = self._try(lambda: m.timeout_round(me, job_id, n))
        else:
            return
        if sent and m.round(job_id, r).timed_out:
            self.services.publish(ev.RoundTimedOut(job_id=job_id, round=r))

    @staticmethod
    def _try(send: Callable[[], Any]) -> bool:
        try:
            send()
        except ContractRevert as exc:
            if exc.error_name in LOST_RACE:
                return False
            raise
        return True
