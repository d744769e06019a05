"""Dataset specs and loaders: built-ins, NPZ, CSV, image folders, and every bad-file path."""

from __future__ import annotations

import json
import sys

import numpy as np
import pytest
import torch

from milon_app.compute.datasets import DatasetSpec, load_builtin, load_dataset
from milon_app.compute.model_spec import digits_cnn, digits_mlp
from milon_app.errors import BadInputError, NotFoundError


def test_digits_builtin_split_is_deterministic():
    a = load_builtin("digits", seed=1)
    b = load_builtin("digits", seed=1)
    c = load_builtin("digits", seed=2)
    assert a.x_train.shape == (1438, 64) and a.x_test.shape == (359, 64)
    assert a.x_train.dtype == torch.float32 and a.y_train.dtype == torch.int64
    assert float(a.x_train.min()) == 0.0 and float(a.x_train.max()) == 1.0
    assert a.num_classes == 10 and a.input_shape == (64,)
    assert torch.equal(a.x_train, b.x_train) and torch.equal(a.y_test, b.y_test)
    assert not torch.equal(a.y_train, c.y_train)
    assert a.content_hash == c.content_hash and len(a.content_hash) == 64
    cnn = a.for_model(digits_cnn())
    assert cnn.x_train.shape == (1438, 1, 8, 8) and cnn.input_shape == (1, 8, 8)
    assert torch.equal(cnn.x_train.reshape(-1, 64), a.x_train)
    assert a.for_model(digits_mlp()).x_train.shape == (1438, 64)


@pytest.mark.parametrize(
    ("name", "classes", "features"), [("wine", 3, 13), ("breast_cancer", 2, 30)]
)
def test_tabular_builtins_standardised_with_train_stats(name, classes, features):
    d = load_builtin(name, test_fraction=0.25, seed=0)
    assert d.num_classes == classes and d.input_shape == (features,)
    assert torch.allclose(d.x_train.mean(0), torch.zeros(features), atol=1e-4)
    assert torch.allclose(d.x_train.std(0, unbiased=False), torch.ones(features), atol=1e-3)
    assert not torch.allclose(d.x_test.mean(0), torch.zeros(features), atol=1e-4)


def test_model_mismatch_refused():
    wine = load_builtin("wine")
    with pytest.raises(BadInputError, match=r"samples have shape \[13\], the model expects"):
        wine.for_model(digits_mlp())


def test_spec_json_and_hash():
    spec = DatasetSpec(kind="builtin", name="digits", seed=3)
    again = DatasetSpec.from_json(spec.to_json())
    assert again == spec and again.spec_hash() == spec.spec_hash()
    assert DatasetSpec(seed=4).spec_hash() != spec.spec_hash()
    # pinned: the canonical form must not drift
    assert json.loads(spec.to_json())["test_fraction"] == 0.2
    pinned = spec.with_content_hash()
    assert load_dataset(pinned).content_hash == pinned.content_hash
    wrong = DatasetSpec(content_hash="0" * 64)
    with pytest.raises(BadInputError, match="content hash .* differs"):
        load_dataset(wrong)
    assert (
        DatasetSpec.from_dict(
            {"kind": "npz", "path": "x.npz", "test_fraction": 0, "image_size": None}
        ).test_fraction
        == 0.0
    )


@pytest.mark.parametrize(
    ("obj", "message"),
    [
        ({"kind": "sql"}, "dataset kind 'sql' is not one of"),
        ({"name": "mnist"}, "built-in dataset 'mnist' is not one of"),
        ({"kind": "npz"}, "needs a path"),
        ({"kind": "csv", "path": "a.csv"}, "CSV datasets need label_column"),
        ({"test_fraction": 1.5}, "test_fraction 1.5 is not in"),
        ({"test_fraction": "0.2"}, "'test_fraction' must be float"),
        ({"seed": 1.0}, "'seed' must be int"),
        ({"seed": True}, "'seed' must be int"),
        ({"standardize": 1}, "'standardize' must be bool"),
        ({"content_hash": "xyz"}, "content_hash must be 64 hex digits"),
        ({"image_size": [0, 8]}, "image_size"),
        ({"version": 2}, "version 2 is not supported"),
        ({"colour": "red"}, "unknown key 'colour'"),
    ],
)
def test_bad_dataset_specs(obj, message):
    with pytest.raises(BadInputError) as err:
        DatasetSpec.from_dict(obj)
    assert message in str(err.value)


def test_dataset_spec_json_limits():
    with pytest.raises(BadInputError, match="nested deeper"):
        DatasetSpec.from_json('{"name": [[[[[["digits"]]]]]]}')
    with pytest.raises(BadInputError, match="must be a JSON object"):
        DatasetSpec.from_json("[]")


# --- NPZ -------------------------------------------------------------------------------------


def npz(tmp_path, name="d.npz", **arrays):
    path = tmp_path / name
    np.savez(path, **arrays)
    return path


def good_xy(n=50, features=6, classes=3):
    rng = np.random.default_rng(0)
    return rng.normal(size=(n, features)).astype(np.float64), np.arange(n) % classes


def test_npz_loads_and_pins_content(tmp_path):
    x, y = good_xy()
    path = npz(tmp_path, x=x, y=y)
    spec = DatasetSpec(kind="npz", path=str(path), test_fraction=0.2, standardize=True)
    d = load_dataset(spec)
    assert d.x_train.shape == (40, 6) and d.x_test.shape == (10, 6) and d.num_classes == 3
    pinned = spec.with_content_hash()
    load_dataset(pinned)
    np.savez(path, x=x * 2, y=y)
    with pytest.raises(BadInputError, match="differs from the spec's"):
        load_dataset(pinned)


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda x, y: {"x": x[:, 0], "y": y}, "x has shape [50]"),
        (lambda x, y: {"x": x, "y": y.reshape(25, 2)}, "y has shape [25, 2]"),
        (lambda x, y: {"x": x, "y": y[:-3]}, "x has 50 samples but y has 47 labels"),
        (lambda x, y: {"x": x, "y": y - 1}, "label -1 is negative"),
        (lambda x, y: {"x": x, "y": y.astype(np.float32)}, "labels must be integers"),
        (lambda x, y: {"x": np.where(x > 1, np.nan, x), "y": y}, "x holds NaN or Inf"),
        (lambda x, y: {"x": x.astype(str), "y": y}, "expected numbers"),
        (lambda x, y: {"x": x[:0], "y": y[:0]}, "no samples"),
        (lambda x, y: {"features": x, "y": y}, "lacks the array 'x'"),
    ],
)
def test_bad_npz_files(tmp_path, make, message):
    path = npz(tmp_path, **make(*good_xy()))
    with pytest.raises(BadInputError) as err:
        load_dataset(DatasetSpec(kind="npz", path=str(path)))
    assert message in str(err.value) and str(path) in str(err.value)


def test_npz_label_range_pickle_and_junk(tmp_path):
    x, y = good_xy()
    path = npz(tmp_path, x=x, y=y)
    with pytest.raises(BadInputError, match=r"label 2 is out of range \[0, 2\)"):
        load_dataset(DatasetSpec(kind="npz", path=str(path), num_classes=2))
    objs = np.empty(50, dtype=object)
    path = npz(tmp_path, "p.npz", x=x, y=objs)
    with pytest.raises(BadInputError, match="cannot read arrays"):
        load_dataset(DatasetSpec(kind="npz", path=str(path)))
    junk = tmp_path / "junk.npz"
    junk.write_bytes(b"not a zip")
    with pytest.raises(BadInputError, match="not an NPZ file"):
        load_dataset(DatasetSpec(kind="npz", path=str(junk)))
    with pytest.raises(NotFoundError, match="does not exist"):
        load_dataset(DatasetSpec(kind="npz", path=str(tmp_path / "nope.npz")))


# --- CSV -------------------------------------------------------------------------------------


def csv_file(tmp_path, text):
    path = tmp_path / "d.csv"
    path.write_text(text)
    return path


def test_csv_loads(tmp_path):
    rows = "\n".join(f"{i * 0.5},{i % 3},{-i}" for i in range(20))
    path = csv_file(tmp_path, "a,label,b\n" + rows + "\n\n")
    d = load_dataset(
        DatasetSpec(kind="csv", path=str(path), label_column="label", test_fraction=0.25)
    )
    assert d.input_shape == (2,) and d.num_classes == 3
    assert d.x_train.shape == (15, 2) and d.x_test.shape == (5, 2)
    assert sorted(torch.cat([d.x_train[:, 0], d.x_test[:, 0]]).tolist()) == [
        i * 0.5 for i in range(20)
    ]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("a,b\n1,0\n", "no label column 'label' in the header (a, b)"),
        ("1,2\n3,4\n", "the first row is numbers; a header row is required"),
        ("", "empty file"),
        ("a,label\n", "no data rows"),
        ("a,label\n1,0\n2,1,5\n", "line 3 has 3 fields, the header has 2"),
        ("a,label\n1,0\nx,1\n", "line 3, column 'a': 'x' is not a number"),
        ("a,label\n1,0\n2,cat\n", "line 3: label 'cat' is not an integer"),
        ("a,label\n1,0\nnan,1\n", "x holds NaN or Inf"),
        ("a,label\n1,0\n2,-4\n", "label -4 is negative"),
        ('a,label\n"1,0\n', "malformed CSV"),
        ("label\n1\n", "no feature columns"),
        ("a,a,label\n1,2,0\n", "repeats a column name"),
    ],
)
def test_bad_csv_files(tmp_path, text, message):
    path = csv_file(tmp_path, text)
    with pytest.raises(BadInputError) as err:
        load_dataset(DatasetSpec(kind="csv", path=str(path), label_column="label"))
    assert message in str(err.value) and str(path) in str(err.value)


def test_csv_not_utf8(tmp_path):
    path = tmp_path / "d.csv"
    path.write_bytes(b"a,label\n\xff\xfe,1\n")
    with pytest.raises(BadInputError, match="not UTF-8"):
        load_dataset(DatasetSpec(kind="csv", path=str(path), label_column="label"))


# --- image folders ---------------------------------------------------------------------------


def test_images_need_pillow(tmp_path, monkeypatch):
    (tmp_path / "cat").mkdir()
    monkeypatch.setitem(sys.modules, "PIL", None)  # as if Pillow were not installed
    with pytest.raises(BadInputError, match="needs the optional package Pillow"):
        load_dataset(DatasetSpec(kind="images", path=str(tmp_path)))


def test_image_folder(tmp_path):
    image = pytest.importorskip("PIL.Image")
    for label, name in enumerate(["cat", "dog"]):
        (tmp_path / name).mkdir()
        for i in range(5):
            arr = np.full((6, 4, 3), 40 * label + i, dtype=np.uint8)
            image.fromarray(arr).save(tmp_path / name / f"{i}.png")
    (tmp_path / "dog" / "notes.txt").write_text("ignored")
    d = load_dataset(DatasetSpec(kind="images", path=str(tmp_path), test_fraction=0.2))
    assert d.input_shape == (3, 6, 4) and d.num_classes == 2 and d.class_names == ["cat", "dog"]
    assert len(d.x_train) == 8 and float(d.x_train.max()) <= 1.0
    g = load_dataset(
        DatasetSpec(kind="images", path=str(tmp_path), grayscale=True, image_size=(8, 8))
    )
    assert g.input_shape == (1, 8, 8)
    spec = DatasetSpec(kind="images", path=str(tmp_path)).with_content_hash()
    load_dataset(spec)
    image.fromarray(np.zeros((5, 5, 3), dtype=np.uint8)).save(tmp_path / "cat" / "odd.png")
    with pytest.raises(BadInputError, match="differs"):
        load_dataset(spec)
    with pytest.raises(BadInputError, match=r"odd.png: image is 5x5, others are 6x4"):
        load_dataset(DatasetSpec(kind="images", path=str(tmp_path)))
    (tmp_path / "cat" / "odd.png").write_bytes(b"garbage")
    with pytest.raises(BadInputError, match="odd.png: not a readable image"):
        load_dataset(DatasetSpec(kind="images", path=str(tmp_path)))


def test_image_folder_structure_errors(tmp_path):
    pytest.importorskip("PIL.Image")
    with pytest.raises(BadInputError, match="no class folders"):
        load_dataset(DatasetSpec(kind="images", path=str(tmp_path)))
    (tmp_path / "a").mkdir()
    with pytest.raises(BadInputError, match="no .png/.jpg images"):
        load_dataset(DatasetSpec(kind="images", path=str(tmp_path)))
    with pytest.raises(NotFoundError):
        load_dataset(DatasetSpec(kind="images", path=str(tmp_path / "missing")))
