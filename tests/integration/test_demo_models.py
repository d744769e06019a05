"""`milon demo --model/--dataset`: another model on another dataset, through real rounds.

An image folder made by tests/bench/make_image_folder.py is split across the
nodes and trained by a small CNN from a JSON spec on the embedded chain; the
report and the printed table name the model and the dataset.
"""

from __future__ import annotations

import json

import pytest

from milon_app.cli.cmd_demo import _render
from milon_app.cli.main import main
from milon_app.demo import DemoOptions, run_demo
from tests.bench.make_image_folder import make_image_folder
from tests.unit.test_demo_data import SMALL_CNN

pytest.importorskip("PIL.Image")


def test_an_image_folder_trained_by_a_spec_file_cnn(tmp_path):
    folder = make_image_folder(tmp_path / "shapes", per_class=30)
    model = tmp_path / "cnn.json"
    model.write_text(json.dumps(SMALL_CNN))
    rep = run_demo(
        DemoOptions(
            nodes=2,
            rounds=2,
            epochs_per_round=20,
            dataset=str(folder),
            model=str(model),
            transport="inprocess",
            governance=False,
            baseline=False,
            workdir=tmp_path / "work",
        )
    )
    assert rep.model["name"] == "cnn.json" and rep.model["input_shape"] == [3, 32, 32]
    assert rep.dataset["name"] == "shapes" and rep.dataset["kind"] == "images"
    assert rep.dataset["num_classes"] == 10 and rep.dataset["train_samples"] == 240
    assert [r.outcome for r in rep.rounds] == ["finalized", "finalized"]
    assert all(len(r.accepted) == 2 for r in rep.rounds)
    assert rep.final_accuracy is not None and rep.final_accuracy > 0.3  # chance: 0.1


def test_cli_json_names_model_and_dataset(capsys, tmp_path):
    argv = ["--home", str(tmp_path), "--json", "demo", "--model", "digits-cnn"]
    argv += ["--nodes", "2", "--rounds", "1", "--epochs-per-round", "2", "--transport", "inprocess"]
    assert main(argv) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["options"]["model"] == "digits-cnn"
    assert data["model"]["name"] == "digits_cnn" and data["model"]["input_shape"] == [1, 8, 8]
    assert data["dataset"]["name"] == "digits" and data["dataset"]["kind"] == "builtin"
    assert data["rounds"][0]["outcome"] == "finalized"
    text = _render(data)
    assert "digits_cnn on digits" in text.splitlines()[0]
    assert "model    digits_cnn: 38,282 parameters, input [1, 8, 8]" in text
    assert "dataset  digits (builtin): 1,438 training / 359 test samples, 10 classes" in text
