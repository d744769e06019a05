"""Deciding *who* to pay: screening updates after robust aggregation.

Robust rules (median, trimmed mean) blunt a byzantine update's effect on the
model, but a validator must also say which contributors earned their reward.
An update is rejected when it is a no-op (identical to the global model: a
lazy node that did not train), a byte-for-byte duplicate of another member's
update (copying), or an outlier far from the robust aggregate. Every check
is deterministic (float64, fixed order) so independent validators agree.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

from milon_app.federation.deltas import squared_distance

if TYPE_CHECKING:
    import torch

    from milon_app.federation.types import ClientUpdate

OUTLIER_FACTOR = 5.0  # honest updates differ ~3x in size when their epochs do
MIN_FOR_OUTLIERS = 4  # with fewer, the median is one of the updates itself


def screen_submissions(
    global_state: Mapping[str, torch.Tensor], digests: Mapping[str, str], global_digest: str
) -> dict[str, str]:
    """Rejections decidable from hashes alone: unchanged global model, duplicated updates."""
    rejected: dict[str, str] = {}
    seen: dict[str, list[str]] = {}
    for client, digest in sorted(digests.items()):
        seen.setdefault(digest, []).append(client)
    for digest, clients in seen.items():
        if digest == global_digest:
            for c in clients:
                rejected[c] = "update is the unchanged global model (no training done)"
        elif len(clients) > 1:
            for c in clients:
                rejected[c] = f"update is a byte-identical copy shared by {len(clients)} members"
    del global_state
    return rejected


def outliers(
    aggregate: Mapping[str, torch.Tensor],
    updates: Sequence[ClientUpdate],
    factor: float = OUTLIER_FACTOR,
) -> dict[str, str]:
    """Updates whose distance to the robust aggregate exceeds ``factor`` x the median distance."""
    if len(updates) < MIN_FOR_OUTLIERS:
        return {}
    ordered = sorted(updates, key=lambda u: u.client_id)
    dist = [math.sqrt(squared_distance(u.state, aggregate)) for u in ordered]
    med = statistics.median(dist)
    limit = factor * med + 1e-12
    return {
        u.client_id: f"update is {d:.3g} from the robust aggregate, over {factor:g}x the median "
        f"distance {med:.3g}"
        for u, d in zip(ordered, dist, strict=True)
        if d > limit
    }
