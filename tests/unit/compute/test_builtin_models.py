"""Built-in model specs: pinned hashes, exact parameter counts, and that they train."""

from __future__ import annotations

import json

import pytest
import torch

from milon_app.compute import model_spec
from milon_app.compute.builtin_models import (
    BUILTIN_MODELS,
    resnet8_cifar,
    text_transformer,
)
from milon_app.compute.model_spec import ModelSpec, resolve_model_spec
from milon_app.compute.trainer import evaluate, train

# Pinned: a change here means every job that names this spec gets another spec hash.
HASHES = {
    "digits_mlp": "73a1e863ec2fa625a886f8d45f6129f6d71b7f9e482386ee5083c7d37a01256d",
    "digits_cnn": "f412941db272d0e60f89942a661672674c2042a425d91faea87e4b4520c38c8f",
    "resnet8-cifar": "0379296a06ab",
    "resnet18-cifar": "51782a56ba2d",
    "text-transformer": "273998734b8d",
}
PARAMS = {
    "digits_mlp": 17_226,
    "digits_cnn": 38_282,
    "resnet8-cifar": 78_042,
    "resnet18-cifar": 11_173_962,
    "text-transformer": 806_404,
}


def test_registry_and_old_imports():
    assert set(BUILTIN_MODELS) == set(HASHES)
    assert model_spec.BUILTIN_MODELS is BUILTIN_MODELS  # re-exported where it used to live
    assert model_spec.digits_mlp().spec_hash() == HASHES["digits_mlp"]
    assert resolve_model_spec("resnet8-cifar") == resnet8_cifar()


@pytest.mark.parametrize("name", sorted(HASHES))
def test_hashes_pinned_and_params_exact(name):
    spec = BUILTIN_MODELS[name]()
    assert spec.spec_hash().startswith(HASHES[name])
    assert ModelSpec.from_json(spec.to_json()) == spec
    assert spec.param_count() == PARAMS[name]
    model = spec.build(0).eval()
    assert sum(p.numel() for p in model.parameters()) == PARAMS[name]
    if spec.vocab_size:
        x = torch.randint(0, spec.vocab_size, (2, *spec.input_shape))
    else:
        x = torch.rand(2, *spec.input_shape)
    with torch.no_grad():
        assert tuple(model(x).shape) == (2, spec.num_classes)


def test_digits_json_has_no_new_keys():
    """New spec features only add keys when used, so old specs keep their JSON."""
    for name in ("digits_mlp", "digits_cnn"):
        text = BUILTIN_MODELS[name]().to_json()
        assert "shortcut" not in text and "task" not in text and "Embedding" not in text
        assert set(json.loads(text)) == {
            "version",
            "input_shape",
            "layers",
            "loss",
            "optimizer",
            "batch_size",
        }


def test_resnet_layouts():
    resnet18 = BUILTIN_MODELS["resnet18-cifar"]()
    blocks = [layer for layer in resnet18.layers if layer.type == "Residual"]
    assert len(blocks) == 8
    assert sum(1 for b in blocks if b.args["shortcut"]) == 3  # one per down-sampling stage
    assert resnet18.input_shape == (3, 32, 32) and resnet18.num_classes == 10
    assert len(resnet8_cifar().layers) == 3 + 2 * 3 + 3


def train_mode_loss(spec, state, x, y):
    """The loss with BatchNorm on batch statistics, as in training."""
    model = spec.build(0)
    model.load_state_dict(state)
    model.train()
    with torch.no_grad():
        return float(spec.make_loss()(model(x), y))


def test_resnet8_one_epoch_on_tiny_images_lowers_the_loss():
    g = torch.Generator().manual_seed(0)
    x = torch.rand(8, 3, 32, 32, generator=g)
    y = torch.arange(8) % 2
    spec = resnet8_cifar(batch_size=4)
    result = train(spec, None, (x, y), epochs=1, seed=1, threads=2)
    before = train_mode_loss(spec, spec.build(1).state_dict(), x, y)
    assert train_mode_loss(spec, result.state, x, y) < before
    again = train(spec, None, (x, y), epochs=1, seed=1, threads=2)
    assert again.update_bytes == result.update_bytes


def test_text_transformer_learns_a_marker_token():
    spec = text_transformer(batch_size=16, num_classes=2, vocab=64, seq_len=16, d_model=32)
    g = torch.Generator().manual_seed(1)
    x = torch.randint(2, 64, (64, 16), generator=g)
    y = torch.randint(0, 2, (64,), generator=g)
    x[y == 1, 5] = 1
    start, _ = evaluate(spec, spec.build(0).state_dict(), x, y)
    result = train(spec, None, (x, y), epochs=6, seed=0, val_data=(x, y), threads=2)
    assert result.val_loss < start * 0.8 and result.val_accuracy > 0.75
