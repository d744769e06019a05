"""One row of the demo's report per round: epochs, verdicts, committee, rewards, gas.

Everything here is read back from the chain (assignments, the committee, the
verdict and payment events), so the report shows what the protocol did, not
what the demo meant it to do.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from milon_app.chain.bindings import Milon
from milon_app.chain.verdicts import RoundVerdicts, UpdateVerdict, round_payments, round_verdicts
from milon_app.federation.policy import reason_name


@dataclass
class RoundRow:
    round: int
    accuracy: float | None
    epochs: dict[str, int]
    accepted: list[str]
    rejected: dict[str, str]
    rewards: dict[str, int]
    gas_used: int
    wall_s: float
    outcome: str = "finalized"  # or "timed out"
    cpu_s: float = 0.0  # the process's CPU time over the round, all threads (steadier than wall)
    committee: list[dict[str, Any]] = field(default_factory=list)
    verdicts: list[dict[str, Any]] = field(default_factory=list)
    validator_rewards: dict[str, int] = field(default_factory=dict)


def _why(u: UpdateVerdict) -> str:
    against = [v for v in u.votes if not v.accepted]
    names = sorted({reason_name(v.reason) for v in against})
    if u.outcome == "rejected":
        return f"rejected by {len(against)} of {len(u.votes)} validators: {', '.join(names)}"
    if u.outcome == "undecided":
        return f"undecided ({len(against)} of {len(u.votes)} against: {', '.join(names) or '-'})"
    return u.outcome  # no-show, lapsed


def round_row(
    milon: Milon,
    job_id: int,
    r: int,
    members: list[str],
    accuracy: float | None,
    gas_used: int,
    wall_s: float,
    from_block: int | None = None,
) -> RoundRow:
    v: RoundVerdicts = round_verdicts(milon, job_id, r, from_block)
    by_member = {u.member: u for u in v.updates}
    paid, validators = round_payments(milon, job_id, r, from_block)
    return RoundRow(
        round=r,
        accuracy=accuracy,
        epochs={m: by_member[m].epochs if m in by_member else 0 for m in members},
        accepted=[u.member for u in v.updates if u.outcome == "accepted"],
        rejected={
            u.member: _why(u)
            for u in v.updates
            if u.outcome in ("rejected", "undecided", "no-show", "lapsed")
        },
        rewards={m: paid.get(m, 0) for m in members},
        gas_used=gas_used,
        wall_s=wall_s,
        outcome="timed out" if v.timed_out else "finalized",
        committee=[
            {"address": s.member, "weight": s.weight, "voted": s.voted, "confirmed": s.confirmed}
            for s in v.committee
        ],
        verdicts=[
            {
                "member": u.member,
                "outcome": u.outcome,
                "votes": [
                    {
                        "validator": x.validator,
                        "accepted": x.accepted,
                        "reason": "" if x.accepted else reason_name(x.reason),
                    }
                    for x in u.votes
                ],
            }
            for u in v.updates
            if u.outcome not in ("declined",)
        ],
        validator_rewards=validators,
    )
