"""Model specs: parsing, bounds, shape inference, canonical hashing, building."""

from __future__ import annotations

import json
import time

import pytest
import torch

from milon_app.compute.model_spec import (
    MAX_LAYERS,
    MAX_SPEC_BYTES,
    ModelSpec,
    digits_cnn,
    digits_mlp,
    resolve_model_spec,
)
from milon_app.errors import BadInputError, NotFoundError

# Pinned: a change here means every job spec hash on chain changes. Update deliberately.
DIGITS_MLP_HASH = "73a1e863ec2fa625"


def mlp_dict(**over):
    d = digits_mlp().to_dict()
    d.update(over)
    return d


def with_layers(layers, input_shape=(64,), **over):
    return mlp_dict(layers=layers, input_shape=list(input_shape), **over)


def test_builtin_param_counts_match_built_models():
    for spec, expected in ((digits_mlp(), 17226), (digits_cnn(), 38282)):
        assert spec.param_count() == expected
        model = spec.build(0)
        assert sum(p.numel() for p in model.parameters()) == expected
        out = model(torch.zeros(3, *spec.input_shape))
        assert tuple(out.shape) == (3, *spec.output_shape())


def test_hash_stable_and_canonical():
    spec = digits_mlp()
    assert spec.spec_hash().startswith(DIGITS_MLP_HASH)
    # key order, whitespace and omitted defaults do not change the hash
    d = json.loads(spec.to_json())
    d["layers"][0].pop("bias")
    d["optimizer"].pop("nesterov")
    shuffled = json.dumps(dict(reversed(list(d.items()))), indent=4)
    again = ModelSpec.from_json(shuffled)
    assert again == spec
    assert again.spec_hash() == spec.spec_hash()
    assert again.to_json() == spec.to_json()
    # an int where a float is expected hashes like the float
    d["optimizer"]["lr"] = 1
    assert ModelSpec.from_dict(d).to_dict()["optimizer"]["lr"] == 1.0
    assert digits_mlp(64).spec_hash() != spec.spec_hash()


def test_build_is_seeded_and_leaves_global_rng_alone():
    spec = digits_cnn()
    torch.manual_seed(123)
    before = torch.rand(1)
    torch.manual_seed(123)
    a = spec.build(7).state_dict()
    after = torch.rand(1)
    assert torch.equal(before, after)
    b = spec.build(7).state_dict()
    c = spec.build(8).state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert not all(torch.equal(a[k], c[k]) for k in a)


def test_every_allowed_layer_builds_and_infers_shapes():
    spec2d = ModelSpec.from_dict(
        {
            "input_shape": [3, 16, 16],
            "layers": [
                {
                    "type": "Conv2d",
                    "in_channels": 3,
                    "out_channels": 4,
                    "kernel_size": [3, 5],
                    "stride": 1,
                    "padding": [1, 2],
                },
                {"type": "BatchNorm2d", "num_features": 4},
                {"type": "LeakyReLU", "negative_slope": 0.1},
                {"type": "MaxPool2d", "kernel_size": 2},
                {"type": "AvgPool2d", "kernel_size": 2, "stride": 1},
                {"type": "AdaptiveAvgPool2d", "output_size": 2},
                {"type": "Flatten"},
                {"type": "LayerNorm", "normalized_shape": 16},
                {"type": "Dropout", "p": 0.1},
                {"type": "Linear", "in_features": 16, "out_features": 8},
                {"type": "GELU"},
                {"type": "Tanh"},
                {"type": "Sigmoid"},
                {"type": "Linear", "in_features": 8, "out_features": 3},
                {"type": "Softmax", "dim": 1},
            ],
            "optimizer": {"type": "adamw", "lr": 0.001},
        }
    )
    spec1d = ModelSpec.from_dict(
        {
            "input_shape": [4, 10],
            "layers": [
                {"type": "Conv1d", "in_channels": 4, "out_channels": 6, "kernel_size": 3},
                {"type": "BatchNorm1d", "num_features": 6},
                {"type": "ReLU"},
                {"type": "Flatten"},
                {"type": "Linear", "in_features": 48, "out_features": 5},
                {"type": "LogSoftmax"},
            ],
            "loss": "nll",
            "optimizer": {"type": "adam", "lr": 0.01, "beta1": 0.8},
        }
    )
    for spec in (spec2d, spec1d):
        model = spec.build(1)
        assert sum(p.numel() for p in model.parameters()) == spec.param_count()
        out = model(torch.rand(5, *spec.input_shape))
        assert tuple(out.shape[1:]) == spec.output_shape()
        assert isinstance(spec.make_optimizer(model.parameters()), torch.optim.Optimizer)
        assert ModelSpec.from_json(spec.to_json()) == spec


BAD_LAYERS = [
    ([{"type": "Exec", "code": "x"}], "layer 0 (Exec): unknown layer type"),
    (
        [{"type": "Linear", "in_features": 64, "out_features": 10, "device": "cuda"}],
        "layer 0 (Linear): unknown argument 'device'",
    ),
    (
        [{"type": "Linear", "in_features": "64", "out_features": 10}],
        "layer 0 (Linear): argument 'in_features' must be an integer, got str",
    ),
    (
        [{"type": "Linear", "in_features": 64.0, "out_features": 10}],
        "argument 'in_features' must be an integer",
    ),
    (
        [{"type": "Linear", "in_features": 64, "out_features": True}],
        "argument 'out_features' must be an integer, got bool",
    ),
    (
        [{"type": "Linear", "in_features": 64, "out_features": 10, "bias": 1}],
        "argument 'bias' must be true or false",
    ),
    (
        [{"type": "Linear", "in_features": 64, "out_features": 0}],
        "layer 0 (Linear): argument 'out_features' is 0, outside [1, 65536]",
    ),
    (
        [{"type": "Linear", "in_features": 64, "out_features": 1 << 40}],
        "argument 'out_features' is 1099511627776, outside",
    ),
    ([{"type": "Linear", "in_features": 64}], "missing required argument 'out_features'"),
    (
        [{"type": "Linear", "in_features": 64, "out_features": 10}, {"type": "Dropout", "p": 1.5}],
        "layer 1 (Dropout): argument 'p' is 1.5, outside [0, 1]",
    ),
    (
        [{"type": "Linear", "in_features": 32, "out_features": 10}],
        "layer 0 (Linear): in_features is 32 but the input has 64 features",
    ),
    (
        [
            {"type": "Linear", "in_features": 64, "out_features": 60000},
            {"type": "Linear", "in_features": 60000, "out_features": 60000},
        ],
        "over 50000000 parameters by layer 1 (Linear)",
    ),
    (
        [{"type": "Conv2d", "in_channels": 1, "out_channels": 4, "kernel_size": 3}],
        "layer 0 (Conv2d): expects a 3-dimensional input",
    ),
    (
        [{"type": "Linear", "in_features": 64, "out_features": 10}, {"type": "Softmax", "dim": 0}],
        "layer 1 (Softmax): dim 0 is not a feature dimension",
    ),
    ([{"type": "Linear", "in_features": 64, "out_features": 1}], "not a vector of at least 2"),
    ([{"type": "ReLU", "inplace": True}], "layer 0 (ReLU): unknown argument 'inplace'"),
    (["Linear"], "layer 0: must be an object with a string 'type'"),
    ([], "layers must be a non-empty list"),
]


@pytest.mark.parametrize(("layers", "message"), BAD_LAYERS)
def test_bad_layers_are_refused_with_the_layer_named(layers, message):
    with pytest.raises(BadInputError) as err:
        ModelSpec.from_dict(with_layers(layers))
    assert message in str(err.value)


def test_conv_mismatches_named():
    base = {"input_shape": [1, 8, 8], "optimizer": {"type": "sgd", "lr": 0.1}}
    cases = [
        (
            [{"type": "Conv2d", "in_channels": 3, "out_channels": 4, "kernel_size": 3}],
            "layer 0 (Conv2d): in_channels is 3 but the input has 1",
        ),
        (
            [{"type": "Conv2d", "in_channels": 1, "out_channels": 4, "kernel_size": 9}],
            "kernel 9 does not fit the height size 8",
        ),
        (
            [{"type": "Conv2d", "in_channels": 1, "out_channels": 4, "kernel_size": [3, 3, 3]}],
            "must be an integer or a list of 2 integers",
        ),
        (
            [{"type": "MaxPool2d", "kernel_size": 2, "padding": 2}],
            "padding must be at most half the kernel size",
        ),
        ([{"type": "BatchNorm2d", "num_features": 2}], "num_features is 2 but the input has 1"),
        (
            [{"type": "Flatten"}, {"type": "LayerNorm", "normalized_shape": [8, 8]}],
            "layer 1 (LayerNorm): normalized_shape [8, 8] does not match",
        ),
        (
            [{"type": "Conv2d", "in_channels": 1, "out_channels": 4, "kernel_size": 3}],
            "model output shape [4, 6, 6] is not a vector",
        ),
    ]
    for layers, message in cases:
        with pytest.raises(BadInputError) as err:
            ModelSpec.from_dict({**base, "layers": layers})
        assert message in str(err.value), str(err.value)


@pytest.mark.parametrize(
    ("over", "message"),
    [
        ({"optimizer": {"type": "rmsprop", "lr": 0.1}}, "optimizer type 'rmsprop' is not one of"),
        (
            {"optimizer": {"type": "sgd", "lr": 0.1, "betas": [0.9]}},
            "optimizer (sgd): unknown argument 'betas'",
        ),
        ({"optimizer": {"type": "sgd"}}, "optimizer (sgd): missing 'lr'"),
        ({"optimizer": {"type": "sgd", "lr": -1}}, "argument 'lr' is -1.0, outside"),
        ({"optimizer": {"type": "sgd", "lr": 0.1, "nesterov": True}}, "nesterov needs a momentum"),
        ({"loss": "hinge"}, "loss 'hinge' is not one of"),
        ({"loss": "nll"}, "loss 'nll' needs LogSoftmax"),
        ({"batch_size": 0}, "batch_size 0 is not an integer"),
        ({"batch_size": 10**6}, "batch_size 1000000 is not an integer"),
        ({"batch_size": 32.0}, "batch_size 32.0 is not an integer"),
        ({"version": 2}, "version 2 is not supported"),
        ({"input_shape": [64, 0]}, "input_shape entry 0"),
        ({"input_shape": [1, 1, 1, 64]}, "input_shape must be a list of 1 to 3"),
        ({"input_shape": [4096, 4096, 4]}, "holds over"),
        ({"extra": 1}, "unknown key 'extra'"),
    ],
)
def test_bad_top_level_fields(over, message):
    with pytest.raises(BadInputError) as err:
        ModelSpec.from_dict(mlp_dict(**over))
    assert message in str(err.value)


def test_missing_fields_and_non_object():
    d = mlp_dict()
    del d["layers"]
    with pytest.raises(BadInputError, match="lacks 'layers'"):
        ModelSpec.from_dict(d)
    with pytest.raises(BadInputError, match="must be a JSON object"):
        ModelSpec.from_json("[1, 2]")


def test_activation_memory_bounded_by_batch():
    conv = {
        "input_shape": [64, 512, 512],
        "optimizer": {"type": "sgd", "lr": 0.1},
        "batch_size": 4096,
        "layers": [{"type": "AdaptiveAvgPool2d", "output_size": 1}, {"type": "Flatten"}],
    }
    with pytest.raises(BadInputError, match="batch_size 4096 makes an activation"):
        ModelSpec.from_dict(conv)


def test_too_many_layers():
    layers = [{"type": "Linear", "in_features": 64, "out_features": 64}] * (MAX_LAYERS + 1)
    with pytest.raises(BadInputError, match=f"{MAX_LAYERS + 1} layers, over the limit"):
        ModelSpec.from_dict(with_layers(layers))


def test_huge_param_count_refused_before_allocation():
    # 65536 x 65536 x 64 layers would be terabytes: the check must be arithmetic only
    layers = [{"type": "Linear", "in_features": 64, "out_features": 65536}]
    layers += [{"type": "Linear", "in_features": 65536, "out_features": 65536}] * 10
    t = time.perf_counter()
    with pytest.raises(BadInputError, match="over 50000000 parameters"):
        ModelSpec.from_dict(with_layers(layers))
    assert time.perf_counter() - t < 1.0


def test_json_limits():
    with pytest.raises(BadInputError, match="nested deeper than"):
        ModelSpec.from_json("[" * 30_000 + "]" * 30_000)  # would overflow json's recursion
    with pytest.raises(BadInputError, match="nested deeper than"):
        ModelSpec.from_json('{"layers": [{"type": "ReLU", "x": [[[[[[[[1]]]]]]]]}]}')
    big = json.dumps(mlp_dict()) + " " * MAX_SPEC_BYTES
    with pytest.raises(BadInputError, match="over the limit of 65536"):
        ModelSpec.from_json(big)
    with pytest.raises(BadInputError, match="not valid JSON"):
        ModelSpec.from_json('{"layers": ')
    with pytest.raises(BadInputError, match="repeats the key 'batch_size'"):
        ModelSpec.from_json('{"batch_size": 1, "batch_size": 2}')
    with pytest.raises(BadInputError, match="NaN is not allowed"):
        ModelSpec.from_json('{"batch_size": NaN}')
    with pytest.raises(BadInputError, match="not UTF-8"):
        ModelSpec.from_json(b"\xff\xfe{}")
    # brackets inside strings do not count as nesting
    with pytest.raises(BadInputError, match="unknown layer type"):
        ModelSpec.from_json(json.dumps(with_layers([{"type": "[[[[[[[[[[[[[[[["}])))


def test_resolve_names_and_files(tmp_path):
    assert resolve_model_spec("digits_cnn") == digits_cnn()
    path = tmp_path / "spec.json"
    path.write_text(digits_mlp().to_json())
    assert resolve_model_spec(str(path)) == digits_mlp()
    with pytest.raises(NotFoundError):
        resolve_model_spec(str(tmp_path / "missing.json"))
    path.write_text('{"layers": 1}')
    with pytest.raises(BadInputError, match=str(path)):
        resolve_model_spec(str(path))
