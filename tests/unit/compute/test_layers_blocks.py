"""Residual blocks and sequence layers: shapes, bounds and parameter counts before building."""

from __future__ import annotations

import json
import time

import pytest
import torch

from milon_app.compute.blocks import MAX_NESTING
from milon_app.compute.model_spec import MAX_TOTAL_LAYERS, ModelSpec
from milon_app.errors import BadInputError

OPT = {"type": "sgd", "lr": 0.1}
RELU = {"type": "ReLU"}


def make(input_shape, layers, **over):
    return ModelSpec.from_dict(
        {"input_shape": input_shape, "layers": layers, "optimizer": OPT, **over}
    )


def conv(c_in, c_out, k=3, stride=1):
    return {
        "type": "Conv2d",
        "in_channels": c_in,
        "out_channels": c_out,
        "kernel_size": k,
        "stride": stride,
        "padding": k // 2,
        "bias": False,
    }


def bn(c):
    return {"type": "BatchNorm2d", "num_features": c}


HEAD = [{"type": "AdaptiveAvgPool2d", "output_size": 1}, {"type": "Flatten"}]


def head(c, classes=3):
    return [*HEAD, {"type": "Linear", "in_features": c, "out_features": classes}]


def inputs(spec, n=2):
    if spec.vocab_size:
        return torch.randint(0, spec.vocab_size, (n, *spec.input_shape))
    return torch.rand(n, *spec.input_shape)


def assert_sound(spec):
    """The counts computed from arguments are torch's, and the output shape is right."""
    model = spec.build(0)
    assert sum(p.numel() for p in model.parameters()) == spec.param_count()
    model.eval()
    with torch.no_grad():
        out = model(inputs(spec))
    assert tuple(out.shape) == (2, *spec.output_shape())
    assert ModelSpec.from_json(spec.to_json()) == spec


def test_residual_identity_and_projection_shortcuts():
    identity = {"type": "Residual", "body": [conv(4, 4), bn(4), RELU, conv(4, 4), bn(4)]}
    down = {
        "type": "Residual",
        "body": [conv(4, 8, stride=2), bn(8), RELU, conv(8, 8), bn(8)],
        "shortcut": [conv(4, 8, k=1, stride=2), bn(8)],
    }
    spec = make([4, 8, 8], [identity, RELU, down, RELU, *head(8)])
    assert spec.output_shape() == (3,)
    # identity block 2*144 + 2*8; down block 288 + 576 + 32 (1x1) + 3 * 16; Linear 27
    assert spec.param_count() == 304 + 944 + 27
    assert_sound(spec)
    model = spec.build(0)
    names = [k for k, _ in model.named_parameters()]
    assert "0.body.0.weight" in names and "2.shortcut.0.weight" in names
    # the canonical form lists an empty shortcut, so both spellings hash the same
    d = json.loads(spec.to_json())
    assert d["layers"][0]["shortcut"] == []
    d["layers"][0].pop("shortcut")
    assert ModelSpec.from_dict(d).spec_hash() == spec.spec_hash()


def test_residual_adds_the_shortcut():
    spec = make(
        [3],
        [{"type": "Residual", "body": [{"type": "Linear", "in_features": 3, "out_features": 3}]}],
    )
    model = spec.build(0)
    x = torch.rand(4, 3)
    lin = model[0].body[0]
    assert torch.allclose(model(x), lin(x) + x)


@pytest.mark.parametrize(
    ("layers", "message"),
    [
        (
            [{"type": "Residual", "body": [conv(4, 8)]}, *head(8)],
            "layer 0 (Residual): the body's output shape [8, 8, 8] differs from the input "
            "(no shortcut) shape [4, 8, 8]",
        ),
        (
            [
                {"type": "Residual", "body": [conv(4, 8, stride=2)], "shortcut": [conv(4, 8, k=1)]},
                *head(8),
            ],
            "the body's output shape [8, 4, 4] differs from the shortcut's output shape [8, 8, 8]",
        ),
        (
            [{"type": "Residual", "body": [conv(4, 4), bn(3)]}, *head(4)],
            "layer 0.body.1 (BatchNorm2d): num_features is 3 but the input has 4",
        ),
        (
            [RELU, {"type": "Residual", "body": [conv(4, 4)], "shortcut": [{"type": "Bad"}]}],
            "layer 1.shortcut.0 (Bad): unknown layer type",
        ),
        ([{"type": "Residual", "body": []}], "'body' must be a list of 1 to 64 layers"),
        ([{"type": "Residual"}], "layer 0 (Residual): missing required argument 'body'"),
        ([{"type": "Residual", "body": [RELU], "skip": 1}], "unknown argument 'skip'"),
        ([{"type": "Residual", "body": ["ReLU"]}], "layer 0.body.0: must be an object"),
        ([{"type": "Residual", "body": [RELU], "shortcut": {}}], "'shortcut' must be a list"),
        (
            [{"type": "Residual", "body": [{"type": "Conv2d", "in_channels": 4}]}],
            "layer 0.body.0 (Conv2d): missing required argument 'out_channels'",
        ),
    ],
)
def test_block_errors_name_the_layer(layers, message):
    with pytest.raises(BadInputError) as err:
        make([4, 8, 8], layers)
    assert message in str(err.value), str(err.value)


def nested(depth):
    layer = {"type": "Residual", "body": [RELU]}
    for _ in range(depth - 1):
        layer = {"type": "Residual", "body": [layer]}
    return layer


def test_nesting_and_total_layers_bounded():
    spec = make([3], [nested(MAX_NESTING), {"type": "Linear", "in_features": 3, "out_features": 2}])
    assert_sound(spec)
    with pytest.raises(BadInputError, match=f"blocks nest at most {MAX_NESTING} deep"):
        make([3], [nested(MAX_NESTING + 1)])
    # the deepest block, with a list-valued argument inside, still fits the JSON depth limit
    inner = {"type": "Residual", "body": [{**conv(2, 2), "kernel_size": [3, 3]}]}
    deep = make([2, 4, 4], [{"type": "Residual", "body": [inner]}, *head(2)])
    assert ModelSpec.from_json(deep.to_json()) == deep
    # 40 top-level entries, 280 layers in all: nested layers count against the total
    block = {"type": "Residual", "body": [RELU] * 6}
    with pytest.raises(BadInputError, match=f"over {MAX_TOTAL_LAYERS} layers by layer 36"):
        make([3], [block] * 40)


def text_layers(vocab=50, seq=12, d=16, heads=4, **enc):
    return [
        {"type": "Embedding", "num_embeddings": vocab, "embedding_dim": d},
        {"type": "PositionalEmbedding", "max_len": seq, "embedding_dim": d},
        {
            "type": "TransformerEncoderLayer",
            "d_model": d,
            "nhead": heads,
            "dim_feedforward": 24,
            **enc,
        },
        {"type": "SelfAttention", "embed_dim": d, "num_heads": 2},
        {"type": "SequencePool", "mode": "mean"},
        {"type": "Linear", "in_features": d, "out_features": 3},
    ]


def test_sequence_layers_count_and_build():
    spec = make([12], text_layers(norm_first=True, activation="gelu"))
    d = 16
    encoder = 4 * d * d + 4 * d + 2 * d * 24 + 24 + d + 4 * d
    assert spec.param_count() == 50 * d + 12 * d + encoder + 4 * d * d + 4 * d + d * 3 + 3
    assert spec.vocab_size == 50 and spec.is_stochastic  # the encoder's default dropout 0.1
    assert_sound(spec)
    # a shorter sequence than max_len uses the first positions
    assert_sound(make([5], text_layers(seq=12)))
    a, b = spec.build(3).state_dict(), spec.build(3).state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)
    quiet = make([12], text_layers(dropout=0.0))
    assert not quiet.is_stochastic


@pytest.mark.parametrize(
    ("mode", "expect"),
    [("mean", lambda x: x.mean(1)), ("first", lambda x: x[:, 0]), ("max", lambda x: x.amax(1))],
)
def test_sequence_pool_modes(mode, expect):
    spec = make(
        [5, 4],
        [
            {"type": "SequencePool", "mode": mode},
            {"type": "Linear", "in_features": 4, "out_features": 2},
        ],
    )
    pool = spec.build(0)[0]
    x = torch.rand(3, 5, 4)
    assert torch.equal(pool(x), expect(x))


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            {2: {"nhead": 3}},
            "layer 2 (TransformerEncoderLayer): d_model 16 is not divisible by the 3 heads",
        ),
        ({2: {"batch_first": False}}, "batch_first must be true"),
        ({2: {"d_model": 8}}, "d_model is 8 but the input has 16 features"),
        ({2: {"nhead": 65}}, "argument 'nhead' is 65, outside [1, 64]"),
        ({2: {"dim_feedforward": 1 << 20}}, "argument 'dim_feedforward' is 1048576, outside"),
        ({2: {"activation": "swish"}}, "argument 'activation' must be one of relu, gelu"),
        (
            {1: {"max_len": 8}},
            "layer 1 (PositionalEmbedding): the sequence of 12 positions is longer",
        ),
        ({1: {"embedding_dim": 8}}, "embedding_dim is 8 but the input has 16 features"),
        (
            {3: {"num_heads": 5}},
            "layer 3 (SelfAttention): embed_dim 16 is not divisible by the 5 heads",
        ),
        ({4: {"mode": "sum"}}, "argument 'mode' must be one of mean, first, max, got 'sum'"),
        ({0: {"num_embeddings": (1 << 20) + 1}}, "argument 'num_embeddings' is 1048577, outside"),
        ({0: {"embedding_dim": 8193}}, "argument 'embedding_dim' is 8193, outside"),
    ],
)
def test_sequence_layer_errors_named(change, message):
    layers = text_layers()
    for i, args in change.items():
        layers[i] = {**layers[i], **args}
    with pytest.raises(BadInputError) as err:
        make([12], layers)
    assert message in str(err.value), str(err.value)


def test_embedding_only_first_and_pool_needs_a_sequence():
    layers = text_layers()
    with pytest.raises(BadInputError, match=r"layer 1 \(Embedding\): only the first layer"):
        make([12], [RELU, *layers])
    inner = {"type": "Residual", "body": [layers[0]]}
    with pytest.raises(BadInputError, match=r"layer 0.body.0 \(Embedding\): only the first"):
        make([12], [inner, *layers[1:]])
    with pytest.raises(BadInputError, match=r"layer 0 \(SequencePool\): expects a 2-dimensional"):
        make([12], [{"type": "SequencePool"}])


def test_attention_memory_refused_before_anything_is_built(monkeypatch):
    import milon_app.compute.layers as L

    def no_build(*a, **k):
        raise AssertionError("nothing may be built while checking a spec")

    monkeypatch.setattr(L, "build_layer", no_build)
    seq = 4096  # 8 heads x 4096^2 = 134M values per sample for the attention matrix alone
    layers = text_layers(vocab=100, seq=seq, d=16, heads=8)
    t = time.perf_counter()
    with pytest.raises(
        BadInputError, match=r"layer 2 \(TransformerEncoderLayer\): an intermediate of 134217728"
    ):
        make([seq], layers)
    # per sample it fits (4 x 1024^2), but not a batch of 65
    layers = text_layers(vocab=100, seq=1024, d=16, heads=4)
    with pytest.raises(BadInputError, match="batch_size 65 makes an activation of 272629760"):
        make([1024], layers, batch_size=65)
    assert time.perf_counter() - t < 1.0


def test_nested_activation_counts():
    wide = {
        "type": "Residual",
        "body": [
            {"type": "Linear", "in_features": 4, "out_features": 1 << 16},
            {"type": "Linear", "in_features": 1 << 16, "out_features": 4},
        ],
    }
    with pytest.raises(BadInputError, match="batch_size 8192 makes an activation of 536870912"):
        make([4], [wide, {"type": "Linear", "in_features": 4, "out_features": 2}], batch_size=8192)
