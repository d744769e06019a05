"""Tasks from losses: output checks, label conversion, losses, metrics, groups, training."""

from __future__ import annotations

import pytest
import torch

from milon_app.compute import tasks as T
from milon_app.compute.model_spec import LOSSES, ModelSpec
from milon_app.compute.trainer import evaluate, prepare_data, train
from milon_app.errors import BadInputError


def mlp(outputs, loss, features=4, hidden=16, lr=0.05, last=()):
    return ModelSpec.from_dict(
        {
            "input_shape": [features],
            "layers": [
                {"type": "Linear", "in_features": features, "out_features": hidden},
                {"type": "Tanh"},
                {"type": "Linear", "in_features": hidden, "out_features": outputs},
                *last,
            ],
            "loss": loss,
            "optimizer": {"type": "adam", "lr": lr},
            "batch_size": 16,
        }
    )


def tokens_spec(vocab=20, seq=8, classes=2):
    return ModelSpec.from_dict(
        {
            "input_shape": [seq],
            "layers": [
                {"type": "Embedding", "num_embeddings": vocab, "embedding_dim": 16},
                {"type": "PositionalEmbedding", "max_len": seq, "embedding_dim": 16},
                {
                    "type": "TransformerEncoderLayer",
                    "d_model": 16,
                    "nhead": 2,
                    "dim_feedforward": 32,
                    "dropout": 0.1,
                    "norm_first": True,
                },
                {"type": "SequencePool", "mode": "mean"},
                {"type": "Linear", "in_features": 16, "out_features": classes},
            ],
            "loss": "cross_entropy",
            "optimizer": {"type": "adamw", "lr": 3e-3},
            "batch_size": 16,
        }
    )


def test_losses_name_their_tasks_and_outputs_are_checked():
    assert set(LOSSES) == {"cross_entropy", "nll", "mse", "huber", "bce_with_logits"}
    assert mlp(1, "mse").task == "regression" and mlp(1, "mse").num_classes == 1
    assert mlp(3, "huber").task == "regression"
    assert mlp(1, "bce_with_logits").task == "multilabel"
    assert mlp(2, "cross_entropy").task == "classification"
    with pytest.raises(BadInputError, match=r"not a vector of at least 2 class scores"):
        mlp(1, "cross_entropy")
    with pytest.raises(BadInputError, match="drop the final Sigmoid"):
        mlp(3, "bce_with_logits", last=[{"type": "Sigmoid"}])
    conv = {
        "input_shape": [1, 4, 4],
        "layers": [{"type": "Conv2d", "in_channels": 1, "out_channels": 2, "kernel_size": 3}],
        "optimizer": {"type": "sgd", "lr": 0.1},
    }
    for loss, what in (("mse", "1 targets"), ("bce_with_logits", "1 label scores")):
        with pytest.raises(
            BadInputError, match=f"shape \\[2, 2, 2\\] is not a vector of at least {what}"
        ):
            ModelSpec.from_dict({**conv, "loss": loss})


def test_regression_and_multilabel_targets_are_checked_and_converted():
    x = torch.rand(6, 4)
    one, three = mlp(1, "mse"), mlp(3, "huber")
    _, y = prepare_data(one, (x, torch.arange(6)))  # integers become float targets
    assert y.dtype == torch.float32 and y.shape == (6, 1)
    _, y = prepare_data(three, (x, torch.rand(6, 3, dtype=torch.float64)))
    assert y.dtype == torch.float32 and y.shape == (6, 3)
    labels = mlp(3, "bce_with_logits")
    _, y = prepare_data(labels, (x, torch.tensor([[0, 1, 1]] * 6)))
    assert y.dtype == torch.float32 and y.sum() == 12
    bad = [
        (three, torch.rand(6), "y has shape [6], expected [6, 3] targets"),
        (one, torch.rand(6, 2), "y has shape [6, 2], expected [6, 1] or [6] targets"),
        (one, torch.tensor([0.0, 1, 2, float("nan"), 4, 5]), "hold NaN or Inf"),
        (one, torch.full((6,), 1e300, dtype=torch.float64), "overflow float32"),
        (labels, torch.full((6, 3), 2), "multi-label targets must all be 0 or 1"),
        (labels, torch.rand(6, 3, dtype=torch.float64), "must all be 0 or 1"),
        (labels, torch.zeros(6, 2), "expected [6, 3] label scores"),
    ]
    for spec, y, message in bad:
        with pytest.raises(BadInputError) as err:
            prepare_data(spec, (x, y))
        assert message in str(err.value), str(err.value)


def test_token_ids_stay_integers_and_fit_the_embedding():
    spec = tokens_spec()
    x, _ = prepare_data(
        spec, (torch.randint(0, 20, (4, 8), dtype=torch.int32), torch.zeros(4, dtype=torch.long))
    )
    assert x.dtype == torch.long and x.shape == (4, 8)
    y = torch.zeros(4, dtype=torch.long)
    with pytest.raises(BadInputError, match="must hold integer token ids, got torch.float32"):
        prepare_data(spec, (torch.rand(4, 8), y))
    with pytest.raises(
        BadInputError, match=r"token ids span \[20, 20\], the model's Embedding has 20"
    ):
        prepare_data(spec, (torch.full((4, 8), 20), y))
    with pytest.raises(BadInputError, match=r"token ids span \[-1, 3\]"):
        prepare_data(spec, (torch.tensor([[-1] + [3] * 7] * 4), y))
    with pytest.raises(BadInputError, match=r"samples have shape \[9\], the model expects \[8\]"):
        prepare_data(spec, (torch.zeros(4, 9, dtype=torch.long), y))


@pytest.mark.parametrize(
    ("loss", "outputs", "make_y"),
    [
        ("cross_entropy", 3, lambda g: torch.randint(0, 3, (5,), generator=g)),
        ("mse", 2, lambda g: torch.randn(5, 2, generator=g)),
        ("huber", 2, lambda g: 3 * torch.randn(5, 2, generator=g)),
        ("bce_with_logits", 3, lambda g: torch.randint(0, 2, (5, 3), generator=g).float()),
    ],
)
def test_per_sample_losses_average_to_the_training_loss(loss, outputs, make_y):
    g = torch.Generator().manual_seed(0)
    out, y = torch.randn(5, outputs, generator=g), make_y(g)
    each = T.per_sample_loss(loss, out, y)
    assert each.shape == (5,)
    assert torch.allclose(each.mean(), T.make_loss(loss)(out, y))


def test_metrics():
    m = T.Metric("classification")
    m.add(torch.tensor([[0.0, 1.0], [1.0, 0.0]]), torch.tensor([1, 1]))
    m.add(torch.tensor([[0.0, 1.0]]), torch.tensor([1]))
    assert m.value() == pytest.approx(2 / 3)
    y = torch.tensor([[1.0, 0.0], [2.0, 1.0], [3.0, 5.0]])
    r2 = T.Metric("regression")
    r2.add(y[:2], y[:2])
    r2.add(y[2:], y[2:])
    assert r2.value() == 1.0
    mean = T.Metric("regression")
    mean.add(y.mean(0).expand(3, 2), y)  # predicting each target's mean: R^2 = 0
    assert mean.value() == pytest.approx(0.0, abs=1e-12)
    labels = T.Metric("multilabel")
    labels.add(torch.tensor([[2.0, -1.0, 0.5]]), torch.tensor([[1.0, 1.0, 0.0]]))
    assert labels.value() == pytest.approx(1 / 3)
    assert T.Metric("regression").value() != T.Metric("regression").value()  # nan when empty


def test_group_keys():
    y = torch.tensor([2, 0, 2, 1])
    assert torch.equal(T.group_keys("classification", y), y)
    targets = torch.tensor([[5.0], [1.0], [3.0], [8.0], [2.0], [2.0], [7.0], [0.0]])
    keys = T.group_keys("regression", targets)
    assert keys.tolist() == [2, 0, 2, 3, 1, 1, 3, 0]  # rank // 2; the tied 2.0s split by position
    assert T.group_keys("regression", targets[:3]).tolist() == [2, 0, 1]  # 3 samples, 3 bins
    labels = torch.tensor([[0, 1, 1], [0, 0, 0], [1, 0, 1], [0, 0, 1]])
    assert T.group_keys("multilabel", labels).tolist() == [1, 3, 0, 2]


def regression_data(n, seed):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 4, generator=g)
    y = torch.stack([x[:, 0] - 2 * x[:, 1], x[:, 2] * 0.5 + 1], dim=1)
    return x, y


def test_regression_trains_and_reports_r2():
    torch.manual_seed(0)
    spec = mlp(2, "mse", lr=0.01)
    data, val = regression_data(256, 0), regression_data(64, 1)
    start, r2_start = evaluate(spec, spec.build(0).state_dict(), *val)
    result = train(spec, None, data, epochs=20, seed=0, val_data=val, threads=1)
    assert result.val_loss < start / 5
    assert result.val_accuracy > 0.8 > r2_start
    again = train(spec, None, data, epochs=20, seed=0, val_data=val, threads=1)
    assert again.update_bytes == result.update_bytes


def test_huber_single_target_vector_labels_train():
    spec = mlp(1, "huber", lr=0.01)
    x, y = regression_data(128, 2)
    start, _ = evaluate(spec, spec.build(0).state_dict(), x, y[:, 0])
    result = train(spec, None, (x, y[:, 0]), epochs=10, seed=0, val_data=(x, y[:, 0]), threads=1)
    assert result.val_loss < start


def test_multilabel_trains():
    g = torch.Generator().manual_seed(3)
    x = torch.randn(256, 4, generator=g)
    y = torch.stack([x[:, 0] > 0, x[:, 1] > 0, (x[:, 2] + x[:, 3]) > 0], dim=1).long()
    spec = mlp(3, "bce_with_logits", lr=0.01)
    start, acc_start = evaluate(spec, spec.build(0).state_dict(), x, y)
    result = train(spec, None, (x, y), epochs=15, seed=0, val_data=(x, y), threads=1)
    assert result.val_loss < start * 0.6
    assert result.val_accuracy > 0.85 > acc_start


def test_token_transformer_trains_deterministically():
    g = torch.Generator().manual_seed(4)
    x = torch.randint(2, 20, (96, 8), generator=g)
    y = torch.randint(0, 2, (96,), generator=g)
    x[y == 1, 3] = 1  # the class is whether a marker token is present
    spec = tokens_spec()
    assert spec.is_stochastic
    start, _ = evaluate(spec, spec.build(0).state_dict(), x, y)
    result = train(spec, None, (x, y), epochs=6, seed=0, val_data=(x, y), threads=1)
    assert result.val_loss < start * 0.5 and result.val_accuracy > 0.9
    again = train(spec, None, (x, y), epochs=6, seed=0, val_data=(x, y), threads=1)
    assert again.update_bytes == result.update_bytes
    other = train(spec, None, (x, y), epochs=1, seed=1, threads=1)
    assert other.update_bytes != result.update_bytes


def test_synthetic_data_fits_every_task():
    g = torch.Generator().manual_seed(0)
    for spec in (mlp(3, "cross_entropy"), mlp(2, "mse"), mlp(3, "bce_with_logits"), tokens_spec()):
        x, y = T.synthetic_data(spec, 8, g)
        prepare_data(spec, (x, y))  # accepted as is
