"""Client partitions: every index used exactly once, deterministic by seed."""

from __future__ import annotations

import numpy as np
import pytest

from milon_app.compute.partition import (
    PartitionSpec,
    parse_partition,
    partition_dirichlet,
    partition_iid,
    partition_shards,
    split_clients,
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


def test_shards_give_each_client_few_labels():
    labels = np.repeat(np.arange(10), 100)
    parts = partition_shards(labels, 10, 2, seed=5)
    assert_exact_cover(parts, len(labels))
    assert [len(p) for p in parts] == [100] * 10
    # 20 shards of 50 samples over sorted labels: every shard holds one label, so a client
    # holds at most 2 (McMahan et al.'s pathological non-IID split)
    assert all(len(np.unique(labels[p])) <= 2 for p in parts)
    assert np.mean([len(np.unique(labels[p])) for p in parts]) > 1.2
    again = partition_shards(labels, 10, 2, seed=5)
    assert all(np.array_equal(a, b) for a, b in zip(parts, again))
    other = partition_shards(labels, 10, 2, seed=6)
    assert not all(np.array_equal(a, b) for a, b in zip(parts, other))


def test_shards_uneven_sizes_still_cover():
    labels = np.array([3, 1, 2, 1, 0, 3, 2, 2, 0, 1, 1])
    parts = partition_shards(labels, 3, 3, seed=0)
    assert_exact_cover(parts, len(labels))
    assert all(len(p) >= 3 for p in parts)


@pytest.mark.parametrize(
    ("text", "spec"),
    [
        ("iid", PartitionSpec("iid")),
        (" IID ", PartitionSpec("iid")),
        ("dirichlet:0.3", PartitionSpec("dirichlet", alpha=0.3)),
        ("dirichlet:100", PartitionSpec("dirichlet", alpha=100.0)),
        ("shards:2", PartitionSpec("shards", shards=2)),
    ],
)
def test_parse_partition(text, spec):
    assert parse_partition(text) == spec
    assert parse_partition(str(spec)) == spec


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("dirichlet", "unknown partition 'dirichlet'"),
        ("dirichlet:", "partition 'dirichlet:': alpha '' is not a positive number"),
        ("dirichlet:-1", "alpha '-1' is not a positive number"),
        ("dirichlet:nan", "alpha 'nan' is not a positive number"),
        ("dirichlet:inf", "alpha 'inf' is not a positive number"),
        ("shards:0", "partition 'shards:0': shards per client '0' is not a positive integer"),
        ("shards:1.5", "shards per client '1.5' is not a positive integer"),
        ("iid:3", "unknown partition 'iid:3'"),
        ("label-skew", "unknown partition 'label-skew': expected \"iid\""),
        ("", "unknown partition ''"),
    ],
)
def test_parse_partition_errors_name_the_text(text, message):
    with pytest.raises(BadInputError) as err:
        parse_partition(text)
    assert message in str(err.value)


def test_parse_partition_refuses_non_text():
    with pytest.raises(BadInputError, match="partition must be text"):
        parse_partition(3)  # type: ignore[arg-type]


def test_split_clients_dispatches_to_each_kind():
    labels = np.repeat(np.arange(10), 30)
    for text in ("iid", "dirichlet:0.5", "shards:2"):
        parts = split_clients(parse_partition(text), labels, 6, seed=2)
        assert len(parts) == 6
        assert_exact_cover(parts, len(labels))
    iid = split_clients(parse_partition("iid"), labels, 6, seed=2)
    assert all(np.array_equal(a, b) for a, b in zip(iid, partition_iid(300, 6, 2)))
    shards = split_clients(parse_partition("shards:2"), labels, 6, seed=2)
    # 12 shards of 25 over 10 labels of 30: a shard may straddle two labels
    assert max(len(np.unique(labels[p])) for p in shards) <= 4
    skewed = split_clients(parse_partition("dirichlet:0.1"), labels, 6, seed=2, min_size=5)
    assert min(len(p) for p in skewed) >= 5


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (
            lambda: partition_shards(np.arange(10), 3, 4, 0),
            "cannot cut 10 samples into 3 clients x 4",
        ),
        (lambda: partition_shards(np.arange(10), 2, 0, 0), "shards per client must be a positive"),
        (lambda: partition_shards(np.zeros(10), 2, 1, 0), "1-d integer array"),
        (lambda: partition_shards(np.arange(10), 0, 1, 0), "n_clients must be a positive integer"),
        (
            lambda: split_clients(PartitionSpec("bogus"), np.arange(10), 2, 0),
            "unknown partition kind 'bogus'",
        ),
    ],
)
def test_shard_and_split_errors(call, message):
    with pytest.raises(BadInputError) as err:
        call()
    assert message in str(err.value)
