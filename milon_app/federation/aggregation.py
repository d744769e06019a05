"""The aggregation rules a job can pick on chain: FedAvg, Median, TrimmedMean, Krum, Multi-Krum.

Every validator of a round must derive the same model hash from the same
updates, so each rule is bit-reproducible: inputs are ordered by client id,
arithmetic runs in float64 on the CPU with element-wise operations only
(see :mod:`milon_app.federation.deltas`), Krum ties go to the smaller
client id, and results are cast back to the global model's dtypes at the end.
The work is done chunk by chunk (``CHUNK`` elements of every client at a
time), so memory stays bounded whatever the model size.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from fractions import Fraction
from typing import TYPE_CHECKING, Any, ClassVar

from milon_app.compute.weights import check_compatible, encode_state, sha256_hex
from milon_app.errors import BadInputError
from milon_app.federation.deltas import chunks, tree_sum_rows
from milon_app.federation.types import AggregationResult, Aggregator, ClientUpdate

if TYPE_CHECKING:
    import torch

FEDAVG, MEDIAN, TRIMMED_MEAN, KRUM, MULTI_KRUM = 0, 1, 2, 3, 4

Reducer = Callable[[Sequence["torch.Tensor"]], "torch.Tensor"]


def _prepare(
    global_state: Mapping[str, torch.Tensor], updates: Sequence[ClientUpdate]
) -> tuple[list[ClientUpdate], dict[str, str]]:
    """Order updates canonically; updates that cannot be aggregated are rejected with a reason."""
    if not updates:
        raise BadInputError("no updates to aggregate: the update list is empty")
    if not global_state:
        raise BadInputError("the global model has no tensors")
    seen: dict[str, str] = {}
    for update in updates:
        if not isinstance(update, ClientUpdate) or not isinstance(update.client_id, str):
            raise BadInputError(f"not a ClientUpdate: {update!r:.80}")
        if not update.client_id:
            raise BadInputError("an update has an empty client id")
        key = update.client_id.lower()
        if key in seen:
            raise BadInputError(
                f"client {update.client_id!r} sent two updates (also as {seen[key]!r})"
            )
        seen[key] = update.client_id
    valid: list[ClientUpdate] = []
    rejected: dict[str, str] = {}
    for update in sorted(updates, key=lambda u: (u.client_id.lower(), u.client_id)):
        reason = _problem(global_state, update)
        if reason is None:
            valid.append(update)
        else:
            rejected[update.client_id] = reason
    if not valid:
        details = "; ".join(f"{cid}: {why}" for cid, why in rejected.items())
        raise BadInputError(f"no valid updates to aggregate ({details})")
    return valid, rejected


def _problem(global_state: Mapping[str, torch.Tensor], update: ClientUpdate) -> str | None:
    samples = update.num_samples
    if isinstance(samples, bool) or not isinstance(samples, int) or samples <= 0:
        return f"num_samples must be a positive integer, got {samples!r}"
    try:
        check_compatible(global_state, update.state)
    except BadInputError as exc:
        return str(exc)
    for name in sorted(update.state):
        tensor = update.state[name]
        if tensor.is_floating_point() and not bool(tensor.isfinite().all()):
            return f"tensor {name!r} holds NaN or Inf values"
    return None


def _combine(
    global_state: Mapping[str, torch.Tensor], updates: Sequence[ClientUpdate], reduce: Reducer
) -> dict[str, torch.Tensor]:
    """Apply ``reduce`` to each chunk's client slices (in update order), cast back to the
    global dtypes; ``reduce`` returns float64."""
    import torch

    out: dict[str, torch.Tensor] = {}
    for name in sorted(global_state):
        ref = global_state[name]
        flats = [u.state[name].detach().to("cpu").reshape(-1) for u in updates]
        merged = torch.empty(ref.numel(), dtype=torch.float64)
        for part in chunks(ref.numel()):
            merged[part] = reduce([f[part] for f in flats])
        # Floats: -0.0 -> +0.0, so a zero's sign cannot depend on input order.
        # Integers (counters such as num_batches_tracked): round half to even.
        merged = merged + 0.0 if ref.is_floating_point() else torch.round(merged)
        out[name] = merged.to(ref.dtype).reshape(ref.shape)
    return out


def _sorted_columns(rows: Sequence[torch.Tensor]) -> torch.Tensor:
    """(chunk, n) with each coordinate's client values in ascending order.

    Sorting permutes values exactly, so it runs in the input dtype (half the
    memory of float64) on the contiguous last dimension (the fast layout).
    """
    import torch

    return torch.stack(list(rows), dim=1).sort(dim=1).values


def _weighted_mean(weights: Sequence[int]) -> Reducer:
    import torch

    total = float(sum(weights))

    def reduce(rows: Sequence[torch.Tensor]) -> torch.Tensor:
        # Separate multiply and add (never a fused multiply-add): each rounds once, everywhere.
        acc = rows[0].to(torch.float64).mul_(float(weights[0]))
        for row, weight in zip(rows[1:], weights[1:], strict=True):
            acc.add_(row.to(torch.float64).mul_(float(weight)))
        return acc.div_(total)

    return reduce


def _result(
    state: dict[str, torch.Tensor], accepted: Sequence[ClientUpdate], rejected: dict[str, str]
) -> AggregationResult:
    encoded = encode_state(state)
    return AggregationResult(
        state=state,
        encoded=encoded,
        model_hash=sha256_hex(encoded),
        accepted=sorted(u.client_id for u in accepted),
        rejected=dict(sorted(rejected.items())),
    )


@dataclass(frozen=True)
class FedAvg:
    """Sample-weighted mean of the client states (McMahan et al.); no robustness."""

    rule_id: ClassVar[int] = FEDAVG
    name: ClassVar[str] = "FedAvg"

    def aggregate(
        self, global_state: Mapping[str, torch.Tensor], updates: Sequence[ClientUpdate]
    ) -> AggregationResult:
        valid, rejected = _prepare(global_state, updates)
        state = _combine(global_state, valid, _weighted_mean([u.num_samples for u in valid]))
        return _result(state, valid, rejected)


@dataclass(frozen=True)
class Median:
    """Coordinate-wise median (Yin et al.), unweighted; for even n the mean of the middle two.

    Every valid input counts as accepted: each one took part in every
    coordinate's vote, even if its value was not the one chosen.
    """

    rule_id: ClassVar[int] = MEDIAN
    name: ClassVar[str] = "Median"

    def aggregate(
        self, global_state: Mapping[str, torch.Tensor], updates: Sequence[ClientUpdate]
    ) -> AggregationResult:
        import torch

        valid, rejected = _prepare(global_state, updates)
        n = len(valid)

        def reduce(rows: Sequence[torch.Tensor]) -> torch.Tensor:
            ordered = _sorted_columns(rows)
            upper = ordered[:, n // 2].to(torch.float64)
            if n % 2:
                return upper
            return (ordered[:, n // 2 - 1].to(torch.float64) + upper) / 2.0

        return _result(_combine(global_state, valid, reduce), valid, rejected)


@dataclass(frozen=True)
class TrimmedMean:
    """Coordinate-wise mean after dropping the ⌊beta·n⌋ lowest and highest values, unweighted."""

    beta: float = 0.1
    rule_id: ClassVar[int] = TRIMMED_MEAN
    name: ClassVar[str] = "TrimmedMean"

    def __post_init__(self) -> None:
        beta = self.beta
        if isinstance(beta, bool) or not isinstance(beta, int | float) or not 0 <= beta < 0.5:
            raise BadInputError(f"TrimmedMean beta must be in [0, 0.5), got {beta!r}")

    def trim_count(self, n: int) -> int:
        # Exact decimal arithmetic: 0.29 * 100 must trim 29, not 28.
        return math.floor(Fraction(repr(float(self.beta))) * n)

    def aggregate(
        self, global_state: Mapping[str, torch.Tensor], updates: Sequence[ClientUpdate]
    ) -> AggregationResult:
        import torch

        valid, rejected = _prepare(global_state, updates)
        n = len(valid)
        k = self.trim_count(n)

        def reduce(rows: Sequence[torch.Tensor]) -> torch.Tensor:
            ordered = _sorted_columns(rows)
            acc = ordered[:, k].to(torch.float64)
            for j in range(k + 1, n - k):
                acc.add_(ordered[:, j].to(torch.float64))
            return acc.div_(float(n - 2 * k))

        return _result(_combine(global_state, valid, reduce), valid, rejected)


def pairwise_squared_distances(updates: Sequence[ClientUpdate]) -> list[list[float]]:
    """Squared L2 distances between client states (floating tensors), reproducible bit for bit."""
    import torch

    n = len(updates)
    dist = torch.zeros((n, n), dtype=torch.float64)
    for name in sorted(updates[0].state):
        if not updates[0].state[name].is_floating_point():
            continue
        flats = [u.state[name].detach().reshape(-1) for u in updates]
        for part in chunks(flats[0].numel()):
            block = torch.stack([f[part].to("cpu", dtype=torch.float64) for f in flats])
            for i in range(n - 1):
                diff = block[i + 1 :] - block[i]
                dist[i, i + 1 :] += tree_sum_rows(diff * diff)
    full = dist + dist.T
    return [[float(v) for v in row] for row in full.tolist()]


def krum_scores(updates: Sequence[ClientUpdate], f: int) -> list[float]:
    """Blanchard et al.'s score: sum of squared distances to the n-f-2 nearest other updates."""
    n = len(updates)
    neighbours = n - f - 2
    if neighbours < 1:
        raise BadInputError(
            f"Krum with f={f} needs at least {f + 3} valid updates (n - f - 2 >= 1), got {n}"
        )
    dist = pairwise_squared_distances(updates)
    scores = []
    for i in range(n):
        others = sorted(dist[i][j] for j in range(n) if j != i)
        total = 0.0
        for value in others[:neighbours]:
            total += value
        scores.append(total)
    return scores


def _check_f(f: object, rule: str) -> None:
    if isinstance(f, bool) or not isinstance(f, int) or f < 0:
        raise BadInputError(
            f"{rule} f (assumed Byzantine clients) must be an integer >= 0, got {f!r}"
        )


@dataclass(frozen=True)
class Krum:
    """Picks the single update closest to its n-f-2 nearest neighbours (Blanchard et al. 2017).

    The paper's guarantee needs n >= 2f + 3; scoring only needs n >= f + 3,
    which is what is enforced so a round with a few missing contributors
    still aggregates. Choose ``f`` with the federation size in mind.
    """

    f: int = 1
    rule_id: ClassVar[int] = KRUM
    name: ClassVar[str] = "Krum"

    def __post_init__(self) -> None:
        _check_f(self.f, self.name)

    def aggregate(
        self, global_state: Mapping[str, torch.Tensor], updates: Sequence[ClientUpdate]
    ) -> AggregationResult:
        import torch

        valid, rejected = _prepare(global_state, updates)
        scores = krum_scores(valid, self.f)
        best = min(range(len(valid)), key=lambda i: scores[i])  # first = smallest client id
        chosen = valid[best]
        for i, update in enumerate(valid):
            if i != best:
                rejected[update.client_id] = (
                    f"not selected by Krum: score {scores[i]:.6g} "
                    f"(selected {chosen.client_id} with {scores[best]:.6g})"
                )
        state = _combine(global_state, [chosen], lambda rows: rows[0].to(torch.float64))
        return _result(state, [chosen], rejected)


@dataclass(frozen=True)
class MultiKrum:
    """Averages the m updates with the lowest Krum scores (m defaults to n - f).

    ``weighted`` (default) weighs the selected updates by ``num_samples`` as
    FedAvg does; set it to False for the plain mean of the paper.
    """

    f: int = 1
    m: int | None = None
    weighted: bool = True
    rule_id: ClassVar[int] = MULTI_KRUM
    name: ClassVar[str] = "MultiKrum"

    def __post_init__(self) -> None:
        _check_f(self.f, self.name)
        m = self.m
        if m is not None and (isinstance(m, bool) or not isinstance(m, int) or m < 1):
            raise BadInputError(f"MultiKrum m must be a positive integer or None, got {m!r}")

    def aggregate(
        self, global_state: Mapping[str, torch.Tensor], updates: Sequence[ClientUpdate]
    ) -> AggregationResult:
        valid, rejected = _prepare(global_state, updates)
        n = len(valid)
        m = n - self.f if self.m is None else self.m
        if not 1 <= m <= n:
            raise BadInputError(f"MultiKrum cannot select m={m} of {n} valid updates")
        scores = krum_scores(valid, self.f)
        order = sorted(range(n), key=lambda i: (scores[i], i))
        chosen = sorted(order[:m])
        cutoff = scores[order[m - 1]]
        for i in order[m:]:
            rejected[valid[i].client_id] = (
                f"not among the {m} lowest Multi-Krum scores: score {scores[i]:.6g} "
                f"(cutoff {cutoff:.6g})"
            )
        selected = [valid[i] for i in chosen]
        weights = [u.num_samples if self.weighted else 1 for u in selected]
        state = _combine(global_state, selected, _weighted_mean(weights))
        return _result(state, selected, rejected)


RULES: dict[int, type[FedAvg | Median | TrimmedMean | Krum | MultiKrum]] = {
    FEDAVG: FedAvg,
    MEDIAN: Median,
    TRIMMED_MEAN: TrimmedMean,
    KRUM: Krum,
    MULTI_KRUM: MultiKrum,
}


def make_aggregator(rule_id: int, **params: Any) -> Aggregator:
    """The rule a job names on chain (``aggregationRule``), with its parameters."""
    if isinstance(rule_id, bool) or not isinstance(rule_id, int) or rule_id not in RULES:
        known = ", ".join(f"{rid} ({cls.name})" for rid, cls in RULES.items())
        raise BadInputError(f"unknown aggregation rule id {rule_id!r}: expected one of {known}")
    cls = RULES[rule_id]
    try:
        return cls(**params)
    except TypeError as exc:
        raise BadInputError(f"bad parameters for {cls.name}: {exc}") from exc
