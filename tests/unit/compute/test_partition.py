"""Client partitions: every index used exactly once, deterministic by seed."""

from __future__ import annotations

import numpy as np
import pytest

from milon_app.compute.partition import (
    partition_dirichlet,
    partition_iid,
    stable_permutation,
)
from milon_app.errors import BadInputError


def assert_exact_cover(parts, n):
    joined = np.concatenate(parts)
    assert len(joined) == n
    assert np.array_equal(np.sort(joined), np.arange(n))


def test_stable_permutation_is_pinned():
    # Hash-based, independent of numpy's RNG: these values must never change, or nodes
    # would disagree on train/test splits and shard assignments.
    assert stable_permutation(8, 0).tolist() == [1, 4, 5, 7, 6, 0, 3, 2]
    assert stable_permutation(12, 12345).tolist() == [0, 10, 8, 4, 2, 9, 5, 1, 6, 3, 7, 11]
    assert np.array_equal(stable_permutation(1000, 7), stable_permutation(1000, 7))
    assert not np.array_equal(stable_permutation(1000, 7), stable_permutation(1000, 8))
    assert stable_permutation(0, 1).tolist() == []


@pytest.mark.parametrize(("n", "clients"), [(10, 3), (1797, 4), (5, 5), (100, 1)])
def test_iid(n, clients):
    parts = partition_iid(n, clients, seed=3)
    assert len(parts) == clients
    assert_exact_cover(parts, n)
    sizes = [len(p) for p in parts]
    assert max(sizes) - min(sizes) <= 1
    again = partition_iid(n, clients, seed=3)
    assert all(np.array_equal(a, b) for a, b in zip(parts, again))
    if clients > 1 and n > clients:
        other = partition_iid(n, clients, seed=4)
        assert not all(np.array_equal(a, b) for a, b in zip(parts, other))


def test_dirichlet_skew_and_cover():
    labels = np.repeat(np.arange(10), 100)
    parts = partition_dirichlet(labels, 5, alpha=0.1, seed=1, min_size=10)
    assert_exact_cover(parts, len(labels))
    assert min(len(p) for p in parts) >= 10
    again = partition_dirichlet(labels, 5, alpha=0.1, seed=1, min_size=10)
    assert all(np.array_equal(a, b) for a, b in zip(parts, again))
    # label skew: with small alpha each client is dominated by few classes
    top_share = [np.bincount(labels[p], minlength=10).max() / len(p) for p in parts]
    assert np.mean(top_share) > 0.3
    iidish = partition_dirichlet(labels, 5, alpha=1000.0, seed=1)
    assert_exact_cover(iidish, len(labels))
    assert max(np.bincount(labels[p], minlength=10).max() / len(p) for p in iidish) < 0.2


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: partition_iid(3, 4, 0), "cannot split 3 samples among 4 clients"),
        (lambda: partition_iid(3, 0, 0), "n_clients must be a positive integer"),
        (
            lambda: partition_dirichlet(np.zeros(10, int), 2, 0.0, 0),
            "alpha must be a positive number",
        ),
        (lambda: partition_dirichlet(np.zeros(10), 2, 1.0, 0), "1-d integer array"),
        (lambda: partition_dirichlet(np.zeros(10, int), 2, 1.0, 0, min_size=6), "exceeds 10"),
        (
            lambda: partition_dirichlet(np.arange(4) % 2, 4, 0.01, 0, min_size=1, max_tries=1),
            "no Dirichlet",
        ),
    ],
)
def test_partition_errors(call, message):
    with pytest.raises(BadInputError) as err:
        call()
    assert message in str(err.value)
