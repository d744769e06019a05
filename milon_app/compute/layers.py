"""The allowlist of layers a model spec may use, with argument schemas and shape rules.

A job owner describes a model; they never ship code. Each allowed layer has
typed, bounded arguments, a shape rule (so mismatches are found before any
tensor is allocated) and a parameter count computed from the arguments
alone. The torch class is looked up in this table only, never by name.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from milon_app.compute import blocks
from milon_app.compute.layer_args import _REQUIRED as _REQUIRED
from milon_app.compute.layer_args import MAX_FEATURES as MAX_FEATURES
from milon_app.compute.layer_args import Arg as Arg
from milon_app.compute.layer_args import Inferred as Inferred
from milon_app.compute.layer_args import LayerKind as LayerKind
from milon_app.compute.layer_args import Shape as Shape
from milon_app.compute.layer_args import ShapeError as ShapeError
from milon_app.compute.layer_args import _check_value as _check_value
from milon_app.compute.layer_args import need_dims as _need
from milon_app.compute.seq_layers import SEQ_LAYERS
from milon_app.errors import BadInputError

if TYPE_CHECKING:
    from torch import nn

MAX_KERNEL = 64
MAX_STRIDE = 64
MAX_PADDING = 64


def normalize_args(
    index: int | str, type_name: str, raw: Mapping[str, Any], depth: int = 0
) -> dict[str, Any]:
    """Check ``raw`` against the layer's schema and fill in defaults. ``index`` is the
    layer's place (``3``, or ``3.body.1`` inside a block), ``depth`` its block nesting."""
    where = f"layer {index} ({type_name})"
    if type_name in blocks.CONTAINERS:
        return blocks.normalize(str(index), type_name, raw, depth)
    kind = LAYERS.get(type_name)
    if kind is None:
        allowed = ", ".join(sorted([*LAYERS, *blocks.CONTAINERS]))
        raise BadInputError(f"{where}: unknown layer type; allowed: {allowed}")
    unknown = sorted(set(raw) - set(kind.args))
    if unknown:
        known = ", ".join(sorted(kind.args)) or "none"
        raise BadInputError(f"{where}: unknown argument {unknown[0]!r} (known: {known})")
    out: dict[str, Any] = {}
    for name, arg in kind.args.items():
        if name in raw:
            try:
                out[name] = _check_value(arg, name, raw[name])
            except BadInputError as exc:
                raise BadInputError(f"{where}: {exc}") from None
        elif arg.default is _REQUIRED:
            raise BadInputError(f"{where}: missing required argument {name!r}")
        else:
            out[name] = list(arg.default) if isinstance(arg.default, list) else arg.default
    kind.defaults(out)
    return out


def infer(index: int | str, type_name: str, args: dict[str, Any], shape: Shape) -> Inferred:
    if type_name in blocks.CONTAINERS:
        return blocks.infer(str(index), type_name, args, shape)
    try:
        return LAYERS[type_name].infer(shape, args)
    except ShapeError as exc:
        raise BadInputError(
            f"layer {index} ({type_name}): {exc} (input shape {list(shape)})"
        ) from None


def build_layer(type_name: str, args: dict[str, Any]) -> nn.Module:
    from torch import nn

    if type_name in blocks.CONTAINERS:
        return blocks.build(type_name, args)
    kind = LAYERS[type_name]
    if kind.build is not None:
        return kind.build(args)
    cls = getattr(nn, kind.torch_name)  # name comes from the allowlist only
    kwargs = {k: tuple(v) if isinstance(v, list) else v for k, v in args.items()}
    module: nn.Module = cls(**kwargs)
    return module


def layer_count(type_name: str, args: dict[str, Any]) -> int:
    """1, or for a block 1 plus every layer it holds, nested blocks included."""
    return sum(1 for _ in blocks.iter_layers("", type_name, args))


# --- shape rules ---------------------------------------------------------------------------


def _out_len(size: int, k: int, s: int, p: int, axis: str) -> int:
    out = (size + 2 * p - k) // s + 1
    if out < 1:
        raise ShapeError(f"kernel {k} does not fit the {axis} size {size} with padding {p}")
    return out


def _linear(shape: Shape, a: dict[str, Any]) -> Inferred:
    if not shape or shape[-1] != a["in_features"]:
        got = shape[-1] if shape else "no"
        raise ShapeError(f"in_features is {a['in_features']} but the input has {got} features")
    n_in, n_out = a["in_features"], a["out_features"]
    return Inferred((*shape[:-1], n_out), n_in * n_out + (n_out if a["bias"] else 0))


def _conv1d(shape: Shape, a: dict[str, Any]) -> Inferred:
    _need(shape, 2, "channels, length")
    if shape[0] != a["in_channels"]:
        raise ShapeError(f"in_channels is {a['in_channels']} but the input has {shape[0]}")
    k, s, p = a["kernel_size"], a["stride"], a["padding"]
    out_len = _out_len(shape[1], k, s, p, "length")
    c_in, c_out = a["in_channels"], a["out_channels"]
    return Inferred((c_out, out_len), c_out * c_in * k + (c_out if a["bias"] else 0))


def _conv2d(shape: Shape, a: dict[str, Any]) -> Inferred:
    _need(shape, 3, "channels, height, width")
    if shape[0] != a["in_channels"]:
        raise ShapeError(f"in_channels is {a['in_channels']} but the input has {shape[0]}")
    (kh, kw), (sh, sw), (ph, pw) = a["kernel_size"], a["stride"], a["padding"]
    h = _out_len(shape[1], kh, sh, ph, "height")
    w = _out_len(shape[2], kw, sw, pw, "width")
    c_in, c_out = a["in_channels"], a["out_channels"]
    return Inferred((c_out, h, w), c_out * c_in * kh * kw + (c_out if a["bias"] else 0))


def _pool_defaults(a: dict[str, Any]) -> None:
    if a["stride"] is None:
        a["stride"] = list(a["kernel_size"])


def _pool2d(shape: Shape, a: dict[str, Any]) -> Inferred:
    _need(shape, 3, "channels, height, width")
    (kh, kw), (sh, sw), (ph, pw) = a["kernel_size"], a["stride"], a["padding"]
    if 2 * ph > kh or 2 * pw > kw:
        raise ShapeError("padding must be at most half the kernel size")
    h = _out_len(shape[1], kh, sh, ph, "height")
    return Inferred((shape[0], h, _out_len(shape[2], kw, sw, pw, "width")))


def _adaptive(shape: Shape, a: dict[str, Any]) -> Inferred:
    _need(shape, 3, "channels, height, width")
    return Inferred((shape[0], *a["output_size"]))


def _batchnorm(ndims: tuple[int, ...]) -> Callable[[Shape, dict[str, Any]], Inferred]:
    def rule(shape: Shape, a: dict[str, Any]) -> Inferred:
        if len(shape) not in ndims:
            raise ShapeError(f"expects {' or '.join(map(str, ndims))} dimensions per sample")
        if shape[0] != a["num_features"]:
            raise ShapeError(f"num_features is {a['num_features']} but the input has {shape[0]}")
        c = a["num_features"]
        return Inferred(shape, 2 * c, 2 * c + 1)

    return rule


def _layernorm(shape: Shape, a: dict[str, Any]) -> Inferred:
    norm = tuple(a["normalized_shape"])
    if len(norm) > len(shape) or shape[len(shape) - len(norm) :] != norm:
        raise ShapeError(f"normalized_shape {list(norm)} does not match the trailing dimensions")
    return Inferred(shape, 2 * math.prod(norm) if a["elementwise_affine"] else 0)


def _flatten(shape: Shape, a: dict[str, Any]) -> Inferred:
    return Inferred((math.prod(shape),))


def _same(shape: Shape, a: dict[str, Any]) -> Inferred:
    return Inferred(shape)


def _softmax(shape: Shape, a: dict[str, Any]) -> Inferred:
    ndim = len(shape) + 1  # with the batch dimension
    dim = a["dim"]
    if not -ndim <= dim < ndim or dim % ndim == 0:
        raise ShapeError(f"dim {dim} is not a feature dimension of a {ndim}-d batch")
    return Inferred(shape)


_F = MAX_FEATURES
_CONV_ARGS = {
    "in_channels": Arg("int", 1, _F),
    "out_channels": Arg("int", 1, _F),
    "kernel_size": Arg("int", 1, MAX_KERNEL),
    "stride": Arg("int", 1, MAX_STRIDE, 1),
    "padding": Arg("int", 0, MAX_PADDING, 0),
    "bias": Arg("bool", default=True),
}
_CONV2D_ARGS = {
    **_CONV_ARGS,
    "kernel_size": Arg("pair", 1, MAX_KERNEL),
    "stride": Arg("pair", 1, MAX_STRIDE, [1, 1]),
    "padding": Arg("pair", 0, MAX_PADDING, [0, 0]),
}
_POOL_ARGS = {
    "kernel_size": Arg("pair", 1, MAX_KERNEL),
    "stride": Arg("pair", 1, MAX_STRIDE, None),
    "padding": Arg("pair", 0, MAX_PADDING, [0, 0]),
}
_NORM_ARGS = {
    "num_features": Arg("int", 1, _F),
    "eps": Arg("float", 1e-12, 1.0, 1e-5),
    "momentum": Arg("float", 0.0, 1.0, 0.1),
}

LAYERS: dict[str, LayerKind] = {
    "Linear": LayerKind(
        {
            "in_features": Arg("int", 1, _F),
            "out_features": Arg("int", 1, _F),
            "bias": Arg("bool", default=True),
        },
        _linear,
        "Linear",
    ),
    "Conv1d": LayerKind(_CONV_ARGS, _conv1d, "Conv1d"),
    "Conv2d": LayerKind(_CONV2D_ARGS, _conv2d, "Conv2d"),
    "MaxPool2d": LayerKind(_POOL_ARGS, _pool2d, "MaxPool2d", _pool_defaults),
    "AvgPool2d": LayerKind(_POOL_ARGS, _pool2d, "AvgPool2d", _pool_defaults),
    "AdaptiveAvgPool2d": LayerKind(
        {"output_size": Arg("pair", 1, 1024)}, _adaptive, "AdaptiveAvgPool2d"
    ),
    "BatchNorm1d": LayerKind(_NORM_ARGS, _batchnorm((1, 2)), "BatchNorm1d"),
    "BatchNorm2d": LayerKind(_NORM_ARGS, _batchnorm((3,)), "BatchNorm2d"),
    "LayerNorm": LayerKind(
        {
            "normalized_shape": Arg("dims", 1, _F),
            "eps": Arg("float", 1e-12, 1.0, 1e-5),
            "elementwise_affine": Arg("bool", default=True),
        },
        _layernorm,
        "LayerNorm",
    ),
    "Dropout": LayerKind({"p": Arg("float", 0.0, 1.0, 0.5)}, _same, "Dropout"),
    "Flatten": LayerKind({}, _flatten, "Flatten"),
    "ReLU": LayerKind({}, _same, "ReLU"),
    "LeakyReLU": LayerKind({"negative_slope": Arg("float", 0.0, 10.0, 0.01)}, _same, "LeakyReLU"),
    "GELU": LayerKind({}, _same, "GELU"),
    "Tanh": LayerKind({}, _same, "Tanh"),
    "Sigmoid": LayerKind({}, _same, "Sigmoid"),
    "Softmax": LayerKind({"dim": Arg("int", -4, 3, -1)}, _softmax, "Softmax"),
    "LogSoftmax": LayerKind({"dim": Arg("int", -4, 3, -1)}, _softmax, "LogSoftmax"),
    **SEQ_LAYERS,
}
