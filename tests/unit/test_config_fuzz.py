"""Property tests for the config reader (JSON from the settings screen, TOML for the daemon).

A config file is typed by hand or copied between machines. Whatever it holds,
``load_config`` returns a Config whose every value has its declared type, or
raises ConfigError naming the problem; never a traceback from json, tomllib
or float().
"""

from __future__ import annotations

import dataclasses
import json
import math
import typing

from hypothesis import given
from hypothesis import strategies as st

from milon_app.config import Config, config_from_dict, describe, load_config
from milon_app.errors import ConfigError
from tests.unit.fuzz_util import FUZZ, bounded_memory, outcome

KEYS = [key for key, _, _ in describe(Config())]
json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.integers(min_value=10**300, max_value=10**400)
    | st.floats()
    | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=10,
)


@st.composite
def config_dicts(draw: st.DrawFn) -> dict[str, typing.Any]:
    """The defaults with a few keys set to anything (or a misspelt key added)."""
    data = dataclasses.asdict(Config())
    for _ in range(draw(st.integers(1, 3))):
        key = draw(st.sampled_from([*KEYS, "chain.rpc", "nodes.roles", "federations"]))
        section, _, name = key.partition(".")
        value = draw(json_values)
        if not name:
            data[section] = value
        elif isinstance(data.get(section), dict):
            data[section][name] = value
        else:
            data[section] = {name: value}
    return data


def _typed(cfg: Config | None) -> None:
    """Every value has the type its field declares (ints are never bools, floats finite)."""
    if cfg is None:
        return
    for section in dataclasses.fields(cfg):
        obj = getattr(cfg, section.name)
        if not dataclasses.is_dataclass(obj):
            continue
        hints = typing.get_type_hints(type(obj))
        for fld in dataclasses.fields(obj):
            value, tp = getattr(obj, fld.name), hints[fld.name]
            if tp is float:
                assert isinstance(value, float) and math.isfinite(value), (fld.name, value)
            elif isinstance(tp, type):
                assert isinstance(value, tp) and not (tp is int and isinstance(value, bool))
            else:
                assert isinstance(value, list)


@FUZZ
@given(config_dicts())
def _dicts(data: dict[str, typing.Any]) -> None:
    _typed(outcome(lambda: config_from_dict(data), ConfigError))


def test_any_values_under_real_keys_give_a_typed_config_or_config_error():
    _dicts()


class _Raw(str):
    """Text written into the TOML as is."""


def _toml_value(value: typing.Any) -> str:
    if isinstance(value, _Raw):
        return str(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, float):
        return (
            "nan"
            if math.isnan(value)
            else ("inf" if value > 0 else "-inf")
            if math.isinf(value)
            else repr(value)
        )
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    return str(value)


@st.composite
def toml_texts(draw: st.DrawFn) -> str:
    key = draw(st.sampled_from(KEYS))
    section, _, name = key.partition(".")
    value = draw(
        st.none()
        | st.booleans()
        | st.integers()
        | st.integers(300, 5000).map(lambda n: _Raw("9" * n))  # over the int-from-text limit
        | st.floats()
        | st.text(max_size=6)
        | st.lists(st.integers(0, 30), max_size=3)
    )
    rendered = "{}" if value is None else _toml_value(value)
    text = f"[{section}]\n{name} = {rendered}\n" if name else f"{section} = {rendered}\n"
    how = draw(st.sampled_from(["none", "deep", "junk", "dup"]))
    if how == "deep":
        text += "x = " + "[" * draw(st.integers(1, 3000))
    elif how == "junk":
        text = draw(st.text(max_size=200))
    elif how == "dup":
        text += text
    return text


def test_config_files_of_any_bytes_are_read_or_refused(tmp_path):
    json_file, toml_file = tmp_path / "config.json", tmp_path / "node.toml"

    @FUZZ
    @given(
        config_dicts().map(lambda d: json.dumps(d).encode())
        | st.binary(max_size=300)
        | st.integers(1, 200_000).map(lambda n: b"[" * n)
        | toml_texts().map(str.encode)
    )
    def check(data: bytes) -> None:
        for path in (json_file, toml_file):
            path.write_bytes(data)
            _typed(outcome(lambda p=path: load_config(p), ConfigError))

    with bounded_memory():
        check()
