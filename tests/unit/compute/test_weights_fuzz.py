"""Property tests for the safetensors decoder, the parser every peer's weights go through.

test_weights.py fuzzes raw bytes and truncations (most die at the length
prefix). These build headers that get past the framing: random dtypes,
shapes, offsets, metadata and bodies, bit flips of a real blob, and non-finite
values. The decoder must return tensors that match the header or raise
BadInputError, with memory bounded by the blob.
"""

from __future__ import annotations

import json
import math
import struct

import torch
from hypothesis import given
from hypothesis import strategies as st

from milon_app.compute.weights import decode_state, encode_state, parse_header
from milon_app.errors import BadInputError
from tests.unit.fuzz_util import FUZZ, bounded_memory, outcome

DTYPES = ["F64", "F32", "F16", "BF16", "I64", "I32", "U8", "BOOL", "F8_E4M3", "", None, 3]
SIZES = {"F64": 8, "F32": 4, "F16": 2, "BF16": 2, "I64": 8, "I32": 4}
ints = st.one_of(
    st.integers(min_value=0, max_value=6),
    st.integers(min_value=-3, max_value=1 << 70),
    st.booleans(),
    st.floats(allow_nan=True),
)


@st.composite
def entries(draw: st.DrawFn) -> dict:
    """One header entry: usually consistent enough to reach safetensors, sometimes not."""
    dtype = draw(st.sampled_from(DTYPES))
    shape = draw(st.lists(st.integers(min_value=0, max_value=5), max_size=4))
    if draw(st.booleans()):
        shape = draw(st.lists(ints, max_size=10))
    start = draw(st.integers(min_value=0, max_value=64))
    size = SIZES.get(dtype, 1) if isinstance(dtype, str) else 1
    length = math.prod(s for s in shape if isinstance(s, int) and s >= 0) * size
    if draw(st.booleans()):
        length = draw(st.integers(min_value=-4, max_value=200))
    offsets = draw(st.sampled_from([[start, start + length], [start], "x", None]))
    entry = {"dtype": dtype, "shape": shape, "data_offsets": offsets}
    if draw(st.integers(0, 9)) == 0:
        entry.pop(draw(st.sampled_from(sorted(entry))))
    return entry


@st.composite
def blobs(draw: st.DrawFn) -> bytes:
    header: dict = draw(st.dictionaries(st.text(max_size=8), entries(), max_size=4))
    if draw(st.booleans()):
        header["__metadata__"] = draw(
            st.one_of(st.dictionaries(st.text(max_size=4), st.text(max_size=4)), st.integers())
        )
    raw = json.dumps(header).encode()
    raw += b" " * draw(st.integers(0, 7))  # safetensors pads headers to 8 bytes
    declared = len(raw) + draw(st.sampled_from([0, 0, 0, -1, 1, 1 << 40]))
    body = draw(st.binary(max_size=256))
    return struct.pack("<Q", max(declared, 0)) + raw + body


def _check_decoded(blob: bytes, state: dict[str, torch.Tensor] | None) -> None:
    if state is None:
        return
    header = parse_header(blob)
    assert sorted(state) == sorted(header)
    for name, tensor in state.items():
        assert list(tensor.shape) == header[name]["shape"]
        if tensor.is_floating_point():
            assert bool(tensor.isfinite().all())


@FUZZ
@given(blobs())
def _structured(blob: bytes) -> None:
    _check_decoded(blob, outcome(lambda: decode_state(blob), BadInputError))


def test_structured_headers_decode_or_refuse():
    with bounded_memory():
        _structured()


def _real_blob() -> bytes:
    g = torch.Generator().manual_seed(1)
    return encode_state(
        {"w": torch.randn(3, 4, generator=g), "b": torch.zeros(3), "n": torch.arange(4)}
    )


REAL = _real_blob()


@FUZZ
@given(
    st.lists(st.tuples(st.integers(0, len(REAL) - 1), st.integers(0, 255)), min_size=1, max_size=6)
)
def _flips(edits: list[tuple[int, int]]) -> None:
    blob = bytearray(REAL)
    for pos, value in edits:
        blob[pos] = value
    _check_decoded(bytes(blob), outcome(lambda: decode_state(bytes(blob)), BadInputError))


def test_byte_edits_of_a_real_blob_decode_or_refuse():
    with bounded_memory():
        _flips()


@FUZZ
@given(st.lists(st.floats(allow_nan=True, allow_infinity=True, width=32), min_size=1, max_size=12))
def _values(values: list[float]) -> None:
    blob = encode_state({"t": torch.tensor(values, dtype=torch.float32)})
    finite = all(math.isfinite(v) for v in values)
    state = outcome(lambda: decode_state(blob), BadInputError)
    assert (state is not None) == finite, "NaN/Inf must be refused, finite values kept"
    if state is not None:
        assert torch.equal(state["t"], torch.tensor(values, dtype=torch.float32))


def test_non_finite_values_anywhere_are_refused():
    _values()
