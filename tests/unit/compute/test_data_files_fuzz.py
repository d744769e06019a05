"""Property tests for the dataset readers and dataset documents.

A user's CSV or NPZ file, a dataset spec, and a job's dataset document from a
peer are all outside bytes. Each reader returns arrays that are finite, with
matching lengths and non-negative integer labels, or raises BadInputError
naming the file; an NPZ whose header lies about its shape is refused before
numpy allocates what it announces.
"""

from __future__ import annotations

import io
import json
import zipfile

import numpy as np
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from milon_app.compute.data_files import load_csv, load_npz
from milon_app.compute.datasets import DatasetSpec
from milon_app.errors import BadInputError
from milon_app.node.shards import DatasetDoc, SharedData, parse_dataset_doc
from tests.unit.fuzz_util import FUZZ, bounded_memory, outcome

cells = st.one_of(
    st.integers(-3, 12).map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.sampled_from(["", " ", "x", "1e400", "nan", "-inf", "0x10", '"', '"1,2"', "9" * 40]),
    st.text(max_size=4),
)


@st.composite
def csv_texts(draw: st.DrawFn) -> str:
    """A well-formed labelled CSV, then (often) one hostile change."""
    width = draw(st.integers(2, 4))
    header = ["label", *[f"f{i}" for i in range(width - 1)]]
    number = st.floats(-1e6, 1e6).map(repr) | st.integers(-5, 5).map(str)
    rows = [
        [str(draw(st.integers(0, 4))), *[draw(number) for _ in range(width - 1)]]
        for _ in range(draw(st.integers(1, 6)))
    ]
    how = draw(st.sampled_from(["none", "none", "cell", "row", "header", "text"]))
    if how == "cell":
        rows[draw(st.integers(0, len(rows) - 1))][draw(st.integers(0, width - 1))] = draw(cells)
    elif how == "row":
        rows.insert(draw(st.integers(0, len(rows))), draw(st.lists(cells, max_size=width + 1)))
    elif how == "header":
        header = draw(st.lists(st.sampled_from(["label", "f0", "", "1", "x"]), max_size=4))
    sep = draw(st.sampled_from(["\n", "\r\n", "\r"]))
    text = sep.join(",".join(r) for r in [header, *rows])
    return draw(st.text(max_size=200)) if how == "text" else text


def _valid(arrays: tuple[np.ndarray, np.ndarray] | None) -> None:
    if arrays is None:
        return
    x, y = arrays
    assert x.dtype == np.float32 and y.dtype == np.int64
    assert len(x) == len(y) > 0 and np.isfinite(x).all() and (y >= 0).all()


def test_csv_files_load_clean_or_are_refused(tmp_path):
    path = tmp_path / "d.csv"

    @FUZZ
    @given(csv_texts(), st.sampled_from(["utf-8", "utf-16", "latin-1"]))
    def check(text: str, encoding: str) -> None:
        path.write_bytes(text.encode(encoding, "replace"))
        _valid(outcome(lambda: load_csv(path, "label"), BadInputError))

    with bounded_memory():
        check()


def _npy(shape: tuple[int, ...], descr: str, data: bytes) -> bytes:
    out = io.BytesIO()
    np.lib.format.write_array_header_1_0(
        out, {"descr": descr, "fortran_order": False, "shape": shape}
    )
    return out.getvalue() + data


arrays = hnp.arrays(
    dtype=st.sampled_from(
        [np.float32, np.float64, np.int64, np.int8, np.uint8, np.bool_, np.complex64, "U2"]
    ),
    shape=hnp.array_shapes(min_dims=0, max_dims=5, min_side=0, max_side=4),
)
lying_shapes = st.tuples(st.integers(0, 1 << 40), st.integers(0, 1 << 20))


@st.composite
def npz_files(draw: st.DrawFn) -> bytes:
    """Real x/y arrays (often valid together), lying headers, junk members, truncations."""
    n = draw(st.integers(0, 5))
    feats = draw(st.lists(st.integers(1, 3), min_size=1, max_size=3))
    x = draw(hnp.arrays(np.float32, (n, *feats)))
    y = draw(hnp.arrays(np.int64, (n,), elements=st.integers(0, 3)))
    members: dict[str, bytes | np.ndarray] = {"x": x, "y": y}
    how = draw(st.sampled_from(["none", "none", "array", "lie", "junk", "drop", "truncate"]))
    key = draw(st.sampled_from(["x", "y"]))
    if how == "array":
        members[key] = draw(arrays)
    elif how == "lie":
        members[key] = _npy(
            draw(lying_shapes), draw(st.sampled_from(["<f8", "<i8", "|O"])), b"\0" * 64
        )
    elif how == "junk":
        members[key] = draw(st.binary(max_size=120))
    elif how == "drop":
        members.pop(key)
    out = io.BytesIO()
    method = draw(st.sampled_from([zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED]))
    with zipfile.ZipFile(out, "w", method) as zf:
        for name, value in members.items():
            if isinstance(value, np.ndarray):
                buf = io.BytesIO()
                np.save(buf, value, allow_pickle=False)
                value = buf.getvalue()
            zf.writestr(f"{name}.npy", value)
    data = out.getvalue()
    return data[: draw(st.integers(0, len(data)))] if how == "truncate" else data


def test_npz_files_load_clean_or_are_refused(tmp_path):
    path = tmp_path / "d.npz"

    @FUZZ
    @given(npz_files())
    def check(data: bytes) -> None:
        path.write_bytes(data)
        _valid(outcome(lambda: load_npz(path), BadInputError))

    with bounded_memory():
        check()


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=6),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3)
    ),
    max_leaves=12,
)
FIELDS = sorted(DatasetSpec.__dataclass_fields__)


@st.composite
def dataset_docs(draw: st.DrawFn) -> bytes:
    base = DatasetSpec().to_dict()
    for _ in range(draw(st.integers(0, 3))):
        base[draw(st.sampled_from([*FIELDS, "extra"]))] = draw(
            json_values | st.integers(-(10**30), 10**30)
        )
    if draw(st.booleans()):
        base = {
            "version": 1,
            "mode": "shared",
            "source": base,
            "shards": draw(st.lists(st.sampled_from(["ab" * 32, "AB" * 32, "x", 3]), max_size=3)),
            "num_classes": draw(st.integers(-1, 10) | json_values),
            "input_shape": draw(st.lists(st.integers(-1, 5), max_size=3) | json_values),
        }
    return json.dumps(base).encode()


@FUZZ
@given(dataset_docs() | st.binary(max_size=200))
def _docs(data: bytes) -> None:
    parsed = outcome(lambda: parse_dataset_doc(data), BadInputError)
    assert parsed is None or isinstance(parsed, DatasetDoc)
    doc = parsed.dataset if parsed is not None else None
    assert doc is None or isinstance(doc, (DatasetSpec, SharedData))
    if isinstance(doc, DatasetSpec):
        assert DatasetSpec.from_json(doc.to_json()) == doc


def test_dataset_documents_parse_or_are_refused():
    _docs()
