"""Round statistics of update deltas, computed chunk by chunk, and a validator's replay memory.

A verdict compares every update of a round with the others (norms, cosine
similarities) and with earlier rounds (sketches). All of it comes from one
pass over fixed ``CHUNK``-element slices of every floating tensor, so memory
stays at ``n_updates x CHUNK`` float64 values whatever the model size, and
every sum is a fixed pairwise tree of element-wise float64 operations
(:mod:`milon_app.federation.deltas`): the same inputs give the same bits on
any thread count.

A *sketch* is a short signed count-sketch of a delta: coordinate ``j`` of
tensor ``name`` adds ``sign(salt, name, j) * delta[j]`` to bucket
``j mod dim``. Inner products are preserved in expectation, so cosine
similarities of sketches estimate those of the deltas. The signs come from a
per-validator secret ``salt``, so a contributor cannot craft a perturbation
that changes the sketch without changing the delta. A :class:`JudgeHistory`
keeps the sketches and blob digests of the updates a validator accepted in
recent rounds, plus the job's best validation loss; it is plain JSON.
"""

from __future__ import annotations

import hashlib
import json
import math
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from milon_app.errors import BadInputError
from milon_app.federation.deltas import chunks, tree_sum_rows

if TYPE_CHECKING:
    import torch

SKETCH_DIM = 32  # floats per remembered update: 32 x 8 bytes, estimates cosines to ~0.2 / sqrt(32)
HISTORY_ROUNDS = 16  # rounds of fingerprints a validator keeps (a replay older than that passes)
HISTORY_VERSION = 1
_M64 = 0xFFFFFFFFFFFFFFFF


@dataclass(frozen=True)
class DeltaStats:
    """Per-update norms, pairwise inner products (optional) and sketches of ``state - base``."""

    norms: list[float]
    gram: list[list[float]]  # gram[i][j] = <delta_i, delta_j>; empty when not asked for
    sketches: list[list[float]]

    def cosine(self, i: int, j: int) -> float:
        """Cosine similarity of deltas i and j (0 when either is zero)."""
        denom = self.norms[i] * self.norms[j]
        return self.gram[i][j] / denom if denom > 0 else 0.0


def _signs(salt: int, name: str, part: slice) -> npt.NDArray[np.float64]:
    """+-1 for each coordinate of ``part`` of tensor ``name``: splitmix64 of (salt, name, index)."""
    name_key = int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "little")
    key = np.uint64((salt ^ name_key) & _M64)
    idx = np.arange(part.start, part.stop, dtype=np.uint64)
    with np.errstate(over="ignore"):
        z = idx * np.uint64(0x9E3779B97F4A7C15) + key
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        z = z ^ (z >> np.uint64(31))
    return np.where((z & np.uint64(1)) == 1, 1.0, -1.0).astype(np.float64)


def delta_stats(
    base: Mapping[str, torch.Tensor],
    states: Sequence[Mapping[str, torch.Tensor]],
    *,
    salt: int = 0,
    sketch_dim: int = SKETCH_DIM,
    gram: bool = True,
) -> DeltaStats:
    """Norms, Gram matrix and sketches of every ``state - base`` in one chunked pass.

    States must already match ``base`` in keys, shapes and dtypes. Only
    floating tensors count (counters such as ``num_batches_tracked`` do not).
    """
    import torch

    n = len(states)
    sq = torch.zeros(n, dtype=torch.float64)
    dots = torch.zeros((n, n), dtype=torch.float64)
    sketch = torch.zeros((n, sketch_dim), dtype=torch.float64)
    for name in sorted(base):
        ref = base[name]
        if not ref.is_floating_point() or n == 0:
            continue
        flat_ref = ref.detach().reshape(-1)
        flats = [s[name].detach().reshape(-1) for s in states]
        for part in chunks(flat_ref.numel()):
            origin = flat_ref[part].to("cpu", dtype=torch.float64)
            rows = torch.stack([f[part].to("cpu", dtype=torch.float64) - origin for f in flats])
            sq += tree_sum_rows(rows * rows)
            if gram:
                for i in range(n - 1):
                    dots[i, i + 1 :] += tree_sum_rows(rows[i + 1 :] * rows[i])
            sketch += _sketch_rows(rows, torch.from_numpy(_signs(salt, name, part)), sketch_dim)
    full = dots + dots.T
    for i in range(n):
        full[i, i] = sq[i]
    return DeltaStats(
        norms=[math.sqrt(float(v)) for v in sq.tolist()],
        gram=[[float(v) for v in row] for row in full.tolist()] if gram else [],
        sketches=[[float(v) for v in row] for row in sketch.tolist()],
    )


def _sketch_rows(rows: torch.Tensor, signs: torch.Tensor, dim: int) -> torch.Tensor:
    """(n, dim) bucket sums of ``rows * signs``; bucket of coordinate j is j mod dim."""
    import torch

    n, width = rows.shape
    signed = rows * signs
    pad = (-width) % dim
    if pad:
        signed = torch.cat((signed, signed.new_zeros((n, pad))), dim=1)
    # (n, width/dim, dim) -> (n, dim, width/dim): each bucket's values contiguous, summed by tree
    buckets = signed.reshape(n, -1, dim).transpose(1, 2).reshape(n * dim, -1)
    return tree_sum_rows(buckets.contiguous()).reshape(n, dim)


def sketch_cosine(a: Sequence[float], b: Sequence[float]) -> float:
    """Cosine similarity of two sketches (0 when either is zero); fixed summation order."""
    dot = na = nb = 0.0
    for x, y in zip(a, b, strict=True):
        dot += x * y
        na += x * x
        nb += y * y
    return dot / math.sqrt(na * nb) if na > 0 and nb > 0 else 0.0


@dataclass
class RoundPrint:
    """What a validator remembers of one round: its base, and the updates it accepted."""

    base_digest: str
    digests: list[str] = field(default_factory=list)
    sketches: list[list[float]] = field(default_factory=list)
    median_norm: float = 0.0  # the accepted updates' median delta norm


@dataclass
class JudgeHistory:
    """A validator's memory across the rounds of one job; persist it with :meth:`to_json`.

    ``salt`` keys the sketch signs and must stay secret to this validator (a
    fresh random one by default); ``best_loss`` is the lowest base-model loss
    this validator measured for the job, the anchor that keeps a poisoned base
    from loosening the harm check.
    """

    salt: int = field(default_factory=lambda: secrets.randbits(64))
    best_loss: float | None = None
    rounds: list[RoundPrint] = field(default_factory=list)

    def earlier(self, base_digest: str) -> list[RoundPrint]:
        """Rounds other than the one built on ``base_digest`` (a re-judged round is no replay)."""
        return [r for r in self.rounds if r.base_digest != base_digest]

    def record(self, entry: RoundPrint, base_loss: float, keep: int = HISTORY_ROUNDS) -> None:
        """Remember a judged round (replacing an earlier judgement of the same base)."""
        self.rounds = [r for r in self.rounds if r.base_digest != entry.base_digest] + [entry]
        self.rounds = self.rounds[-keep:] if keep > 0 else []
        if math.isfinite(base_loss) and (self.best_loss is None or base_loss < self.best_loss):
            self.best_loss = base_loss

    def to_json(self) -> str:
        return json.dumps(
            {
                "version": HISTORY_VERSION,
                "salt": self.salt,
                "best_loss": self.best_loss,
                "rounds": [
                    {
                        "base": r.base_digest,
                        "digests": r.digests,
                        "sketches": r.sketches,
                        "median_norm": r.median_norm,
                    }
                    for r in self.rounds
                ],
            },
            sort_keys=True,
        )

    @classmethod
    def from_json(cls, text: str | bytes) -> JudgeHistory:
        """Parse what :meth:`to_json` wrote; anything else is a BadInputError."""
        try:
            obj = json.loads(text)
            if obj.get("version") != HISTORY_VERSION:
                raise ValueError(f"version {obj.get('version')!r}, expected {HISTORY_VERSION}")
            salt = obj["salt"]
            best = obj["best_loss"]
            if isinstance(salt, bool) or not isinstance(salt, int) or not 0 <= salt <= _M64:
                raise ValueError("salt is not a 64-bit unsigned integer")
            if best is not None and not isinstance(best, int | float):
                raise ValueError("best_loss is not a number")
            rounds = [_round_from(r) for r in obj["rounds"]]
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise BadInputError(f"judge history is not valid: {exc}") from exc
        return cls(salt=salt, best_loss=None if best is None else float(best), rounds=rounds)


def _round_from(obj: Any) -> RoundPrint:
    base, digests, sketches = obj["base"], obj["digests"], obj["sketches"]
    if not isinstance(base, str) or not all(isinstance(d, str) for d in digests):
        raise ValueError("digests must be strings")
    if len(sketches) != len(digests):
        raise ValueError("a round has a different number of digests and sketches")
    rows = [[float(v) for v in row] for row in sketches]
    norm = float(obj["median_norm"])
    if not (math.isfinite(norm) and norm >= 0):
        raise ValueError("median_norm is not a finite number >= 0")
    return RoundPrint(base_digest=base, digests=list(digests), sketches=rows, median_norm=norm)
