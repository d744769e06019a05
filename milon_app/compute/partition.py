"""Deterministic shuffles and client partitions for simulations and shared datasets.

``stable_permutation`` is computed from a hash (splitmix64) rather than a
library RNG, so every node and every numpy version derives the same order
from the same seed. The Dirichlet split needs real random draws and uses
numpy's PCG64 (stable within a numpy version). Simulations name a split as
text (``parse_partition("dirichlet:0.3")``, ``"shards:2"``, ``"iid"``) and
call ``split_clients``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from milon_app.errors import BadInputError

IntArray = npt.NDArray[np.int64]
_M64 = np.uint64(0xFFFFFFFFFFFFFFFF)


def _splitmix64(x: npt.NDArray[np.uint64]) -> npt.NDArray[np.uint64]:
    with np.errstate(over="ignore"):
        z = x + np.uint64(0x9E3779B97F4A7C15)
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        out: npt.NDArray[np.uint64] = z ^ (z >> np.uint64(31))
        return out


def stable_permutation(n: int, seed: int) -> IntArray:
    """A permutation of ``range(n)`` that depends only on ``(n, seed)``."""
    if n < 0:
        raise BadInputError(f"cannot permute {n} items")
    mixed_seed = _splitmix64(np.array([seed & 0xFFFFFFFFFFFFFFFF], dtype=np.uint64))[0]
    keys = _splitmix64(np.arange(n, dtype=np.uint64) ^ mixed_seed)
    return np.argsort(keys, kind="stable").astype(np.int64)


def _check_clients(n_samples: int, n_clients: int) -> None:
    if isinstance(n_clients, bool) or not isinstance(n_clients, int) or n_clients < 1:
        raise BadInputError(f"n_clients must be a positive integer, got {n_clients!r}")
    if n_clients > n_samples:
        raise BadInputError(f"cannot split {n_samples} samples among {n_clients} clients")


def partition_iid(n_samples: int, n_clients: int, seed: int) -> list[IntArray]:
    """Shuffle, then cut into ``n_clients`` parts whose sizes differ by at most one."""
    _check_clients(n_samples, n_clients)
    perm = stable_permutation(n_samples, seed)
    return [np.sort(part) for part in np.array_split(perm, n_clients)]


def partition_dirichlet(
    labels: npt.ArrayLike,
    n_clients: int,
    alpha: float,
    seed: int,
    *,
    min_size: int = 1,
    max_tries: int = 100,
) -> list[IntArray]:
    """Label-skewed split: each class is spread over clients by a Dirichlet(alpha) draw.

    Small ``alpha`` (0.1) gives clients few classes each; large (100) is close to IID.
    Draws are repeated until every client has ``min_size`` samples.
    """
    y = _int_labels(labels)
    _check_clients(len(y), n_clients)
    if not (isinstance(alpha, (int, float)) and np.isfinite(alpha) and alpha > 0):
        raise BadInputError(f"alpha must be a positive number, got {alpha!r}")
    if min_size < 0 or min_size * n_clients > len(y):
        raise BadInputError(f"min_size {min_size} x {n_clients} clients exceeds {len(y)} samples")
    rng = np.random.default_rng(seed)
    classes = np.unique(y)
    by_class = [np.flatnonzero(y == c) for c in classes]
    for _ in range(max_tries):
        parts: list[list[IntArray]] = [[] for _ in range(n_clients)]
        for idx in by_class:
            shuffled = idx[rng.permutation(len(idx))]
            props = rng.dirichlet(np.full(n_clients, float(alpha)))
            cuts = (np.cumsum(props)[:-1] * len(idx)).astype(np.int64)
            for client, chunk in enumerate(np.split(shuffled, cuts)):
                parts[client].append(chunk)
        out = [np.sort(np.concatenate(p)).astype(np.int64) for p in parts]
        if min(len(p) for p in out) >= min_size:
            return out
    raise BadInputError(
        f"no Dirichlet(alpha={alpha}) split gave every one of {n_clients} clients "
        f"{min_size} samples in {max_tries} tries; raise alpha or lower min_size"
    )


def partition_shards(
    labels: npt.ArrayLike, n_clients: int, shards_per_client: int, seed: int
) -> list[IntArray]:
    """Pathological label skew (McMahan et al. 2017): sort by label, cut into
    ``n_clients * shards_per_client`` equal shards, hand each client that many at random.

    With 2 shards per client most clients hold two classes. Ties within a label
    are broken by a seeded stable permutation, so the split depends only on the seed.
    """
    y = _int_labels(labels)
    if (
        isinstance(shards_per_client, bool)
        or not isinstance(shards_per_client, int)
        or shards_per_client < 1
    ):
        raise BadInputError(
            f"shards per client must be a positive integer, got {shards_per_client!r}"
        )
    _check_clients(len(y), n_clients)
    total = n_clients * shards_per_client
    if total > len(y):
        raise BadInputError(
            f"cannot cut {len(y)} samples into {n_clients} clients x {shards_per_client} "
            f"shards ({total} shards)"
        )
    shuffled = stable_permutation(len(y), seed)
    by_label = shuffled[np.argsort(y[shuffled], kind="stable")]
    pieces = np.array_split(by_label, total)
    order = stable_permutation(total, seed ^ 0x5EED)
    return [
        np.sort(np.concatenate([pieces[s] for s in order[c::n_clients]])).astype(np.int64)
        for c in range(n_clients)
    ]


def _int_labels(labels: npt.ArrayLike) -> npt.NDArray[np.integer]:
    y = np.asarray(labels)
    if y.ndim != 1 or not np.issubdtype(y.dtype, np.integer):
        raise BadInputError("labels must be a 1-d integer array")
    return y


PARTITION_KINDS = ("iid", "dirichlet", "shards")
_PARTITION_HELP = '"iid", "dirichlet:<alpha>" (e.g. dirichlet:0.3) or "shards:<k>" (e.g. shards:2)'


@dataclass(frozen=True)
class PartitionSpec:
    """How a simulation splits a training set among clients; ``str()`` gives the text back."""

    kind: str = "iid"
    alpha: float = 0.0  # Dirichlet concentration (kind "dirichlet")
    shards: int = 0  # shards per client (kind "shards")

    def __str__(self) -> str:
        if self.kind == "dirichlet":
            return f"dirichlet:{self.alpha:g}"
        if self.kind == "shards":
            return f"shards:{self.shards}"
        return "iid"


def parse_partition(text: str) -> PartitionSpec:
    """``"iid"``, ``"dirichlet:0.3"`` or ``"shards:2"`` -> a PartitionSpec.

    Bad text is a BadInputError that quotes it, since it usually comes from a command line.
    """
    if not isinstance(text, str):
        raise BadInputError(f"partition must be text such as {_PARTITION_HELP}, got {text!r}")
    kind, sep, arg = text.strip().lower().partition(":")
    if kind == "iid" and not sep:
        return PartitionSpec("iid")
    if kind == "dirichlet" and sep:
        try:
            alpha = float(arg)
        except ValueError:
            alpha = math.nan
        if not (math.isfinite(alpha) and alpha > 0):
            raise BadInputError(
                f"partition {text!r}: alpha {arg!r} is not a positive number (e.g. dirichlet:0.3)"
            )
        return PartitionSpec("dirichlet", alpha=alpha)
    if kind == "shards" and sep:
        if not arg.isdigit() or int(arg) < 1:
            raise BadInputError(
                f"partition {text!r}: shards per client {arg!r} is not a positive integer "
                "(e.g. shards:2)"
            )
        return PartitionSpec("shards", shards=int(arg))
    raise BadInputError(f"unknown partition {text!r}: expected {_PARTITION_HELP}")


def split_clients(
    spec: PartitionSpec, labels: npt.ArrayLike, n_clients: int, seed: int, *, min_size: int = 1
) -> list[IntArray]:
    """Index arrays, one per client, that together cover ``labels`` exactly once.

    ``min_size`` applies to the Dirichlet split (the others never leave a client empty).
    """
    if spec.kind == "iid":
        return partition_iid(len(_int_labels(labels)), n_clients, seed)
    if spec.kind == "dirichlet":
        return partition_dirichlet(labels, n_clients, spec.alpha, seed, min_size=min_size)
    if spec.kind == "shards":
        return partition_shards(labels, n_clients, spec.shards, seed)
    raise BadInputError(f"unknown partition kind {spec.kind!r}: expected one of {PARTITION_KINDS}")
