from __future__ import annotations

import pytest
import torch

from milon_app.compute.datasets import DatasetSpec
from milon_app.compute.weights import encode_state
from milon_app.errors import BadInputError
from milon_app.node.shards import (
    DatasetDoc,
    FederatedData,
    SharedData,
    decode_shard,
    encode_shard,
    make_shards,
    parse_dataset_doc,
)

SRC = DatasetSpec(kind="builtin", name="digits")
DOC = SharedData(SRC, ("a" * 64, "b" * 64), 10, (64,))


def test_round_trip_and_assignment():
    x, y = torch.rand(6, 64), torch.tensor([0, 1, 2, 3, 4, 9])
    gx, gy = decode_shard(encode_shard(x, y), DOC)
    assert torch.equal(gx, x) and torch.equal(gy, y)
    assert parse_dataset_doc(DOC.to_json().encode()) == DatasetDoc(DOC, ())
    assert [DOC.shard_for(i) for i in range(3)] == ["a" * 64, "b" * 64, "a" * 64]
    assert parse_dataset_doc(SRC.to_json().encode()) == DatasetDoc(SRC, ())  # a plain spec


def test_validation_shards_ride_along_in_both_modes():
    val = ("c" * 64,)
    shared = SharedData(SRC, ("a" * 64,), 10, (64,), val)
    assert parse_dataset_doc(shared.to_json().encode()) == DatasetDoc(shared, val)
    federated = FederatedData(SRC, val)
    assert parse_dataset_doc(federated.to_json().encode()) == DatasetDoc(SRC, val)
    bad = federated.to_json().replace("c" * 64, "../etc")
    with pytest.raises(BadInputError, match="digest"):
        parse_dataset_doc(bad.encode())


def test_make_shards_uses_every_sample_once():
    x, y = torch.arange(20.0).reshape(10, 2), torch.arange(10) % 3
    shards = make_shards(x, y, 3, seed=1)
    assert sorted(int(v) for sx, _ in shards for v in sx[:, 0] // 2) == list(range(10))
    with pytest.raises(BadInputError):
        make_shards(x, y, 0, seed=1)


@pytest.mark.parametrize(
    ("state", "message"),
    [
        ({"x": torch.rand(2, 64)}, "expected x and y"),
        ({"x": torch.rand(2, 64), "y": torch.tensor([0, 10])}, "labels outside"),
        ({"x": torch.rand(2, 63), "y": torch.tensor([0, 1])}, "job expects"),
        ({"x": torch.rand(3, 64), "y": torch.tensor([0, 1])}, "3 samples but 2 labels"),
        ({"x": torch.rand(2, 64), "y": torch.tensor([0.0, 1.0])}, "int64"),
        ({"x": torch.full((2, 64), float("nan")), "y": torch.tensor([0, 1])}, "NaN"),
    ],
)
def test_bad_shards_are_refused(state, message):
    with pytest.raises(BadInputError, match=message):
        decode_shard(encode_state(state), DOC)


@pytest.mark.parametrize(
    ("doc", "message"),
    [
        ('{"mode": "shared", "version": 1, "source": {}, "shards": []}', "shard digests"),
        ('{"mode": "shared", "version": 2}', "bad version"),
        ('{"mode": "shared", "version": 1, "shards": ["../x"], "num_classes": 2,'
         ' "input_shape": [2], "source": {"kind": "builtin", "name": "digits"}}', "digest"),
        ('{"mode": "shared", "version": 1, "shards": ["' + "a" * 64 + '"], "num_classes": 0,'
         ' "input_shape": [2], "source": {"kind": "builtin", "name": "digits"}}', "num_classes"),
        ("[" * 50, "nested deeper"),
    ],
)
def test_malformed_documents(doc, message):
    with pytest.raises(BadInputError, match=message):
        parse_dataset_doc(doc.encode())
