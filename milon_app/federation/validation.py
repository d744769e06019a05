"""Checks a validator runs on every update blob before it may enter aggregation.

A rejected update never raises: the outcome carries a reason a person can act
on, because validators report it on chain and contributors read it in their
logs. Checks run cheapest first: framing and size, finiteness, key/shape/dtype
match with the global model, distance from the global model, validation loss.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from milon_app.compute.weights import check_compatible, decode_state
from milon_app.errors import BadInputError, MilonError
from milon_app.federation.deltas import update_norm
from milon_app.federation.types import AggregationResult, Aggregator, ClientUpdate

if TYPE_CHECKING:
    import torch

ValFn = Callable[[Mapping[str, "torch.Tensor"]], float]


@dataclass(frozen=True)
class ValidationOutcome:
    ok: bool
    reason: str | None
    state: dict[str, torch.Tensor] | None
    norm: float | None = None
    val_loss: float | None = None


def _reject(reason: str, norm: float | None = None, loss: float | None = None) -> ValidationOutcome:
    return ValidationOutcome(ok=False, reason=reason, state=None, norm=norm, val_loss=loss)


def validate_update(
    global_state: Mapping[str, torch.Tensor],
    update_bytes: bytes,
    *,
    max_bytes: int,
    norm_bound: float | None = None,
    val_fn: ValFn | None = None,
    max_val_loss: float | None = None,
) -> ValidationOutcome:
    """Decode and check one update blob against the global model.

    ``norm_bound`` limits the L2 norm of (update - global) over the floating
    tensors; ``val_fn(state)`` returns a validation loss, which must be finite
    and, when ``max_val_loss`` is set, at most that.
    """
    if norm_bound is not None and not (math.isfinite(norm_bound) and norm_bound >= 0):
        raise BadInputError(f"norm_bound must be a finite number >= 0, got {norm_bound!r}")
    if max_val_loss is not None and val_fn is None:
        raise BadInputError("max_val_loss is set but no val_fn was given to compute the loss")
    try:
        state = decode_state(update_bytes, max_bytes=max_bytes, require_finite=True)
        check_compatible(global_state, state)
    except BadInputError as exc:
        return _reject(str(exc))
    norm = None
    if norm_bound is not None:
        norm = update_norm(global_state, state)
        if norm > norm_bound:
            return _reject(f"update norm {norm:.3g} exceeds bound {norm_bound:g}", norm)
    loss = None
    if val_fn is not None:
        try:
            loss = float(val_fn(state))
        except MilonError as exc:
            return _reject(f"validation failed: {exc}", norm)
        if not math.isfinite(loss):
            return _reject(f"validation loss is {loss} (not finite)", norm, loss)
        if max_val_loss is not None and loss > max_val_loss:
            return _reject(
                f"validation loss {loss:.4g} exceeds threshold {max_val_loss:g}", norm, loss
            )
    return ValidationOutcome(ok=True, reason=None, state=state, norm=norm, val_loss=loss)


@dataclass(frozen=True)
class Submission:
    """An update blob as a validator receives it: who sent it and how many samples it claims."""

    client_id: str
    update_bytes: bytes
    num_samples: int


@dataclass(frozen=True)
class RoundOutcome:
    result: AggregationResult
    outcomes: dict[str, ValidationOutcome] = field(default_factory=dict)


def validate_and_aggregate(
    aggregator: Aggregator,
    global_state: Mapping[str, torch.Tensor],
    submissions: Sequence[Submission],
    *,
    max_bytes: int,
    norm_bound: float | None = None,
    val_fn: ValFn | None = None,
    max_val_loss: float | None = None,
) -> RoundOutcome:
    """A validator's round: check every blob, aggregate the valid ones, merge the rejections."""
    outcomes: dict[str, ValidationOutcome] = {}
    updates: list[ClientUpdate] = []
    for sub in submissions:
        outcome = validate_update(
            global_state,
            sub.update_bytes,
            max_bytes=max_bytes,
            norm_bound=norm_bound,
            val_fn=val_fn,
            max_val_loss=max_val_loss,
        )
        if sub.client_id in outcomes:
            raise BadInputError(f"client {sub.client_id!r} submitted twice")
        outcomes[sub.client_id] = outcome
        if outcome.ok and outcome.state is not None:
            updates.append(ClientUpdate(sub.client_id, outcome.state, sub.num_samples))
    refused = {cid: o.reason or "invalid" for cid, o in outcomes.items() if not o.ok}
    if not updates:
        details = "; ".join(f"{cid}: {why}" for cid, why in sorted(refused.items()))
        raise BadInputError(f"no update passed validation ({details or 'no submissions'})")
    result = aggregator.aggregate(global_state, updates)
    merged = dict(sorted({**result.rejected, **refused}.items()))
    final = AggregationResult(
        state=result.state,
        encoded=result.encoded,
        model_hash=result.model_hash,
        accepted=result.accepted,
        rejected=merged,
    )
    return RoundOutcome(result=final, outcomes=outcomes)
