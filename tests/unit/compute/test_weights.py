"""The weights codec refuses hostile safetensors before parsing them."""

from __future__ import annotations

import json
import struct

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from milon_app.compute.weights import (
    check_compatible,
    decode_state,
    encode_state,
    parse_header,
    sha256_hex,
)
from milon_app.errors import BadInputError


def _state():
    g = torch.Generator().manual_seed(0)
    return {"fc.weight": torch.randn(4, 3, generator=g), "fc.bias": torch.zeros(4)}


def _raw(header: dict, body: bytes) -> bytes:
    h = json.dumps(header).encode()
    return struct.pack("<Q", len(h)) + h + body


def test_round_trip_and_determinism():
    s = _state()
    data = encode_state(s)
    again = encode_state(dict(reversed(list(s.items()))))
    assert data == again
    out = decode_state(data)
    assert all(torch.equal(out[k], s[k]) for k in s)
    assert len(sha256_hex(data)) == 64


@pytest.mark.parametrize(
    ("blob", "message"),
    [
        (b"", "truncated"),
        (b"\x00" * 7, "truncated"),
        (struct.pack("<Q", 1 << 40) + b"{}", "bad header length"),
        (struct.pack("<Q", 4) + b"nope", "not valid JSON"),
        (_raw([], b""), "not a JSON object"),  # type: ignore[arg-type]
        (_raw({"t": {"dtype": "U8", "shape": [1], "data_offsets": [0, 1]}}, b"\0"), "dtype"),
        (_raw({"t": {"dtype": "F32", "shape": [-1], "data_offsets": [0, 4]}}, b"\0" * 4), "shape"),
        (_raw({"t": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}}, b"\0" * 4), "outside"),
        (_raw({"t": {"dtype": "F32", "shape": [3], "data_offsets": [0, 8]}}, b"\0" * 8), "match"),
        (
            _raw(
                {
                    "a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]},
                    "b": {"dtype": "F32", "shape": [2], "data_offsets": [4, 12]},
                },
                b"\0" * 12,
            ),
            "overlapping",
        ),
        (_raw({"t": {"dtype": "F32", "shape": [1] * 9, "data_offsets": [0, 4]}}, b"\0" * 4), "shape"),
    ],
)
def test_malformed_blobs_are_refused(blob, message):
    with pytest.raises(BadInputError, match=message):
        decode_state(blob)


def test_deeply_nested_header_is_bad_input_not_a_crash():
    with pytest.raises(BadInputError, match="nested deeper than 4 levels"):
        decode_state(_raw_text("[" * 200_000))


def _raw_text(text: str) -> bytes:
    h = text.encode()
    return struct.pack("<Q", len(h)) + h


def test_oversized_blob_refused_before_parsing():
    data = encode_state(_state())
    with pytest.raises(BadInputError, match="over the limit"):
        decode_state(data, max_bytes=len(data) - 1)


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), float("-inf")])
def test_non_finite_refused(bad):
    s = _state()
    s["fc.bias"][1] = bad
    with pytest.raises(BadInputError, match="'fc.bias' holds NaN or Inf"):
        decode_state(encode_state(s))
    assert decode_state(encode_state(s), require_finite=False)["fc.bias"].shape == (4,)


def test_compatibility_names_the_gap():
    ref = _state()
    with pytest.raises(BadInputError, match="lack tensor 'fc.bias'"):
        check_compatible(ref, {"fc.weight": ref["fc.weight"]})
    with pytest.raises(BadInputError, match="unexpected tensor 'x'"):
        check_compatible(ref, {**ref, "x": torch.zeros(1)})
    with pytest.raises(BadInputError, match=r"shape \(3, 4\) differs from \(4, 3\)"):
        check_compatible(ref, {**ref, "fc.weight": torch.zeros(3, 4)})
    with pytest.raises(BadInputError, match="dtype"):
        check_compatible(ref, {**ref, "fc.bias": torch.zeros(4, dtype=torch.float64)})


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=256))
def test_fuzz_never_crashes_with_anything_but_bad_input(blob):
    try:
        parse_header(blob)
        decode_state(blob)
    except BadInputError:
        pass


@settings(max_examples=100, deadline=None)
@given(st.integers(min_value=0, max_value=200))
def test_fuzz_truncations_of_a_valid_blob(cut):
    data = encode_state(_state())
    if cut >= len(data):
        return
    with pytest.raises(BadInputError):
        decode_state(data[:cut])
