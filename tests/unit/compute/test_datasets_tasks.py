"""NPZ data for the new tasks: token ids, regression targets, multi-label labels, and bounds."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from milon_app.compute.builtin_models import text_transformer
from milon_app.compute.data_files import validate_arrays
from milon_app.compute.datasets import DatasetSpec, load_dataset
from milon_app.compute.model_spec import ModelSpec, digits_mlp
from milon_app.compute.seq_layers import MAX_SEQ_LEN, MAX_VOCAB
from milon_app.errors import BadInputError

# The canonical JSON of specs without the new keys must not change: pinned from before them.
DEFAULT_HASH = "af88333acbe988f71d0764e147e771506b51115f62c9ae726f455e824cc43460"
NPZ_HASH = "73336c5be4845155991df93efcec46144d76a35be7040cd9572cd5fe6d33ed0f"


def npz(tmp_path, **arrays):
    path = tmp_path / "data.npz"
    np.savez(path, **arrays)
    return path


def small_text(classes=2):
    return text_transformer(num_classes=classes, vocab=64, seq_len=16, d_model=16)


def head(outputs, loss, features=6):
    return ModelSpec.from_dict(
        {
            "input_shape": [features],
            "layers": [{"type": "Linear", "in_features": features, "out_features": outputs}],
            "loss": loss,
            "optimizer": {"type": "sgd", "lr": 0.1},
        }
    )


def test_old_specs_keep_their_hash_and_new_keys_round_trip():
    assert DatasetSpec().spec_hash() == DEFAULT_HASH
    assert DatasetSpec(kind="npz", path="/d.npz", num_classes=3).spec_hash() == NPZ_HASH
    spec = DatasetSpec(kind="npz", path="/d.npz", task="regression", tokens=True)
    d = json.loads(spec.to_json())
    assert d["task"] == "regression" and d["tokens"] is True
    assert DatasetSpec.from_json(spec.to_json()) == spec
    assert "task" not in DatasetSpec(kind="npz", path="/d.npz").to_dict()


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"task": "ranking"}, "dataset task 'ranking' is not one of"),
        ({"task": 1}, "'task' must be str"),
        ({"tokens": 1}, "'tokens' must be bool"),
        ({"kind": "csv", "label_column": "y", "task": "regression"}, "load from NPZ files only"),
        ({"kind": "builtin", "path": "", "tokens": True}, "load from NPZ files only"),
        ({"tokens": True, "standardize": True}, "token ids cannot be standardized"),
    ],
)
def test_bad_task_fields(fields, message):
    with pytest.raises(BadInputError, match=message):
        DatasetSpec.from_dict({"kind": "npz", "path": "/d.npz", **fields})


def test_token_npz_loads_as_int64_and_fits_the_embedding(tmp_path):
    rng = np.random.default_rng(0)
    x = rng.integers(0, 64, size=(40, 16), dtype=np.int32)
    path = npz(tmp_path, x=x, y=np.arange(40) % 2)
    data = load_dataset(DatasetSpec(kind="npz", path=str(path), tokens=True))
    assert data.x_train.dtype == torch.int64 and data.input_shape == (16,)
    fitted = data.for_model(small_text())
    assert torch.equal(
        torch.cat([fitted.x_train, fitted.x_test]).sort(0).values,
        torch.from_numpy(x).long().sort(0).values,
    )
    with pytest.raises(BadInputError, match="token id 63, the model's Embedding has 32 entries"):
        data.for_model(text_transformer(num_classes=2, vocab=32, seq_len=16, d_model=16))
    with pytest.raises(BadInputError, match="the model must start with Embedding"):
        data.for_model(head(2, "cross_entropy", features=16))
    as_features = load_dataset(DatasetSpec(kind="npz", path=str(path)))  # tokens not declared
    assert as_features.x_train.dtype == torch.float32
    with pytest.raises(BadInputError, match="needs 'tokens': true"):
        as_features.for_model(small_text())


@pytest.mark.parametrize(
    ("x", "message"),
    [
        (np.zeros((4, 3, 2), dtype=np.int64), "token data is (samples, sequence length)"),
        (np.zeros((4, 8), dtype=np.float32), "token ids must be integers"),
        (np.full((4, 8), -2), "token id -2 is negative"),
        (np.full((4, 8), MAX_VOCAB), f"over the vocabulary limit of {MAX_VOCAB}"),
        (np.zeros((4, MAX_SEQ_LEN + 1), dtype=np.int8), f"the limit is 1 to {MAX_SEQ_LEN}"),
    ],
)
def test_bad_token_arrays(tmp_path, x, message):
    path = npz(tmp_path, x=x, y=np.zeros(4, dtype=np.int64))
    with pytest.raises(BadInputError) as err:
        load_dataset(DatasetSpec(kind="npz", path=str(path), tokens=True))
    assert message in str(err.value) and str(path) in str(err.value)


def test_regression_npz(tmp_path):
    rng = np.random.default_rng(1)
    x = rng.normal(size=(30, 6))
    one = load_dataset(
        DatasetSpec(kind="npz", path=str(npz(tmp_path, x=x, y=x[:, 0] * 2)), task="regression")
    )
    assert one.num_classes == 1 and one.y_train.dtype == torch.float32 and one.task == "regression"
    one.for_model(head(1, "mse"))
    with pytest.raises(
        BadInputError, match="the dataset is for regression, the model's loss 'cross_entropy'"
    ):
        one.for_model(head(2, "cross_entropy"))
    with pytest.raises(
        BadInputError, match="dataset has 1 regression targets per sample, the model outputs 2"
    ):
        one.for_model(head(2, "huber"))
    three = DatasetSpec(kind="npz", path=str(npz(tmp_path, x=x, y=x[:, :3])), task="regression")
    assert load_dataset(three).num_classes == 3
    with pytest.raises(BadInputError, match="the spec's num_classes says 2"):
        load_dataset(DatasetSpec(**{**three.to_dict(), "num_classes": 2, "image_size": None}))


def test_multilabel_npz(tmp_path):
    rng = np.random.default_rng(2)
    x, y = rng.normal(size=(20, 6)), rng.integers(0, 2, size=(20, 4))
    spec = DatasetSpec(kind="npz", path=str(npz(tmp_path, x=x, y=y)), task="multilabel")
    data = load_dataset(spec).for_model(head(4, "bce_with_logits"))
    assert data.y_train.shape == (16, 4) and data.y_train.dtype == torch.float32
    with pytest.raises(BadInputError, match="the dataset is for classification"):
        load_dataset(DatasetSpec(kind="npz", path=str(npz(tmp_path, x=x, y=y[:, 0])))).for_model(
            head(4, "bce_with_logits")
        )


@pytest.mark.parametrize(
    ("task", "y", "message"),
    [
        ("regression", np.array([1.0, np.nan, 2.0, 3.0]), "y holds NaN or Inf"),
        ("regression", np.array([1e300, 1.0, 2.0, 3.0]), "values beyond float32"),
        ("regression", np.array(["a", "b", "c", "d"]), "regression targets must be numbers"),
        ("regression", np.zeros((4, 2, 2)), "expected (samples,) or (samples, targets)"),
        ("multilabel", np.array([[0, 1], [1, 2], [0, 0], [1, 1]]), "must hold only 0 and 1"),
        ("classification", np.zeros((4, 2), dtype=np.int64), "expected (samples,)"),
    ],
)
def test_bad_targets(task, y, message):
    with pytest.raises(BadInputError) as err:
        validate_arrays(np.zeros((4, 3)), y, "f.npz", task=task)
    assert message in str(err.value)


def test_classification_path_unchanged():
    x, y = validate_arrays(np.ones((4, 3), dtype=np.float64), np.arange(4), "f.npz")
    assert x.dtype == np.float32 and y.dtype == np.int64
    assert digits_mlp().task == "classification"
