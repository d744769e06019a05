"""The validators' group losses for regression, multi-label and token models."""

from __future__ import annotations

import pytest
import torch

from milon_app.compute.model_spec import ModelSpec
from milon_app.compute.tasks import group_keys
from milon_app.federation.evaluator import make_evaluator


def head(outputs, loss):
    return ModelSpec.from_dict(
        {
            "input_shape": [3],
            "layers": [
                {"type": "Linear", "in_features": 3, "out_features": 8},
                {"type": "Tanh"},
                {"type": "Linear", "in_features": 8, "out_features": outputs},
            ],
            "loss": loss,
            "optimizer": {"type": "sgd", "lr": 0.1},
        }
    )


def direct(spec, state, x, y, fn):
    model = spec.build(0)
    model.load_state_dict(state)
    model.eval()
    with torch.no_grad():
        return fn(model(x), y)


def test_regression_groups_are_quantile_bins_of_the_first_target():
    spec = head(2, "mse")
    g = torch.Generator().manual_seed(0)
    x, y = torch.randn(22, 3, generator=g), torch.randn(22, 2, generator=g)
    state = spec.build(5).state_dict()
    losses = make_evaluator(spec, (x, y))(state)
    assert losses.counts == (6, 5, 6, 5)  # 22 samples by rank into 4 bins
    per = direct(spec, state, x, y, lambda out, t: ((out - t) ** 2).mean(1))
    keys = group_keys("regression", y)
    for b in range(4):
        assert losses.losses[b] == pytest.approx(float(per[keys == b].mean()), rel=1e-6)
        low, high = y[keys == b, 0].min(), y[keys == b, 0].max()
        if b < 3:
            assert high <= y[keys == b + 1, 0].min()
        assert low <= high
    assert losses.mean == pytest.approx(float(per.mean()), rel=1e-6)
    again = make_evaluator(spec, (x, y))(state)
    assert again == losses  # the same numbers, to the bit


def test_tiny_regression_sets_get_one_group_per_sample():
    spec = head(1, "huber")
    x, y = torch.randn(3, 3), torch.tensor([0.5, -1.0, 2.0])
    losses = make_evaluator(spec, (x, y))(spec.build(0).state_dict())
    assert losses.counts == (1, 1, 1)


def test_multilabel_groups_by_lowest_positive_label():
    spec = head(3, "bce_with_logits")
    x = torch.randn(7, 3)
    y = torch.tensor([[0, 1, 0], [1, 1, 0], [0, 0, 0], [0, 0, 1], [1, 0, 0], [0, 1, 1], [0, 0, 0]])
    state = spec.build(2).state_dict()
    losses = make_evaluator(spec, (x, y))(state)
    assert losses.counts == (2, 2, 1, 2)  # label 0, label 1, label 2, no label
    per = direct(
        spec,
        state,
        x,
        y.float(),
        lambda out, t: torch.nn.functional.binary_cross_entropy_with_logits(
            out, t, reduction="none"
        ).mean(1),
    )
    assert losses.losses[3] == pytest.approx(float(per[[2, 6]].mean()), rel=1e-6)
    assert losses.mean == pytest.approx(float(per.mean()), rel=1e-6)


def test_token_model_evaluates_per_class():
    spec = ModelSpec.from_dict(
        {
            "input_shape": [6],
            "layers": [
                {"type": "Embedding", "num_embeddings": 10, "embedding_dim": 8},
                {"type": "SelfAttention", "embed_dim": 8, "num_heads": 2},
                {"type": "SequencePool", "mode": "first"},
                {"type": "Linear", "in_features": 8, "out_features": 3},
            ],
            "optimizer": {"type": "sgd", "lr": 0.1},
        }
    )
    x, y = torch.randint(0, 10, (9, 6)), torch.tensor([0, 1, 2] * 3)
    losses = make_evaluator(spec, (x, y))(spec.build(0).state_dict())
    assert losses.counts == (3, 3, 3) and losses.finite


def task_data(loss, n, seed):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 3, generator=g)
    if loss == "mse":
        return x, torch.stack([x[:, 0] - x[:, 1], 0.5 * x[:, 2]], dim=1)
    return x, torch.stack([x[:, 0] > 0, x[:, 1] > 0, x[:, 2] > 0.5], dim=1).long()


@pytest.mark.parametrize(("loss", "outputs"), [("mse", 2), ("bce_with_logits", 3)])
def test_committee_accepts_honest_updates_of_new_tasks(loss, outputs):
    from milon_app.compute.trainer import train
    from milon_app.federation import Submission
    from milon_app.federation.verdicts import judge_round

    spec = ModelSpec.from_dict(
        {
            **json_of(head(outputs, loss)),
            "optimizer": {"type": "adam", "lr": 0.01},
            "batch_size": 16,
        }
    )
    base = train(spec, None, task_data(loss, 64, 99), epochs=1, seed=0, threads=1).state
    subs = [
        Submission(f"0x{i + 1:02x}", r.update_bytes, r.num_samples)
        for i, r in enumerate(
            train(spec, base, task_data(loss, 64, i), epochs=3, seed=i, threads=1) for i in range(4)
        )
    ]
    verdicts = judge_round(
        base, subs, val_data=task_data(loss, 80, 1234), spec=spec, max_bytes=1 << 20
    )
    assert all(v.accepted for v in verdicts.values()), verdicts


def json_of(spec):
    import json

    return json.loads(spec.to_json())
