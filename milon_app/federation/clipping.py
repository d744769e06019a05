"""Aggregating a round's accepted updates: norm and sample clipping, then the job's rule.

The committee decides *who is paid* (verdicts and a majority vote); this
module only decides *how much each accepted update moves the model*.

* **Norm clipping.** Every delta ``state - base`` longer than ``CLIP_FACTOR``
  x the median delta norm of the accepted set is scaled down to that length,
  under every rule. Boosting an update (x3, x10) then buys nothing: it
  counts as one median-sized step, like an honest one.
* **Coordinate clipping** (3 or more updates). Each coordinate of a delta
  is clipped to the largest magnitude any *other* accepted update reached
  on it: a lone update cannot move a coordinate that nobody else moves,
  which is how a backdoor writes its trigger (clean data never activates
  the trigger's inputs, so honest deltas leave those weights at zero).
* **Sample clipping.** FedAvg and Multi-Krum weigh updates by
  ``num_samples``, which nobody can check. The weight is
  ``min(num_samples, sample_clip_bps / 10_000 x median, max_samples)``
  (``max_samples`` only when > 0), so claiming 2^63 samples is worth at most
  twice the median claim.
* **Krum / Multi-Krum set weights only.** ``f = (n - 3) // 2``, the most
  Krum tolerates (n >= 2f + 3); with fewer than 3 updates there is no
  neighbour to score and the rule falls back to clipped FedAvg. The result
  lists every update as accepted: being outside Krum's pick is no offence.

Clipped states are computed lazily, one tensor at a time, in float64 and
cast back to the model dtype, so memory stays at the rules' own bound and
the output is byte-identical for any input order or thread count.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Iterator, Mapping, Sequence
from fractions import Fraction
from typing import TYPE_CHECKING

from milon_app.compute.weights import check_compatible
from milon_app.errors import BadInputError
from milon_app.federation.aggregation import (
    KRUM,
    MEDIAN,
    MULTI_KRUM,
    RULES,
    TRIMMED_MEAN,
    FedAvg,
    Krum,
    Median,
    MultiKrum,
    TrimmedMean,
)
from milon_app.federation.deltas import chunks, update_norm
from milon_app.federation.types import AggregationResult, Aggregator, ClientUpdate

if TYPE_CHECKING:
    import torch

CLIP_FACTOR = 1.0  # deltas are clipped to this multiple of the accepted set's median norm
TRIMMED_BETA = 0.2  # TrimmedMean trims 20% at each end (the validator's long-standing choice)
DEFAULT_SAMPLE_CLIP_BPS = 20_000  # 2x the median claimed sample count
KRUM_MIN_UPDATES = 3  # Krum scores against n - f - 2 >= 1 neighbours
COORD_SLACK = 1.0  # x the largest other magnitude; 3 let a backdoor through (18-35% success)
COORD_MIN_UPDATES = 3  # coordinate bounds need two others (with one, each would shrink the other)


class RoundClipper:
    """The clipped deltas of a round: norm scales per update, then coordinate bounds.

    The coordinate bound of update ``i`` on coordinate ``j`` is the largest
    ``|delta_kj|`` among the *other* updates (after norm clipping), so a lone
    update cannot move a coordinate that no other update moves (a backdoor's
    trigger weights, which clean data never exercises). Bounds are computed
    per tensor on first use, chunk by chunk, and kept (two float64 values per
    parameter, whatever the number of updates).
    """

    def __init__(
        self,
        base: Mapping[str, torch.Tensor],
        states: Sequence[Mapping[str, torch.Tensor]],
        scales: Sequence[float],
        *,
        coordinate: bool = True,
        slack: float = COORD_SLACK,
    ) -> None:
        self.base, self.states, self.scales = base, states, list(scales)
        self.coordinate = coordinate and len(states) >= COORD_MIN_UPDATES
        self.slack = slack
        self._bounds: dict[str, tuple[torch.Tensor, torch.Tensor]] = {}

    def delta(self, i: int, name: str, part: slice = slice(None)) -> torch.Tensor:
        """Update i's norm-clipped delta of (a slice of) tensor ``name``, flat float64."""
        import torch

        ref = self.base[name].detach().reshape(-1)[part].to("cpu", dtype=torch.float64)
        raw = self.states[i][name].detach().reshape(-1)[part].to("cpu", dtype=torch.float64)
        return (raw - ref) * self.scales[i]

    def bounds(self, name: str) -> tuple[torch.Tensor, torch.Tensor]:
        """Largest and second-largest |delta| per coordinate over all updates."""
        import torch

        if name not in self._bounds:
            numel = self.base[name].numel()
            top1 = torch.zeros(numel, dtype=torch.float64)
            top2 = torch.zeros(numel, dtype=torch.float64)
            for part in chunks(numel):
                mags = torch.stack(
                    [self.delta(i, name, part).abs() for i in range(len(self.states))]
                )
                best = mags.topk(2, dim=0).values
                top1[part], top2[part] = best[0], best[1]
            self._bounds[name] = (top1, top2)
        return self._bounds[name]

    def state(self, i: int) -> ClippedState:
        return ClippedState(self, i)


class ClippedState(Mapping[str, "torch.Tensor"]):
    """Update i of a :class:`RoundClipper`, computed per tensor when asked (float64, then cast).

    Tensors that clipping leaves alone are returned untouched. The last
    tensor computed is cached, since the rules read each one a few times.
    """

    def __init__(self, clipper: RoundClipper, index: int) -> None:
        self._clipper, self._index = clipper, index
        self._state = clipper.states[index]
        self._cached: tuple[str, torch.Tensor] | None = None

    def __getitem__(self, name: str) -> torch.Tensor:
        tensor = self._state[name]
        clip = self._clipper
        if not tensor.is_floating_point() or (
            clip.scales[self._index] == 1.0 and not clip.coordinate
        ):
            return tensor
        if self._cached is not None and self._cached[0] == name:
            return self._cached[1]
        import torch

        delta = clip.delta(self._index, name)
        if clip.coordinate:
            top1, top2 = clip.bounds(name)
            bound = torch.where(delta.abs() >= top1, top2, top1) * clip.slack
            delta = torch.minimum(torch.maximum(delta, -bound), bound)
        ref = clip.base[name].detach().reshape(-1).to("cpu", dtype=torch.float64)
        out = (ref + delta).to(tensor.dtype).reshape(tensor.shape)
        self._cached = (name, out)
        return out

    def __iter__(self) -> Iterator[str]:
        return iter(self._state)

    def __len__(self) -> int:
        return len(self._state)


def scaled_state(
    base: Mapping[str, torch.Tensor], state: Mapping[str, torch.Tensor], scale: float
) -> Mapping[str, torch.Tensor]:
    """``base + scale * (state - base)``, computed per tensor when read (no coordinate bounds)."""
    return RoundClipper(base, [state], [scale], coordinate=False).state(0)


def median_of(values: Sequence[float]) -> float:
    """The median (mean of the middle two for an even count); the same for any input order."""
    return float(statistics.median(sorted(values)))


def clip_scales(norms: Sequence[float], factor: float = CLIP_FACTOR) -> list[float]:
    """Per update, the factor that shortens its delta to ``factor`` x the median norm (<= 1)."""
    if not norms:
        return []
    bound = factor * median_of(norms)
    return [bound / n if n > bound else 1.0 for n in norms]


def clip_samples(
    samples: Sequence[int], *, sample_clip_bps: int, max_samples: int = 0
) -> list[int]:
    """``min(n, sample_clip_bps/10000 x median, max_samples if > 0)`` for each claimed count.

    Exact integer arithmetic (the median of claims near 2^63 must not round);
    the cap is at least 1 so every accepted update keeps a weight.
    """
    if isinstance(sample_clip_bps, bool) or not isinstance(sample_clip_bps, int):
        raise BadInputError(f"sample_clip_bps must be an integer, got {sample_clip_bps!r}")
    if sample_clip_bps < 10_000:
        raise BadInputError(
            f"sample_clip_bps must be >= 10000 (1x the median), got {sample_clip_bps}"
        )
    if isinstance(max_samples, bool) or not isinstance(max_samples, int) or max_samples < 0:
        raise BadInputError(f"max_samples must be an integer >= 0, got {max_samples!r}")
    ordered = sorted(samples)
    mid = len(ordered) // 2
    median = (
        Fraction(ordered[mid]) if len(ordered) % 2 else Fraction(ordered[mid - 1] + ordered[mid], 2)
    )
    cap = max(1, math.floor(median * sample_clip_bps / 10_000))
    if max_samples > 0:
        cap = min(cap, max_samples)
    return [min(n, cap) for n in samples]


def krum_f(n: int) -> int:
    """Assumed Byzantine count for Krum/Multi-Krum: the most Krum tolerates, (n - 3) // 2."""
    return max(0, (n - 3) // 2)


def rule_for(rule_id: int, n: int, *, trimmed_beta: float = TRIMMED_BETA) -> Aggregator:
    """The job's rule with parameters derived from the number of accepted updates."""
    if isinstance(rule_id, bool) or not isinstance(rule_id, int) or rule_id not in RULES:
        raise BadInputError(f"unknown aggregation rule id {rule_id!r}: expected one of 0..4")
    if rule_id == MEDIAN:
        return Median()
    if rule_id == TRIMMED_MEAN:
        return TrimmedMean(beta=trimmed_beta)
    if rule_id in (KRUM, MULTI_KRUM) and n >= KRUM_MIN_UPDATES:
        f = krum_f(n)
        return Krum(f=f) if rule_id == KRUM else MultiKrum(f=f, m=n - f, weighted=True)
    return FedAvg()  # FedAvg (rule 0), and Krum/Multi-Krum with too few updates to score


def _check_updates(base: Mapping[str, torch.Tensor], updates: Sequence[ClientUpdate]) -> None:
    if not updates:
        raise BadInputError("no accepted updates to aggregate")
    seen: set[str] = set()
    for u in updates:
        if not isinstance(u, ClientUpdate) or not isinstance(u.client_id, str) or not u.client_id:
            raise BadInputError(f"not a ClientUpdate with a client id: {u!r:.80}")
        if u.client_id.lower() in seen:
            raise BadInputError(f"client {u.client_id!r} sent two updates")
        seen.add(u.client_id.lower())
        n = u.num_samples
        if isinstance(n, bool) or not isinstance(n, int) or n <= 0:
            raise BadInputError(f"{u.client_id}: num_samples must be a positive integer, got {n!r}")
        check_compatible(base, u.state)


def aggregate_accepted(
    rule_id: int,
    base_state: Mapping[str, torch.Tensor],
    updates: Sequence[ClientUpdate],
    *,
    max_samples: int,
    sample_clip_bps: int = DEFAULT_SAMPLE_CLIP_BPS,
    trimmed_beta: float = TRIMMED_BETA,
    coordinate: bool = True,
    clip_factor: float = CLIP_FACTOR,
    coordinate_slack: float = COORD_SLACK,
) -> AggregationResult:
    """The round's new model from the updates the committee accepted.

    Deltas are norm-clipped and sample counts clipped (see the module doc),
    then the job's rule combines them. ``result.accepted`` lists every update
    passed in; the rules' own rejections never happen for valid input, and
    invalid input (incompatible state, bad sample count, duplicate client)
    is a BadInputError, since verdicts should have stopped it.
    """
    _check_updates(base_state, updates)
    ordered = sorted(updates, key=lambda u: (u.client_id.lower(), u.client_id))
    norms = [update_norm(base_state, u.state) for u in ordered]
    for u, norm in zip(ordered, norms, strict=True):
        if not math.isfinite(norm):
            raise BadInputError(f"{u.client_id}: update holds NaN or Inf values")
    scales = clip_scales(norms, clip_factor)
    weights = clip_samples(
        [u.num_samples for u in ordered], sample_clip_bps=sample_clip_bps, max_samples=max_samples
    )
    states = [u.state for u in ordered]
    clipper = RoundClipper(
        base_state, states, scales, coordinate=coordinate, slack=coordinate_slack
    )
    clipped = [
        ClientUpdate(u.client_id, clipper.state(i), w)
        for i, (u, w) in enumerate(zip(ordered, weights, strict=True))
    ]
    rule = rule_for(rule_id, len(clipped), trimmed_beta=trimmed_beta)
    result = rule.aggregate(base_state, clipped)
    return AggregationResult(
        state=result.state,
        encoded=result.encoded,
        model_hash=result.model_hash,
        accepted=sorted(u.client_id for u in ordered),
        rejected={},
    )
