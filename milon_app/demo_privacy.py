"""The demo report's ``privacy`` (issue 23): the job's setting and what the members spent.

client-dp's figures follow from the job's plan and the rounds each member released in;
dp-sgd's come from the members' own accountants (their ``PrivacySpent`` events), since
the noise and sample rate depend on each member's data size.
"""

from __future__ import annotations

from typing import Any

from milon_app.compute.privacy_spec import PrivacySpec
from milon_app.demo_rounds import RoundRow


def privacy_report(privacy: PrivacySpec, rounds: int, rows: list[RoundRow]) -> dict[str, Any]:
    """The report's ``privacy``: the job's setting and the epsilon spent by the member that
    released the most updates (one per round it trained in)."""
    from milon_app.federation.privacy import summary

    taken: dict[str, int] = {}
    for row in rows:
        for who, epochs in row.epochs.items():
            taken[who] = taken.get(who, 0) + (1 if epochs > 0 else 0)
    out = summary(privacy, rounds, max(taken.values(), default=0))
    out.setdefault("epsilon_spent", 0.0)
    out.setdefault("delta", 0.0)
    return out


def sgd_report(privacy: PrivacySpec, bus: Any, job_id: int) -> dict[str, Any]:
    """dp-sgd's figures as the members computed them (their PrivacySpent events): the most
    any member spent, with its noise multiplier and sample rate (both depend on its data
    size), and each member's epsilon."""
    from milon_app.node.events import PrivacySpent

    spent: dict[str, PrivacySpent] = {}
    for e in bus.history(PrivacySpent):
        if e.job_id == job_id and (e.node not in spent or e.round > spent[e.node].round):
            spent[e.node] = e
    out: dict[str, Any] = {"epsilon": privacy.epsilon, "delta": privacy.delta, "clip": privacy.clip}
    out["max_epochs"] = privacy.max_epochs  # the demo always sets it (default_max_epochs)
    if not spent:
        return {**out, "epsilon_spent": 0.0, "members": {}}
    top = max(spent.values(), key=lambda e: e.epsilon_spent)
    return out | {
        "epsilon_spent": top.epsilon_spent,
        "noise_multiplier": top.sigma,
        "sample_rate": top.sample_rate,
        "members": {who: e.epsilon_spent for who, e in sorted(spent.items())},
    }
