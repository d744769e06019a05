"""Property tests for model specs, the JSON a job owner sends every contributor.

A spec is either refused with BadInputError or it is sound: torch builds it,
a batch runs through it, and the shapes and parameter count the checker
computed from the arguments alone are the ones torch produces. Layer lists
are drawn so that many of them fit together (arguments often follow the
running shape), which reaches the shape rules rather than only the schema.
"""

from __future__ import annotations

import json
import math
from typing import Any

import torch
from hypothesis import given
from hypothesis import strategies as st

from milon_app.compute import layers as L
from milon_app.compute.bounded_json import loads_bounded
from milon_app.compute.model_spec import MAX_SPEC_BYTES, ModelSpec
from milon_app.errors import BadInputError
from tests.unit.fuzz_util import FUZZ, bounded_memory, outcome

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner, max_size=4)
    ),
    max_leaves=20,
)
small = st.integers(min_value=1, max_value=6)
odd = st.one_of(
    st.integers(min_value=-2, max_value=1 << 17),
    st.integers(min_value=10**20, max_value=10**400),
    st.floats(allow_nan=True, allow_infinity=True),
    st.booleans(),
    st.text(max_size=3),
    st.lists(small, max_size=4),
    st.none(),
)


def _fitting(name: str, kind: L.Arg, shape: tuple[int, ...], draw: st.DrawFn) -> Any:
    """An argument value that often suits the running shape."""
    if name in ("in_features",) and shape:
        return shape[-1]
    if name in ("in_channels", "num_features") and shape:
        return shape[0]
    if name == "normalized_shape" and shape:
        return list(shape[-draw(st.integers(1, len(shape))) :])
    if kind.kind == "bool":
        return draw(st.booleans())
    if kind.kind == "float":
        return draw(st.floats(min_value=kind.lo, max_value=min(kind.hi, 1.0)))
    if name == "dim":
        return draw(st.integers(-4, 3))
    if name == "padding":
        return draw(st.integers(0, 2))
    if kind.kind == "pair" and draw(st.booleans()):
        return [draw(small), draw(small)]
    return draw(small)


def _mutate(spec: dict[str, Any], draw: st.DrawFn) -> None:
    """One hostile change: an odd value, an unknown layer or key, a missing field."""
    layers = spec["layers"]
    i = draw(st.integers(0, len(layers) - 1))
    how = draw(st.sampled_from(["value", "layer", "key", "drop", "top", "shape"]))
    if how == "value" and len(layers[i]) > 1:
        name = draw(st.sampled_from(sorted(k for k in layers[i] if k != "type")))
        layers[i][name] = draw(odd)
    elif how == "layer":
        layers[i]["type"] = draw(st.sampled_from(["Conv3d", "Identity", "eval", "", "linear"]))
    elif how == "key":
        layers[i][draw(st.text(max_size=5))] = draw(odd)
    elif how == "drop":
        spec.pop(draw(st.sampled_from(sorted(spec))))
    elif how == "top":
        spec[draw(st.sampled_from(["batch_size", "loss", "version", "optimizer", "layers"]))] = (
            draw(odd)
        )
    else:
        spec["input_shape"] = draw(st.lists(st.integers(0, 70000), max_size=4) | odd)


ANY_DIMS = ["Dropout", "ReLU", "LeakyReLU", "GELU", "Tanh", "Sigmoid", "Softmax", "LayerNorm"]
BY_DIMS = {
    1: ["Linear", "BatchNorm1d", *ANY_DIMS],
    2: ["Conv1d", "BatchNorm1d", "Flatten", "Linear", *ANY_DIMS],
    3: ["Conv2d", "MaxPool2d", "AvgPool2d", "AdaptiveAvgPool2d", "BatchNorm2d", "Flatten"],
}


@st.composite
def specs(draw: st.DrawFn) -> dict[str, Any]:
    input_shape = draw(st.sampled_from([[6], [2, 8], [1, 6, 6], [3, 5, 7], [2, 4, 4]]))
    shape = tuple(input_shape)
    layers: list[dict[str, Any]] = []
    for _ in range(draw(st.integers(1, 7))):
        fits = BY_DIMS.get(len(shape), [])
        kind = draw(st.sampled_from(fits if fits and draw(st.booleans()) else sorted(L.LAYERS)))
        layer: dict[str, Any] = {"type": kind}
        for name, arg in L.LAYERS[kind].args.items():
            if arg.default is L._REQUIRED or draw(st.booleans()):
                layer[name] = _fitting(name, arg, shape, draw)
        layers.append(layer)
        try:  # follow the running shape so the next layer's arguments can fit it
            raw = {k: v for k, v in layer.items() if k != "type"}
            args = L.normalize_args(len(layers), kind, raw)
            shape = L.infer(len(layers), kind, args, shape).shape
        except BadInputError:
            pass
    if draw(st.integers(0, 3)) > 0:  # usually end in a class vector
        classes = draw(st.integers(1, 5))
        layers += [
            {"type": "Flatten"},
            {"type": "Linear", "in_features": math.prod(shape) or 1, "out_features": classes},
        ]
    spec: dict[str, Any] = {
        "input_shape": input_shape,
        "layers": layers,
        "optimizer": draw(
            st.sampled_from([{"type": "sgd", "lr": 0.1}, {"type": "adam", "lr": 1e-3}])
        ),
    }
    if draw(st.booleans()):
        spec["loss"] = draw(st.sampled_from(["cross_entropy", "nll"]))
    if draw(st.booleans()):
        spec["batch_size"] = draw(st.integers(1, 64))
    if draw(st.booleans()):
        _mutate(spec, draw)
    return spec


def _check_sound(spec: ModelSpec) -> None:
    """What the checker promised is what torch builds."""
    params = spec.param_count()
    assert params <= 50_000_000
    if params > 200_000 or math.prod(spec.input_shape) > 50_000:
        return  # sound by the same rules, but too big to build in a quick test
    model = spec.build(0).eval()
    assert sum(p.numel() for p in model.parameters()) == params
    with torch.no_grad():
        dtype = torch.long if spec.vocab_size else None  # an Embedding reads token ids
        out = model(torch.zeros(2, *spec.input_shape, dtype=dtype))
    assert tuple(out.shape) == (2, spec.num_classes)
    assert ModelSpec.from_json(spec.to_json()) == spec  # the canonical form parses back


@FUZZ
@given(specs())
def _structured(obj: dict[str, Any]) -> None:
    spec = outcome(lambda: ModelSpec.from_dict(obj), BadInputError)
    if spec is not None:
        _check_sound(spec)


def test_drawn_specs_are_refused_or_sound():
    with bounded_memory():
        _structured()


@FUZZ
@given(st.one_of(st.binary(max_size=300), json_values.map(lambda v: json.dumps(v).encode())))
def _raw(data: bytes) -> None:
    spec = outcome(lambda: ModelSpec.from_json(data), BadInputError)
    if spec is not None:
        _check_sound(spec)


def test_arbitrary_bytes_and_json_are_refused_or_sound():
    _raw()


@FUZZ
@given(
    st.sampled_from("[{"),
    st.integers(min_value=1, max_value=MAX_SPEC_BYTES),
    st.sampled_from(['"a":', "1,", "", " "]),
)
def _deep(opener: str, depth: int, filler: str) -> None:
    text = (opener + filler) * depth
    outcome(lambda: ModelSpec.from_json(text[: MAX_SPEC_BYTES + 10]), BadInputError)


def test_deep_and_oversized_documents_are_refused():
    _deep()


@FUZZ
@given(st.text(max_size=200) | json_values.map(json.dumps))
def _bounded(text: str) -> None:
    value = outcome(
        lambda: loads_bounded(text, max_bytes=1000, max_depth=3, what="document"), BadInputError
    )
    if value is not None:
        assert json.loads(text) == value  # what it accepts, it reads like json does


def test_bounded_json_reads_like_json_or_refuses():
    _bounded()
