"""JSON parsing for documents from other people: size, depth and duplicate keys bounded.

``json.loads`` recurses once per nesting level, so a hostile ``[[[[...]]]]``
ends in a RecursionError deep inside the parser. The depth is measured here
with a flat scan first, and only a document that passes is handed to ``json``.
"""

from __future__ import annotations

import json
import math
from typing import Any

from milon_app.errors import BadInputError


def _max_depth(text: str, limit: int, what: str) -> None:
    depth = 0
    in_string = False
    escaped = False
    for ch in text:
        if in_string:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                in_string = False
        elif ch == '"':
            in_string = True
        elif ch in "[{":
            depth += 1
            if depth > limit:
                raise BadInputError(f"{what} is nested deeper than {limit} levels")
        elif ch in "]}":
            depth -= 1


def _no_duplicates(what: str) -> Any:
    def hook(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key, value in pairs:
            if key in out:
                raise BadInputError(f"{what} repeats the key {key!r}")
            out[key] = value
        return out

    return hook


def _no_constant(name: str) -> Any:
    raise BadInputError(f"JSON constant {name} is not allowed")


def loads_bounded(data: bytes | str, *, max_bytes: int, max_depth: int, what: str) -> Any:
    """Parse ``data`` refusing documents over ``max_bytes``, deeper than ``max_depth``,
    with repeated keys, or with NaN/Infinity."""
    size = len(data.encode("utf-8")) if isinstance(data, str) else len(data)
    if size > max_bytes:
        raise BadInputError(f"{what} is {size} bytes, over the limit of {max_bytes}")
    if isinstance(data, bytes):
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise BadInputError(f"{what} is not UTF-8 text: {exc}") from exc
    else:
        text = data
    _max_depth(text, max_depth, what)
    try:
        value = json.loads(
            text,
            object_pairs_hook=_no_duplicates(what),
            parse_constant=_no_constant,
        )
    except json.JSONDecodeError as exc:
        raise BadInputError(f"{what} is not valid JSON: {exc}") from exc
    except BadInputError:
        raise
    except ValueError as exc:  # an integer over Python's 4300-digit conversion limit
        raise BadInputError(f"{what} holds a number too long to read: {exc}") from exc
    except RecursionError as exc:  # belt and braces: the scan above should prevent it
        raise BadInputError(f"{what} is nested too deeply") from exc
    return value


def canonical_json(value: Any) -> str:
    """Sorted keys, no spaces: the byte form hashes are taken over."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), allow_nan=False)


def is_finite_number(value: Any) -> bool:
    return (
        isinstance(value, (int, float))
        and not isinstance(value, bool)
        and math.isfinite(float(value))
    )
