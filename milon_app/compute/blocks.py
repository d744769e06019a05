"""Blocks: a residual container over allowlisted layers, checked like any other layer.

``{"type": "Residual", "body": [...], "shortcut": [...]}`` computes
``body(x) + shortcut(x)``; an empty shortcut (the default) is the identity.
The shapes are checked before anything is built: the body must give back
the input shape, or the shortcut (say a 1x1 Conv2d with a stride and a
BatchNorm2d) must map the input to the body's output shape. Blocks nest at
most ``MAX_NESTING`` deep, and every layer inside one counts towards the
model's ``MAX_TOTAL_LAYERS`` (:mod:`milon_app.compute.model_spec`), so the
work of checking a spec stays bounded by its size.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any

from milon_app.compute.layer_args import Inferred, Shape
from milon_app.errors import BadInputError

if TYPE_CHECKING:
    from torch import nn

CONTAINERS = ("Residual",)
MAX_NESTING = 2  # a block may hold a block, but no deeper
MAX_BLOCK_LAYERS = 64  # in one body or shortcut list
_LISTS = ("body", "shortcut")


def _args(layer: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in layer.items() if k != "type"}


def normalize(path: str, type_name: str, raw: Mapping[str, Any], depth: int) -> dict[str, Any]:
    """The block's lists with every inner layer checked and its defaults filled in."""
    where = f"layer {path} ({type_name})"
    if depth >= MAX_NESTING:
        raise BadInputError(f"{where}: blocks nest at most {MAX_NESTING} deep")
    unknown = sorted(set(raw) - set(_LISTS))
    if unknown:
        raise BadInputError(f"{where}: unknown argument {unknown[0]!r} (known: body, shortcut)")
    if "body" not in raw:
        raise BadInputError(f"{where}: missing required argument 'body'")
    return {name: _normalize_list(path, where, name, raw.get(name, []), depth) for name in _LISTS}


def _normalize_list(
    path: str, where: str, name: str, value: Any, depth: int
) -> list[dict[str, Any]]:
    from milon_app.compute import layers as L

    least = 1 if name == "body" else 0
    if not isinstance(value, list) or not least <= len(value) <= MAX_BLOCK_LAYERS:
        raise BadInputError(
            f"{where}: {name!r} must be a list of {least} to {MAX_BLOCK_LAYERS} layers"
        )
    out = []
    for j, raw in enumerate(value):
        place = f"{path}.{name}.{j}"
        if not isinstance(raw, dict) or not isinstance(raw.get("type"), str):
            raise BadInputError(f"layer {place}: must be an object with a string 'type'")
        args = L.normalize_args(place, raw["type"], _args(raw), depth + 1)
        out.append({"type": raw["type"], **args})
    return out


def _walk(path: str, name: str, layers: list[dict[str, Any]], shape: Shape) -> Inferred:
    from milon_app.compute import layers as L

    params = buffers = peak = 0
    for j, layer in enumerate(layers):
        inferred = L.infer(f"{path}.{name}.{j}", layer["type"], _args(layer), shape)
        shape = inferred.shape
        params += inferred.params
        buffers += inferred.buffers
        peak = max(peak, math.prod(shape), inferred.peak)
    return Inferred(shape, params, buffers, peak)


def infer(path: str, type_name: str, args: dict[str, Any], shape: Shape) -> Inferred:
    """Walk body and shortcut from ``shape``; their outputs must agree."""
    body = _walk(path, "body", args["body"], shape)
    cut = _walk(path, "shortcut", args["shortcut"], shape)
    if body.shape != cut.shape:
        source = "the shortcut's output" if args["shortcut"] else "the input (no shortcut)"
        raise BadInputError(
            f"layer {path} ({type_name}): the body's output shape {list(body.shape)} differs "
            f"from {source} shape {list(cut.shape)}; a shortcut must map the input shape "
            f"{list(shape)} to the body's output shape"
        )
    peak = max(body.peak, cut.peak)
    return Inferred(body.shape, body.params + cut.params, body.buffers + cut.buffers, peak)


def build(type_name: str, args: dict[str, Any]) -> nn.Module:
    from milon_app.compute import layers as L
    from milon_app.compute.torch_modules import Residual

    def modules(name: str) -> list[nn.Module]:
        return [L.build_layer(layer["type"], _args(layer)) for layer in args[name]]

    return Residual(modules("body"), modules("shortcut"))


def iter_layers(
    path: str, type_name: str, args: dict[str, Any]
) -> Iterator[tuple[str, str, dict[str, Any]]]:
    """(place, type, args) of a layer and, for a block, of every layer inside it."""
    yield path, type_name, args
    if type_name in CONTAINERS:
        for name in _LISTS:
            for j, layer in enumerate(args[name]):
                yield from iter_layers(f"{path}.{name}.{j}", layer["type"], _args(layer))
