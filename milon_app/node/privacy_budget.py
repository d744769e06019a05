"""The contributor's side of differential privacy (issue 23): client-dp and dp-sgd.

Before accepting a round of a ``client-dp`` job the node checks that the release would
keep it within both the job's own (epsilon, delta) and its owner's ceiling
(``privacy.max_epsilon``); after training it clips and noises the update
(:func:`milon_app.federation.privacy.privatize`) before anything is stored or committed.
A noised update cannot be trained again bit for bit: after a lost state DB the reveal
finds it in the blob store (as every update), never by retraining.

Under ``dp-sgd`` the noise is in the training (:mod:`milon_app.compute.dp_sgd`); a round
costs the RDP epsilon of its epochs' steps at the node's sample rate, on top of the epochs
the node accepted on the job before (the state DB's assignments, or the chain's when the
DB lost them). The noise is calibrated so that the job's ``privacy.max_epochs`` (default:
its ``total_epochs``, the most epochs any member can be given) stay within the job's
target; a member given more declines once the next round would cross it, and the round's
epochs go to the members that accepted (the contract's re-split). Epochs a member declines
may be re-split onto one that accepted before, up to the round's share cap, and it trains
what it holds when acceptance closes: so the decision budgets for that cap, and a member
near its bound declines a round that could push it past.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from milon_app.compute import dp_sgd
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
    sample_rate: float = 1.0  # dp-sgd: the node's q; client-dp releases on all its data
    # dp-sgd: the epochs the noise is sized for, and the epsilon and epochs after this round
    # if re-splits filled the node's share up to the round's cap (what the decision uses)
    max_epochs: int = 0
    epochs_worst: int = 0
    epsilon_worst: float = 0.0

    @property
    def epsilon_decide(self) -> float:
        """What the accept decision weighs: the worst this round can cost."""
        return max(self.epsilon_after, self.epsilon_worst)


def rounds_taken(svc: RoleServices, ctx: JobContext, r: int) -> int:
    """Rounds of the job before ``r`` this node took: the state DB's count, or the chain's
    when that is higher (a node that lost its state DB must not forget what it spent)."""
    local = svc.state.accepted_rounds(ctx.job_id, r)
    if ctx.spec.privacy.mode != "client-dp":
        return local
    return max(local, svc.milon.taken_before(ctx.job_id, r, svc.address)[0])


def epochs_taken(svc: RoleServices, ctx: JobContext, r: int) -> int:
    """Epochs of the job before round ``r`` this node accepted (dp-sgd accounting): the state
    DB's sum, or the chain's when that is higher (the running totals in the node's assignment
    record: one call, however many rounds)."""
    local = svc.state.accepted_epochs(ctx.job_id, r)
    return max(local, svc.milon.taken_before(ctx.job_id, r, svc.address)[1])


def sgd_plan(svc: RoleServices, ctx: JobContext, r: int) -> dp_sgd.Plan:
    """This node's dp-sgd noise and sampling on the job: its data size, the spec's batch,
    the job's ``privacy.max_epochs`` (else its ``total_epochs``) as the bound."""
    n = int(svc.training_data(ctx, r)[0].shape[0])
    bound = ctx.spec.privacy.epoch_bound(ctx.job.params.total_epochs)
    return dp_sgd.plan(ctx.spec.privacy, n, ctx.spec.batch_size, bound)


def sgd_budget(plan: dp_sgd.Plan, epochs_before: int, epochs: int, share_cap: int = 0) -> Budget:
    """The cost of ``epochs`` more epochs of ``plan`` after ``epochs_before``; ``share_cap``:
    the most the round can give one member (re-splits included), for the worst case."""
    worst = epochs_before + max(epochs, share_cap)
    return Budget(
        sigma=plan.noise_multiplier,
        rounds_before=epochs_before,
        epsilon_before=plan.epsilon(epochs_before),
        epsilon_after=plan.epsilon(epochs_before + epochs),
        epsilon_round=plan.epsilon(epochs),
        delta=plan.delta,
        sample_rate=plan.sample_rate,
        max_epochs=plan.max_epochs,
        epochs_worst=worst,
        epsilon_worst=plan.epsilon(worst),
    )


def trained_budget(
    svc: RoleServices, ctx: JobContext, r: int, trained: Mapping[str, Any]
) -> Budget:
    """dp-sgd: what round ``r`` cost, from the plan its training used (the trainer's
    ``TrainResult.privacy``) on top of the epochs taken before: the data is not read again."""
    priv = ctx.spec.privacy
    plan = dp_sgd.summary_plan(trained, priv.clip, priv.delta)
    return sgd_budget(plan, epochs_taken(svc, ctx, r), int(trained["epochs_taken"]))


def round_budget(svc: RoleServices, ctx: JobContext, r: int, epochs: int) -> Budget | None:
    """The cost of taking round ``r`` (``epochs`` epochs) of ``ctx``'s job; None: no privacy."""
    mode = ctx.spec.privacy.mode
    if mode == "dp-sgd":
        cap = svc.milon.round(ctx.job_id, r).share_cap
        return sgd_budget(sgd_plan(svc, ctx, r), epochs_taken(svc, ctx, r), epochs, cap)
    return budget(ctx, rounds_taken(svc, ctx, r)) if mode == "client-dp" else None


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
    spend = b.epsilon_decide
    after = f"epsilon {b.epsilon_before:.3g} spent on job {ctx.job_id} + {b.epsilon_round:.3g}"
    if b.epochs_worst:  # dp-sgd: the epochs the round could give it, re-splits included
        up_to = b.epochs_worst - b.rounds_before
        after = f"epsilon {b.epsilon_before:.3g} spent on job {ctx.job_id} + up to {up_to} epochs"
    if max_epsilon > 0 and spend > max_epsilon + EPSILON_SLACK:
        return (
            f"privacy: {after} this round = {spend:.3g}, over this node's ceiling "
            f"privacy.max_epsilon={max_epsilon:g} (delta={b.delta:g})"
        )
    if spend > priv.epsilon + EPSILON_SLACK:
        if priv.mode != "dp-sgd":
            return (
                f"privacy: {after} this round = {spend:.3g}, over the job's target "
                f"epsilon={priv.epsilon:g} (more rounds than planned)"
            )
        return (
            f"privacy: {after} this round would spend {spend:.3g} of the job's target "
            f"epsilon={priv.epsilon:g}: this node reached the job's max_epochs={b.max_epochs} "
            f"({b.rounds_before} epochs taken, {b.epochs_worst} after this round)"
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
