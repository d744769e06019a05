"""Deterministic shuffles and client partitions for simulations and shared datasets.

``stable_permutation`` is computed from a hash (splitmix64) rather than a
library RNG, so every node and every numpy version derives the same order
from the same seed. The Dirichlet split needs real random draws and uses
numpy's PCG64 (stable within a numpy version).
"""

from __future__ import annotations

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
    y = np.asarray(labels)
    if y.ndim != 1 or not np.issubdtype(y.dtype, np.integer):
        raise BadInputError("labels must be a 1-d integer array")
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
