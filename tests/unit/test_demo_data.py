"""`milon demo --model/--dataset`: what names what, and mismatches refused before any chain.

Image folders come from tests/bench/make_image_folder.py (synthetic, learnable classes).
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from milon_app.cli.main import main
from milon_app.compute.datasets import DatasetSpec
from milon_app.compute.model_spec import ModelSpec, digits_cnn, digits_mlp
from milon_app.demo_data import dataset_spec, load_workload
from milon_app.errors import BadInputError, NotFoundError
from milon_app.exit_codes import ExitCode
from tests.bench.make_image_folder import make_image, make_image_folder

pytest.importorskip("PIL.Image")

SMALL_CNN = {  # 3x32x32 images -> 10 classes, ~1.6k parameters
    "input_shape": [3, 32, 32],
    "layers": [
        {"type": "Conv2d", "in_channels": 3, "out_channels": 8, "kernel_size": 3, "padding": 1},
        {"type": "ReLU"},
        {"type": "MaxPool2d", "kernel_size": 4},
        {"type": "Conv2d", "in_channels": 8, "out_channels": 16, "kernel_size": 3, "padding": 1},
        {"type": "ReLU"},
        {"type": "MaxPool2d", "kernel_size": 2},
        {"type": "Flatten"},
        {"type": "Linear", "in_features": 256, "out_features": 10},
    ],
    "optimizer": {"type": "sgd", "lr": 0.05, "momentum": 0.9},
    "batch_size": 16,
}


@pytest.fixture(scope="module")
def images(tmp_path_factory):
    return make_image_folder(tmp_path_factory.mktemp("imgs") / "shapes", per_class=4)


def spec_file(tmp_path, obj, name="model.json"):
    path = tmp_path / name
    path.write_text(json.dumps(obj))
    return path


def test_generator_is_seeded_and_documented_shape(tmp_path, images):
    assert sorted(p.name for p in images.iterdir()) == [f"class{k}" for k in range(10)]
    again = make_image_folder(tmp_path / "again", per_class=4)
    for a in sorted(images.rglob("*.png")):
        assert (again / a.relative_to(images)).read_bytes() == a.read_bytes()
    img = make_image(3, np.random.default_rng(1))
    assert img.shape == (32, 32, 3) and img.dtype == np.uint8
    with pytest.raises(ValueError, match="2..10"):
        make_image_folder(tmp_path / "x", classes=11)


def test_dataset_names(tmp_path, images):
    assert dataset_spec("breast-cancer", 3) == DatasetSpec(
        kind="builtin", name="breast_cancer", test_fraction=0.2, seed=3
    )
    folder = dataset_spec(str(images), 0)
    assert folder.kind == "images" and folder.path == str(images.resolve())
    npz = tmp_path / "d.npz"
    np.savez(npz, x=np.zeros((4, 2)), y=np.array([0, 1, 0, 1]))
    assert dataset_spec(str(npz), 0).kind == "npz"
    doc = tmp_path / "data.json"
    doc.write_text(DatasetSpec(kind="images", path=str(images), grayscale=True).to_json())
    assert dataset_spec(str(doc), 0).grayscale
    doc.write_text('{"kind": "builtin", "name": "imagenet"}')
    with pytest.raises(BadInputError, match=r"data.json: .*imagenet"):
        dataset_spec(str(doc), 0)
    with pytest.raises(NotFoundError, match="neither a built-in"):
        dataset_spec(str(tmp_path / "missing"), 0)
    with pytest.raises(BadInputError, match="neither a built-in"):
        dataset_spec("mnist", 0)  # a name: an unknown built-in, not a missing file


def test_workload_defaults_and_named_models(tmp_path, images):
    w = load_workload("", "digits", 0)
    assert w.model_name == "digits_mlp" and w.spec == digits_mlp() and not w.dataset.content_hash
    w = load_workload("digits-cnn", "digits", 0)  # flat 64 features fill the 1x8x8 input
    assert w.spec == digits_cnn() and tuple(w.data.x_train.shape[1:]) == (1, 8, 8)
    w = load_workload("", str(images), 0)
    model, data = w.describe()
    assert model["name"] == "tabular_mlp" and model["input_shape"] == [3072]
    assert data == {
        "name": "shapes",
        "kind": "images",
        "train_samples": 32,
        "test_samples": 8,
        "input_shape": [3072],
        "num_classes": 10,
        "content_hash": w.dataset.content_hash,
    }
    assert len(w.dataset.content_hash) == 64  # the job pins the files it was given
    w = load_workload(str(spec_file(tmp_path, SMALL_CNN)), str(images), 0)
    assert w.model_name == "model.json" and w.describe()[1]["input_shape"] == [3, 32, 32]


def test_mismatches_are_refused_naming_both_sides(tmp_path, images):
    with pytest.raises(
        BadInputError,
        match=r"digits_cnn takes input of shape \[1, 8, 8\], but "
        r"dataset shapes has samples of shape \[3, 32, 32\].*image_size",
    ):
        load_workload("digits_cnn", str(images), 0)
    with pytest.raises(BadInputError, match=r"model.json takes input of shape \[3, 32, 32\]"):
        load_workload(str(spec_file(tmp_path, SMALL_CNN)), "digits", 0)
    hwc = {  # as many values as the images, in another layout
        **SMALL_CNN,
        "input_shape": [32, 32, 3],
        "layers": [
            {"type": "Flatten"},
            {"type": "Linear", "in_features": 3072, "out_features": 10},
        ],
    }
    ModelSpec.from_dict(hwc)  # a valid spec ...
    with pytest.raises(BadInputError, match=r"takes input of shape \[32, 32, 3\]"):
        load_workload(str(spec_file(tmp_path, hwc)), str(images), 0)  # ... for other data
    five = json.loads(json.dumps(SMALL_CNN))
    five["layers"][-1]["out_features"] = 5
    with pytest.raises(BadInputError, match="outputs 5 classes, but dataset shapes has 10"):
        load_workload(str(spec_file(tmp_path, five)), str(images), 0)
    three = digits_mlp().to_dict()
    three["layers"][-1]["out_features"] = 3
    with pytest.raises(BadInputError, match="outputs 3 classes, but dataset digits has 10"):
        load_workload(str(spec_file(tmp_path, three)), "digits", 0)
    with pytest.raises(NotFoundError, match="not a built-in"):
        load_workload("resnet-9000", "digits", 0)


def test_cli_refuses_a_mismatch_with_a_non_zero_exit(capsys, tmp_path, images):
    code = main(
        ["--home", str(tmp_path), "demo", "--model", "digits_cnn", "--dataset", str(images)]
    )
    out, err = capsys.readouterr()
    assert code == ExitCode.BAD_INPUT and "digits_cnn takes input of shape [1, 8, 8]" in err
    assert "MILON demo" not in out  # nothing ran
    code = main(["--home", str(tmp_path), "demo", "--dataset", str(tmp_path / "none")])
    assert code == ExitCode.NOT_FOUND and "neither a built-in" in capsys.readouterr().err
