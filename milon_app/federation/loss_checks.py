"""The loss-based half of a verdict: HARMFUL and NO_IMPROVEMENT, judged against the round.

Measured facts that shape these rules (docs/aggregation.md has the tables):

* Alone on balanced validation data, an honest update trained on one or
  two classes can have 5-10x the round's median loss (Dirichlet 0.1-0.3),
  and an honest node with a large one-class shard steps up to 8x the median
  norm. A loss threshold on the update alone either slashes them or lets
  attacks through.
* Leave-one-out (LOO) contribution, the loss of the mean of the round's
  clipped deltas without the update minus with it, is noisy on small
  validation sets (honest updates often sit slightly below zero, and near
  convergence relative changes are pure noise) but an honest skewed update
  rarely makes the mean clearly worse: by more than ``loo_margin`` x the
  mean's loss (or the chance-level loss ln(classes), whichever is larger)
  divided by the number of updates.

* An honest update trained on one class improves that class about as much
  as the round's typical update improves its own best class; an attack that
  only makes the model worse does not.

So an update is HARMFUL when its own loss is far above the round's *and*
the round's mean is clearly better without it *and* it is not an honest
one-class update (one whose best validation class gains ``protect_gain`` x
what the round's median update gains on its own best class, without
pointing against the round): three witnesses; when it
points against the round (median delta cosine with the other updates below
``-direction_cosine``: a sign flip) *and* improves no class of the validation
data *and* the mean is better without it (three witnesses), or
when its own loss is absurd (``absurd_factor`` x the median: noise, huge
boosts), whatever the mean says.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from milon_app.errors import BadInputError
from milon_app.federation.clipping import clip_scales, median_of, scaled_state
from milon_app.federation.contribution import LeaveOneOut
from milon_app.federation.evaluator import EvaluateFn, GroupLosses
from milon_app.federation.fingerprints import DeltaStats, JudgeHistory, RoundPrint
from milon_app.federation.policy import Reason, Verdict, VerdictPolicy

if TYPE_CHECKING:
    import torch


@dataclass
class RoundState:
    """Working state of one judgement: who is still in, and what was measured."""

    ids: list[str]
    digests: list[str]
    stats: DeltaStats
    base_digest: str
    open: list[int]  # indices into ids not yet rejected
    verdicts: dict[str, Verdict] = field(default_factory=dict)
    metrics: dict[int, dict[str, float]] = field(default_factory=dict)

    def reject(self, i: int, reason: Reason, detail: str) -> None:
        self.verdicts[self.ids[i]] = Verdict(self.ids[i], reason, detail, self.metrics[i])
        self.open.remove(i)


def check_losses(
    rnd: RoundState,
    base: Mapping[str, torch.Tensor],
    states: Mapping[str, Mapping[str, torch.Tensor]],
    evaluate: EvaluateFn,
    policy: VerdictPolicy,
    history: JudgeHistory | None,
    earlier: Sequence[RoundPrint],
) -> float:
    """HARMFUL, then NO_IMPROVEMENT, for the updates still open; returns the base model's loss."""
    if not rnd.open:
        return math.nan
    base_losses = _checked(evaluate(base))
    scales = dict(zip(rnd.open, clip_scales([rnd.stats.norms[i] for i in rnd.open]), strict=True))
    raw = {i: _checked(evaluate(states[rnd.ids[i]])) for i in rnd.open}
    clipped = {
        i: raw[i]
        if scales[i] == 1.0
        else _checked(evaluate(scaled_state(base, states[rnd.ids[i]], scales[i])))
        for i in rnd.open
    }
    for i in rnd.open:
        gains = [b - v for b, v in zip(base_losses.losses, clipped[i].losses, strict=True)]
        rnd.metrics[i].update(
            clip_scale=scales[i], clipped_loss=clipped[i].mean, best_class_gain=max(gains)
        )
    _leave_one_out(rnd, base, states, scales, evaluate)
    ref = base_losses.mean
    if history is not None and history.best_loss is not None:
        ref = min(ref, history.best_loss)
    best = median_of([rnd.metrics[i]["best_class_gain"] for i in rnd.open])
    for i in rnd.open:
        gain = rnd.metrics[i]["best_class_gain"]
        rnd.metrics[i]["best_gain_ratio"] = gain / best if best > 0 else math.inf
    _check_harm(rnd, base_losses, raw, ref, policy)
    prior_norm = earlier[-1].median_norm if earlier else 0.0
    _check_improvement(rnd, base_losses, clipped, prior_norm, policy)
    return base_losses.mean


def _checked(losses: GroupLosses) -> GroupLosses:
    if not isinstance(losses, GroupLosses):
        raise BadInputError(f"evaluate_fn must return GroupLosses, got {type(losses).__name__}")
    return losses


def _leave_one_out(
    rnd: RoundState,
    base: Mapping[str, torch.Tensor],
    states: Mapping[str, Mapping[str, torch.Tensor]],
    scales: Mapping[int, float],
    evaluate: EvaluateFn,
) -> None:
    """Each open update's contribution to the mean of the open updates' clipped deltas.

    ``loo_rel`` = (loss without it - loss with it) / loss with it: positive when it helps.
    """
    order = list(rnd.open)
    loo = LeaveOneOut(base, [states[rnd.ids[i]] for i in order], [scales[i] for i in order])
    full, without = loo.contributions(evaluate)
    full_loss = _checked(full).mean
    for i, other in zip(order, without, strict=True):
        value = _checked(other).mean - full_loss
        rel = value / full_loss if full_loss > 0 else 0.0
        rnd.metrics[i].update(
            loo=value, loo_rel=rel if math.isfinite(rel) else 0.0, loo_base=full_loss
        )


def _check_harm(
    rnd: RoundState,
    base: GroupLosses,
    losses: Mapping[int, GroupLosses],
    ref: float,
    policy: VerdictPolicy,
) -> None:
    """Reject updates whose loss is absurd, or far above the round's while the mean is
    better without them. The base model's loss counts as one more entry of the
    round, so a round of one or two updates still has a median."""
    pool = [v for v in [losses[i].mean for i in rnd.open] + [base.mean] if math.isfinite(v)]
    median = median_of(pool) if pool else math.inf
    # one-sided: the spread of the losses at or below the median, which attackers (whose
    # losses are high) cannot inflate however many they are (up to half the round)
    lower = [median - v for v in pool if v <= median]
    spread = 1.4826 * median_of(lower) if lower else math.inf
    far = policy.harm_factor * median + ref
    tight = max(median + policy.spread_z * spread, policy.spread_ratio * median)
    absurd = policy.absurd_factor * median + ref
    # leave-one-out: removing one of n updates moves the mean by ~1/n of that update's own
    # effect, so the margin is a share of loss / n; near convergence every loss is tiny and
    # relative changes are noise, so the loss is taken as at least chance level ln(classes)
    chance = math.log(max(2, len(base.losses)))
    n_open = len(rnd.open)
    share = 1.0 / max(1, n_open)
    for i in list(rnd.open):
        loss, metrics = losses[i].mean, rnd.metrics[i]
        metrics.update(
            loss=loss,
            base_loss=base.mean,
            ref_loss=ref,
            loss_limit=min(far, tight),
            loss_ratio=loss / median if median > 0 else math.inf,
            loss_z=(loss - median) / spread if spread > 0 else 0.0,
        )
        alone = (
            f"validation loss {loss:.4g} (median of the round {median:.4g}, reference {ref:.4g}, "
            f"{(loss - median) / spread if spread > 0 else 0:.3g} robust deviations)"
        )
        if not math.isfinite(loss) or loss > absurd:
            why = f"{alone} exceeds {policy.absurd_factor:g} x the median + reference"
        elif (
            (loss > far or loss > tight)
            and not _protected(metrics, policy)
            and metrics["loo"] < -policy.loo_margin * share * max(metrics["loo_base"], chance)
        ):
            why = (
                f"{alone} is far above the round's, it improves no class as much as the "
                f"round's typical update does, and the round's mean loss is "
                f"{-metrics['loo']:.3g} lower without it (limit {policy.loo_margin:g} x "
                f"max({metrics['loo_base']:.3g}, chance level {chance:.3g}) / {len(rnd.open)})"
            )
        elif n_open >= 3 and _points_against(metrics, policy.direction_cosine):
            why = (
                f"update points against the round: its median delta cosine with the others is "
                f"{metrics['median_cosine']:.3g} (limit -{policy.direction_cosine:g}), it "
                f"improves no class of the validation data, and the round's mean loss is "
                f"{-metrics['loo']:.3g} lower without it"
            )
        else:
            continue
        rnd.reject(i, Reason.HARMFUL, why)


def _protected(metrics: Mapping[str, float], policy: VerdictPolicy) -> bool:
    """An honest one-class update: its best class gains at least ``protect_gain`` x what the
    round's median update gains on its own best class, and it does not point against the
    round. (A sign flip can improve a class nobody else improves, by a little: measured
    0.14 where honest updates gained 0.5-0.7 on their best class.)"""
    return (
        metrics.get("best_gain_ratio", 0.0) >= policy.protect_gain
        and metrics.get("median_cosine", 0.0) >= -policy.direction_cosine
    )


def _points_against(metrics: Mapping[str, float], limit: float) -> bool:
    """Three witnesses of a sign flip: anti-aligned with the round, no class of the
    validation data gains from it (clipped to the round's step), and the mean is better
    without it. An honest update on skewed data can be anti-aligned (its classes are not
    the others'), but it improves its own classes, so the second witness spares it."""
    return (
        metrics.get("median_cosine", 0.0) < -limit
        and metrics.get("best_class_gain", 1.0) <= 0.0
        and metrics["loo"] < 0.0
    )


def _check_improvement(
    rnd: RoundState,
    base: GroupLosses,
    losses: Mapping[int, GroupLosses],
    prior_norm: float,
    policy: VerdictPolicy,
) -> None:
    """Free riders: a negligible step, or a short step (under ``short_step`` of the median)
    whose best class gains less than ``min_improvement`` of the round's typical gain pro
    rata to the step. Measured: honest steps go down to 9% of the median (under Krum, whose
    base jumps between clients' models) and such steps can improve no validation class at
    all, so the loss test only covers steps shorter than any honest one seen."""
    if not rnd.open:
        return
    median_norm = median_of([rnd.stats.norms[i] for i in rnd.open])
    # a lone free rider has no round to compare with: the last round's median step stands in
    tiny_ref = max(median_norm, prior_norm)
    scores, typical = _class_scores(base, {i: losses[i] for i in rnd.open}, policy.class_floor)
    need = policy.min_improvement
    for i in list(rnd.open):
        norm = rnd.stats.norms[i]
        step = norm / median_norm if median_norm > 0 else 1.0
        rnd.metrics[i].update(step=step, improvement=scores[i], round_gain=typical)
        if norm < policy.negligible_step * tiny_ref:
            rnd.reject(
                i,
                Reason.NO_IMPROVEMENT,
                f"update moves the model {100 * norm / tiny_ref:.3g}% of the typical step "
                f"(under {100 * policy.negligible_step:g}%): no training was done",
            )
        elif step < policy.short_step and scores[i] < need * step:
            rnd.reject(
                i,
                Reason.NO_IMPROVEMENT,
                f"update is short ({100 * step:.3g}% of the round's median step) and its best "
                f"class gains {100 * scores[i]:.3g}% of the round's typical gain, under "
                f"{100 * need:g}% of what its step should buy ({100 * need * step:.3g}%)",
            )


def _class_scores(
    base: GroupLosses, losses: Mapping[int, GroupLosses], floor: float
) -> tuple[dict[int, float], float]:
    """Per update, its best class gain in units of the round's typical gain on that class.

    A class's reference is the round's median positive gain on it, but at
    least ``floor`` x the round's median total gain, so a class nobody
    improves cannot make a free rider's noise look large. When the round
    improves nothing at all there is no yardstick: every score is +inf.
    Returns the scores and the round's median total gain.
    """
    weights = base.weights
    gains = {
        i: [b - v for b, v in zip(base.losses, g.losses, strict=True)] for i, g in losses.items()
    }
    totals = [
        sum(w * max(0.0, x) for w, x in zip(weights, row, strict=True)) for row in gains.values()
    ]
    typical = median_of(totals)
    if not typical > 0:
        return {i: math.inf for i in gains}, typical
    refs = [
        max(median_of([max(0.0, row[c]) for row in gains.values()]), floor * typical)
        for c in range(len(weights))
    ]
    scores = {i: max(x / r for x, r in zip(row, refs, strict=True)) for i, row in gains.items()}
    return scores, typical
