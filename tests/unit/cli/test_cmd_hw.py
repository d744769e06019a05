"""``milon hw``: table, JSON, benchmark and device errors through the real CLI entry point."""

from __future__ import annotations

import json

import torch

from milon_app.cli.main import main


def run(capsys, tmp_path, *args):
    code = main(["--home", str(tmp_path), *args])
    out, err = capsys.readouterr()
    return code, out, err


def test_hw_table(capsys, tmp_path):
    code, out, _ = run(capsys, tmp_path, "hw")
    assert code == 0
    assert "Compute devices" in out and "cpu" in out and "usable" in out
    if not torch.cuda.is_available():
        assert "CUDA: " in out


def test_hw_json(capsys, tmp_path):
    code, out, _ = run(capsys, tmp_path, "--json", "hw")
    assert code == 0
    data = json.loads(out)
    assert data["benchmark"] is None
    assert data["hardware"]["devices"][0]["kind"] == "cpu"


def test_hw_benchmark_json(capsys, tmp_path):
    code, out, _ = run(
        capsys,
        tmp_path,
        "--json",
        "hw",
        "--benchmark",
        "--device",
        "cpu",
        "--duration",
        "0.2",
        "--model",
        "digits_cnn",
        "--batch-size",
        "16",
    )
    assert code == 0
    bench = json.loads(out)["benchmark"]
    assert bench["score"] >= 1 and bench["batch_size"] == 16 and bench["device"] == "cpu"
    assert bench["repeats"] == 5 and len(bench["rates"]) == 5 and bench["spread"] >= 0
    assert min(bench["rates"]) <= bench["samples_per_s"] <= max(bench["rates"])


def test_hw_benchmark_human(capsys, tmp_path):
    code, out, _ = run(capsys, tmp_path, "hw", "--benchmark", "--duration", "0.1")
    assert code == 0
    assert "samples/s" in out and "score" in out
    assert "median of 5 timed runs after a warm-up" in out and "% of the median" in out


def test_hw_device_errors(capsys, tmp_path):
    if not torch.cuda.is_available():
        code, _, err = run(capsys, tmp_path, "hw", "--device", "cuda")
        assert code == 10 and "device 'cuda' is not available" in err
    code, _, err = run(capsys, tmp_path, "hw", "--device", "tpu")
    assert code == 3 and "'tpu'" in err
    code, _, err = run(
        capsys,
        tmp_path,
        "hw",
        "--benchmark",
        "--model",
        str(tmp_path / "none.json"),
        "--duration",
        "0.1",
    )
    assert code == 8 and "does not exist" in err
