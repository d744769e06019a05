"""Shards of token ids and of regression or multi-label targets survive the federation path."""

from __future__ import annotations

import pytest
import torch

from milon_app.compute.builtin_models import text_transformer
from milon_app.compute.datasets import DatasetSpec
from milon_app.compute.model_spec import ModelSpec
from milon_app.compute.weights import encode_state
from milon_app.errors import BadInputError
from milon_app.node.shards import (
    SharedData,
    decode_samples,
    decode_shard,
    encode_shard,
    parse_dataset_doc,
)

TEXT = text_transformer(num_classes=3, vocab=50, seq_len=8, d_model=16)


def head(outputs, loss):
    return ModelSpec.from_dict(
        {
            "input_shape": [4],
            "layers": [{"type": "Linear", "in_features": 4, "out_features": outputs}],
            "loss": loss,
            "optimizer": {"type": "sgd", "lr": 0.1},
        }
    )


def test_token_shards_keep_integer_ids():
    x, y = torch.randint(0, 50, (5, 8)), torch.tensor([0, 1, 2, 1, 0])
    blob = encode_shard(x, y)
    shared = SharedData(DatasetSpec(kind="npz", path="/t.npz", tokens=True), ("a" * 64,), 3, (8,))
    assert parse_dataset_doc(shared.to_json().encode()).dataset == shared
    gx, gy = decode_shard(blob, shared, TEXT)
    assert gx.dtype == torch.int64 and torch.equal(gx, x) and torch.equal(gy, y)
    with pytest.raises(BadInputError, match="x must be float32"):
        decode_shard(blob, shared)  # without the spec only float features are accepted
    big = encode_shard(torch.full((5, 8), 50), y)
    with pytest.raises(BadInputError, match=r"shard: token ids span \[50, 50\]"):
        decode_samples(big, (8,), 3, TEXT)
    floats = encode_shard(x.float(), y)
    with pytest.raises(BadInputError, match="x must be torch.int64 and y torch.int64"):
        decode_samples(floats, (8,), 3, TEXT)


@pytest.mark.parametrize(
    ("spec", "y"),
    [
        (head(1, "mse"), torch.tensor([0.5, -2.0, 3.25])),
        (head(2, "huber"), torch.randn(3, 2)),
        (head(3, "bce_with_logits"), torch.tensor([[0.0, 1, 1], [1, 0, 0], [0, 0, 0]])),
    ],
)
def test_float_targets_survive(spec, y):
    x = torch.rand(3, 4)
    gx, gy = decode_samples(encode_shard(x, y), (4,), spec.num_classes, spec)
    assert torch.equal(gx, x) and torch.equal(gy, y.reshape(3, -1))
    shared = SharedData(
        DatasetSpec(kind="npz", path="/r.npz", task=spec.task), ("a" * 64,), spec.num_classes, (4,)
    )
    assert parse_dataset_doc(shared.to_json().encode()).dataset == shared


def test_bad_float_target_shards():
    spec = head(3, "bce_with_logits")
    x = torch.rand(3, 4)
    with pytest.raises(BadInputError, match="multi-label targets must all be 0 or 1"):
        decode_samples(encode_shard(x, torch.full((3, 3), 0.5)), (4,), 3, spec)
    with pytest.raises(BadInputError, match="and y torch.float32 for this job"):
        decode_samples(encode_shard(x, torch.ones(3, 3, dtype=torch.long)), (4,), 3, spec)
    blob = encode_state({"x": x, "y": torch.ones(2, 3)})
    with pytest.raises(BadInputError, match="3 samples but 2 labels"):
        decode_samples(blob, (4,), 3, spec)
    with pytest.raises(BadInputError, match=r"y has shape \[3, 2\], expected \[3, 3\]"):
        decode_samples(encode_shard(x, torch.ones(3, 2)), (4,), 3, spec)
