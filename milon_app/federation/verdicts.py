"""The verdict every committee member gives on every revealed update of a round.

Each member of the round's committee calls :func:`judge_round` with its own
validation data and submits one :class:`Verdict` per update; the contract
accepts an update when more than half of the committee weight that voted
accepts it, pays accepted authors and slashes rejected ones. Honest
updates must never be rejected, including label-skewed ones, so every
loss-based threshold is relative to the *round* (its median), never to a
fixed factor of the base loss alone. Checks, cheapest first (first failure
is the reason):

1. framing, size, keys/shapes/dtypes, finiteness, sample count;
2. ``UNCHANGED``: the delta is exactly zero;
3. ``REPLAY``: same bytes as, or a delta sketch near-identical to, an update
   this validator accepted in an earlier round (or an earlier base model);
4. ``DUPLICATE``: delta cosine similarity >= ``duplicate_cosine`` with
   another update of the round (every member of such a group is rejected);
5. ``HARMFUL``: a validation loss far above the round's *and* a round mean
   that is clearly better without the update (leave-one-out), or an absurd
   loss (:mod:`milon_app.federation.loss_checks`);
6. ``NO_IMPROVEMENT``: a step under 1% of the round's median step, or a
   step under 5% that also improves no class of the validation data by
   ``min_improvement`` of the round's typical gain, pro rata to the step.

All arithmetic on tensors is chunked float64 with fixed reduction trees
(:mod:`milon_app.federation.fingerprints`), so a validator reproduces its
verdicts bit for bit given the same inputs. Validators hold different data,
so their verdicts on a borderline update may differ; the majority absorbs it.
See docs/aggregation.md for the measurements behind every constant.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

from milon_app.compute.weights import check_compatible, decode_state, encode_state, sha256_hex
from milon_app.errors import BadInputError
from milon_app.federation.clipping import median_of
from milon_app.federation.evaluator import EvaluateFn, GroupLosses, make_evaluator
from milon_app.federation.fingerprints import (
    JudgeHistory,
    RoundPrint,
    delta_stats,
    sketch_cosine,
)
from milon_app.federation.loss_checks import RoundState, check_losses
from milon_app.federation.policy import (
    DEFAULT_POLICY,
    MAX_PLAUSIBLE_SAMPLES,
    Reason,
    Verdict,
    VerdictPolicy,
    majority_accepts,
    unavailable,
)
from milon_app.federation.validation import Submission

if TYPE_CHECKING:
    from collections.abc import Callable

    import torch

    from milon_app.compute.model_spec import ModelSpec
    from milon_app.federation.fingerprints import DeltaStats

    DecodeFn = Callable[..., dict[str, torch.Tensor]]  # decode_state's signature
    StatsFn = Callable[..., DeltaStats]  # delta_stats's signature


# -- decoding ----------------------------------------------------------------------------------
def _samples_problem(samples: object, max_samples: int) -> str | None:
    if isinstance(samples, bool) or not isinstance(samples, int) or samples <= 0:
        return f"num_samples {samples!r} is not a positive integer"
    if 0 < max_samples < samples:
        return f"num_samples {samples} exceeds the job's max_samples {max_samples}"
    if samples > MAX_PLAUSIBLE_SAMPLES:
        return f"num_samples {samples} is beyond any dataset (limit 2^48)"
    return None


def _decode(
    base: Mapping[str, torch.Tensor],
    sub: Submission,
    max_bytes: int,
    max_samples: int,
    decode: DecodeFn = decode_state,
) -> tuple[Verdict | None, dict[str, torch.Tensor] | None]:
    """The decoded state, or the verdict that ends the update's review here."""
    cid = sub.client_id
    problem = _samples_problem(sub.num_samples, max_samples)
    if problem is not None:
        return Verdict(cid, Reason.BAD_SAMPLES, problem), None
    try:
        state = decode(bytes(sub.update_bytes), max_bytes=max_bytes, require_finite=False)
    except BadInputError as exc:
        return Verdict(cid, Reason.MALFORMED, str(exc)), None
    try:
        check_compatible(base, state)
    except BadInputError as exc:
        return Verdict(cid, Reason.INCOMPATIBLE, str(exc)), None
    for name in sorted(state):
        tensor = state[name]
        if tensor.is_floating_point() and not bool(tensor.isfinite().all()):
            return Verdict(cid, Reason.NON_FINITE, f"tensor {name!r} holds NaN or Inf values"), None
    return None, state


# -- the round ---------------------------------------------------------------------------------
def judge_round(
    base_state: Mapping[str, torch.Tensor],
    submissions: Sequence[Submission],
    *,
    max_bytes: int,
    evaluate_fn: EvaluateFn | None = None,
    val_data: tuple[torch.Tensor, torch.Tensor] | None = None,
    spec: ModelSpec | None = None,
    device: str | torch.device = "cpu",
    policy: VerdictPolicy = DEFAULT_POLICY,
    history: JudgeHistory | None = None,
    decode_fn: DecodeFn = decode_state,
    stats_fn: StatsFn = delta_stats,
) -> dict[str, Verdict]:
    """One verdict per submission (keyed by client id, sorted), from this validator's data.

    Give either ``evaluate_fn(state) -> GroupLosses`` or ``val_data`` with
    ``spec``. With a ``history``, earlier rounds' accepted updates are
    checked for replays and this round is recorded in it (judging the same
    base again replaces the record). Misuse (no evaluator, the same client
    twice) raises BadInputError; a bad update never raises. ``decode_fn`` and
    ``stats_fn`` stand in for :func:`decode_state` and :func:`delta_stats` (the
    simulation shares their results between judges: milon_app/sim/shared.py).
    """
    evaluate = _resolve_evaluator(evaluate_fn, val_data, spec, device)
    if isinstance(max_bytes, bool) or not isinstance(max_bytes, int) or max_bytes <= 0:
        raise BadInputError(f"max_bytes must be a positive integer, got {max_bytes!r}")
    verdicts, states, digests = _decode_all(
        base_state, submissions, max_bytes, policy.max_samples, decode_fn
    )
    ids = sorted(states, key=lambda c: (c.lower(), c))
    salt = history.salt if history is not None else 0
    stats = stats_fn(base_state, [states[c] for c in ids], salt=salt, sketch_dim=policy.sketch_dim)
    rnd = RoundState(
        ids=ids,
        digests=[digests[c] for c in ids],
        stats=stats,
        base_digest=sha256_hex(encode_state(base_state)),
        open=list(range(len(ids))),
        metrics={i: {"norm": stats.norms[i]} for i in range(len(ids))},
    )
    earlier = history.earlier(rnd.base_digest) if history is not None else []
    _check_unchanged(rnd)
    _check_replays(rnd, earlier, policy)
    _check_duplicates(rnd, policy)
    base_loss = check_losses(rnd, base_state, states, evaluate, policy, history, earlier)
    for i in list(rnd.open):
        rnd.verdicts[ids[i]] = Verdict(
            ids[i], Reason.ACCEPTED, _accept_detail(rnd.metrics[i]), rnd.metrics[i]
        )
    if history is not None:
        _remember(history, rnd, base_loss, policy)
    verdicts.update(rnd.verdicts)
    return {cid: verdicts[cid] for cid in sorted(verdicts, key=lambda c: (c.lower(), c))}


def _resolve_evaluator(
    evaluate_fn: EvaluateFn | None,
    val_data: tuple[torch.Tensor, torch.Tensor] | None,
    spec: ModelSpec | None,
    device: str | torch.device,
) -> EvaluateFn:
    if evaluate_fn is not None:
        if val_data is not None:
            raise BadInputError("give either evaluate_fn or val_data with spec, not both")
        return evaluate_fn
    if val_data is None or spec is None:
        raise BadInputError("judge_round needs evaluate_fn, or val_data together with spec")
    return make_evaluator(spec, val_data, device=device)


def _decode_all(
    base: Mapping[str, torch.Tensor],
    submissions: Sequence[Submission],
    max_bytes: int,
    max_samples: int,
    decode: DecodeFn = decode_state,
) -> tuple[dict[str, Verdict], dict[str, dict[str, torch.Tensor]], dict[str, str]]:
    verdicts: dict[str, Verdict] = {}
    states: dict[str, dict[str, torch.Tensor]] = {}
    digests: dict[str, str] = {}
    seen: dict[str, str] = {}
    for sub in submissions:
        if (
            not isinstance(sub, Submission)
            or not isinstance(sub.client_id, str)
            or not sub.client_id
        ):
            raise BadInputError(f"not a Submission with a client id: {sub!r:.80}")
        key = sub.client_id.lower()
        if key in seen:
            raise BadInputError(f"client {sub.client_id!r} submitted twice (also as {seen[key]!r})")
        seen[key] = sub.client_id
        verdict, state = _decode(base, sub, max_bytes, max_samples, decode)
        if verdict is not None:
            verdicts[sub.client_id] = verdict
        elif state is not None:
            states[sub.client_id] = state
            digests[sub.client_id] = sha256_hex(bytes(sub.update_bytes))
    return verdicts, states, digests


def _check_unchanged(rnd: RoundState) -> None:
    for i in list(rnd.open):
        if rnd.stats.norms[i] == 0.0:
            rnd.reject(i, Reason.UNCHANGED, "update equals the base model: no training was done")


def _check_replays(rnd: RoundState, earlier: Sequence[RoundPrint], policy: VerdictPolicy) -> None:
    for i in list(rnd.open):
        why = _replay_of(rnd.digests[i], rnd.stats.sketches[i], earlier, policy.replay_cosine)
        if why is not None:
            rnd.reject(i, Reason.REPLAY, why)


def _replay_of(
    digest: str, sketch: Sequence[float], earlier: Sequence[RoundPrint], threshold: float
) -> str | None:
    """Why this update repeats an earlier round, newest round first; None if it does not."""
    for age, past in enumerate(reversed(earlier), start=1):
        if digest == past.base_digest:
            return f"update is the global model of a round {age} round(s) ago"
        if digest in past.digests:
            return f"update is byte-identical to one accepted {age} round(s) ago"
        for old in past.sketches:
            cos = sketch_cosine(sketch, old)
            if cos >= threshold:
                return (
                    f"update's change repeats one accepted {age} round(s) ago "
                    f"(sketch cosine {cos:.7f} >= {threshold:g})"
                )
    return None


def _check_duplicates(rnd: RoundState, policy: VerdictPolicy) -> None:
    """Reject every member of each group of near-identical deltas (copies are not work)."""
    stats, open_ = rnd.stats, list(rnd.open)
    for i in open_:
        cosines = [stats.cosine(i, j) for j in open_ if j != i]
        rnd.metrics[i]["max_cosine"] = max(cosines, default=0.0)
        rnd.metrics[i]["median_cosine"] = median_of(cosines) if cosines else 0.0
    groups: dict[int, list[int]] = {}
    for i in open_:
        twins = [j for j in open_ if j != i and stats.cosine(i, j) >= policy.duplicate_cosine]
        if twins:
            groups[i] = twins
    for i, twins in groups.items():
        names = ", ".join(rnd.ids[j] for j in twins[:3]) + (" ..." if len(twins) > 3 else "")
        rnd.reject(
            i,
            Reason.DUPLICATE,
            f"update is near-identical to {len(twins)} other update(s) of this round ({names}): "
            f"delta cosine {rnd.metrics[i]['max_cosine']:.7f} >= {policy.duplicate_cosine:g}",
        )


def _accept_detail(m: Mapping[str, float]) -> str:
    if "loss" not in m:
        return "accepted"
    return (
        f"accepted: validation loss {m['loss']:.4g} (limit {m['loss_limit']:.4g}), step "
        f"{100 * m.get('step', 1.0):.3g}% of the round median, best class gain "
        f"{m.get('improvement', math.inf):.3g}x the round's typical"
    )


def _remember(
    history: JudgeHistory, rnd: RoundState, base_loss: float, policy: VerdictPolicy
) -> None:
    accepted = [i for i in range(len(rnd.ids)) if rnd.verdicts[rnd.ids[i]].accepted]
    norms = [rnd.stats.norms[i] for i in accepted]
    entry = RoundPrint(
        base_digest=rnd.base_digest,
        digests=[rnd.digests[i] for i in accepted],
        sketches=[rnd.stats.sketches[i] for i in accepted],
        median_norm=median_of(norms) if norms else 0.0,
    )
    history.record(entry, base_loss, keep=policy.history_rounds)


__all__ = [
    "DEFAULT_POLICY",
    "GroupLosses",
    "JudgeHistory",
    "Reason",
    "Verdict",
    "VerdictPolicy",
    "judge_round",
    "majority_accepts",
    "make_evaluator",
    "unavailable",
]
