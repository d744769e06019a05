"""The contributor's side of client-level differential privacy (issue 23).

Before accepting a round of a ``client-dp`` job the node checks that the release would
keep it within both the job's own (epsilon, delta) and its owner's ceiling
(``privacy.max_epsilon``); after training it clips and noises the update
(:func:`milon_app.federation.privacy.privatize`) before anything is stored or committed.
A noised update cannot be trained again bit for bit: after a lost state DB the reveal
finds it in the blob store (as every update), never by retraining.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from milon_app.chain.bindings import AssignmentState
from milon_app.federation import privacy as P

if TYPE_CHECKING:
    import torch

    from milon_app.node.jobs import JobContext
    from milon_app.node.services import RoleServices

# Accounting compares floats computed the same way; this keeps a job planned at exactly its
# target from being declined by rounding in the last digit.
EPSILON_SLACK = 1e-9


@dataclass(frozen=True)
class Budget:
    """What taking part in one more round of a job would cost this node."""

    sigma: float
    rounds_before: int  # rounds of the job this node released before
    epsilon_before: float
    epsilon_after: float
    epsilon_round: float
    delta: float


# Assignment states that mean the node took the round: counted as a release whether or not
# the update was revealed (a node cannot know that an update it committed was never seen).
_TAKEN = frozenset({AssignmentState.ACCEPTED, AssignmentState.COMMITTED, AssignmentState.REVEALED})


def rounds_taken(svc: RoleServices, ctx: JobContext, r: int) -> int:
    """Rounds of the job before ``r`` this node took: the state DB's count, or the chain's
    when that is higher (a node that lost its state DB must not forget what it spent)."""
    local = svc.state.accepted_rounds(ctx.job_id, r)
    if ctx.spec.privacy.mode != "client-dp":
        return local
    me = svc.address
    on_chain = sum(svc.milon.assignment(ctx.job_id, rr, me).state in _TAKEN for rr in range(1, r))
    return max(local, on_chain)


def job_rounds(ctx: JobContext) -> int:
    p = ctx.job.params
    return P.planned_rounds(p.total_epochs, p.epochs_per_round)


def budget(ctx: JobContext, rounds_before: int) -> Budget | None:
    """The cost of one more release on ``ctx``'s job; None for a job without client-dp."""
    priv = ctx.spec.privacy
    if priv.mode != "client-dp":
        return None
    sigma = P.job_sigma(priv, job_rounds(ctx))
    return Budget(
        sigma=sigma,
        rounds_before=rounds_before,
        epsilon_before=P.epsilon_spent(sigma, rounds_before, priv.delta),
        epsilon_after=P.epsilon_spent(sigma, rounds_before + 1, priv.delta),
        epsilon_round=P.epsilon_spent(sigma, 1, priv.delta),
        delta=priv.delta,
    )


def decline_reason(ctx: JobContext, b: Budget, max_epsilon: float) -> str | None:
    """Why this node must not take the round (None: it may)."""
    priv = ctx.spec.privacy
    after = f"epsilon {b.epsilon_before:.3g} spent on job {ctx.job_id} + {b.epsilon_round:.3g}"
    if max_epsilon > 0 and b.epsilon_after > max_epsilon + EPSILON_SLACK:
        return (
            f"privacy: {after} this round = {b.epsilon_after:.3g}, over this node's ceiling "
            f"privacy.max_epsilon={max_epsilon:g} (delta={b.delta:g})"
        )
    if b.epsilon_after > priv.epsilon + EPSILON_SLACK:
        return (
            f"privacy: {after} this round = {b.epsilon_after:.3g}, over the job's target "
            f"epsilon={priv.epsilon:g} (more rounds than the job planned)"
        )
    return None


def noised(
    ctx: JobContext, base: dict[str, torch.Tensor], state: dict[str, torch.Tensor]
) -> tuple[dict[str, torch.Tensor], float, float]:
    """(clipped and noised state, sigma, the delta's norm before clipping)."""
    priv = ctx.spec.privacy
    sigma = P.job_sigma(priv, job_rounds(ctx))
    norm = P.delta_norm(base, state)
    return P.privatize(base, state, priv.clip, P.noise_std(priv, sigma)), sigma, norm
