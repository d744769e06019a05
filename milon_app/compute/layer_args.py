"""The vocabulary of the layer allowlist: typed, bounded arguments and shape-rule results.

Kept apart from :mod:`milon_app.compute.layers` so that families of layers in
their own modules (:mod:`milon_app.compute.seq_layers`) can define their kinds
with the same types without an import cycle.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from milon_app.errors import BadInputError

if TYPE_CHECKING:
    from torch import nn

MAX_FEATURES = 1 << 16  # channels, features, classes

Shape = tuple[int, ...]
_REQUIRED = object()


@dataclass(frozen=True)
class Arg:
    """One argument: ``kind`` is int, float, bool, pair (int or [h, w]), dims (int or list)
    or choice (one of the strings in ``choices``)."""

    kind: str
    lo: float = 0
    hi: float = MAX_FEATURES
    default: Any = _REQUIRED
    choices: tuple[str, ...] = ()


@dataclass(frozen=True)
class Inferred:
    """A layer's output shape and sizes; ``peak`` is its largest intermediate per sample
    (an attention matrix, a block's inner activations) when that exceeds the output."""

    shape: Shape
    params: int = 0
    buffers: int = 0
    peak: int = 0


@dataclass(frozen=True)
class LayerKind:
    args: Mapping[str, Arg]
    infer: Callable[[Shape, dict[str, Any]], Inferred]
    torch_name: str
    defaults: Callable[[dict[str, Any]], None] = field(default=lambda a: None)
    build: Callable[[dict[str, Any]], nn.Module] | None = None  # None: torch.nn.<torch_name>


class ShapeError(Exception):
    """Raised by shape rules; turned into a BadInputError naming the layer."""


def _check_value(arg: Arg, name: str, value: Any) -> Any:
    def bad(msg: str) -> BadInputError:
        return BadInputError(f"argument {name!r} {msg}")

    def in_range(v: float) -> None:
        if not arg.lo <= v <= arg.hi:
            raise bad(f"is {v}, outside [{arg.lo:g}, {arg.hi:g}]")

    if arg.kind == "bool":
        if not isinstance(value, bool):
            raise bad(f"must be true or false, got {type(value).__name__}")
        return value
    if arg.kind == "choice":
        if not isinstance(value, str) or value not in arg.choices:
            raise bad(f"must be one of {', '.join(arg.choices)}, got {str(value)[:40]!r}")
        return value
    if arg.kind == "float":
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise bad(f"must be a number, got {type(value).__name__}")
        try:
            number = float(value)  # a huge JSON integer does not fit a float
        except OverflowError:
            raise bad("is too large") from None
        if not math.isfinite(number):
            raise bad("must be finite")
        in_range(number)
        return number
    if arg.kind in ("int", "pair", "dims"):
        items = value if isinstance(value, list) and arg.kind != "int" else [value]
        if arg.kind == "pair" and isinstance(value, list) and len(value) != 2:
            raise bad(f"must be an integer or a list of 2 integers, got {len(value)} items")
        if arg.kind == "dims" and isinstance(value, list) and not 1 <= len(value) <= 3:
            raise bad(f"must be an integer or a list of 1 to 3 integers, got {len(value)} items")
        for v in items:
            if isinstance(v, bool) or not isinstance(v, int):
                raise bad(f"must be an integer, got {type(v).__name__} {v!r}")
            in_range(v)
        if arg.kind == "pair":
            return [items[0], items[0]] if len(items) == 1 else list(items)
        if arg.kind == "dims":
            return list(items)
        return value
    raise AssertionError(arg.kind)  # pragma: no cover


def need_dims(shape: Shape, ndim: int, what: str) -> None:
    if len(shape) != ndim:
        raise ShapeError(f"expects a {ndim}-dimensional input per sample ({what})")
