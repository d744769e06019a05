"""Device detection and selection on this machine (a CPU; CUDA only where present)."""

from __future__ import annotations

import json
import sys

import pytest
import torch

from milon_app.compute.hardware import detect, probe_gpus, select_device
from milon_app.errors import BadInputError, HardwareError


def test_detect_finds_the_cpu_and_is_json():
    report = detect()
    cpu = report.devices[0]
    assert cpu.kind == "cpu" and cpu.available and cpu.torch_device == "cpu"
    assert cpu.cores_logical and cpu.cores_logical >= 1
    assert cpu.total_memory_bytes and cpu.total_memory_bytes > 0
    assert cpu.name
    data = json.loads(json.dumps(report.to_dict()))
    assert data["torch_version"] == torch.__version__
    assert report.usable()[0] is cpu


def test_cuda_absence_has_a_reason():
    report = detect()
    if torch.cuda.is_available():
        pytest.skip("CUDA present")
    assert not any(d.kind in ("cuda", "rocm") and d.available for d in report.devices)
    assert any(n.startswith("CUDA: ") for n in report.notes)
    assert any(n.startswith("MPS") for n in report.notes) or any(
        d.kind == "mps" for d in report.devices
    )


def test_missing_nvml_package_is_a_note(monkeypatch):
    monkeypatch.setitem(sys.modules, "pynvml", None)
    notes: list[str] = []
    probe_gpus(notes)
    assert any("nvidia-ml-py not installed" in n for n in notes)


def test_select_device():
    assert select_device("cpu") == torch.device("cpu")
    assert select_device(" CPU ") == torch.device("cpu")
    assert select_device(torch.device("cpu")) == torch.device("cpu")
    auto = select_device("auto")
    assert auto.type == ("cuda" if torch.cuda.is_available() else auto.type)


@pytest.mark.parametrize("name", ["tpu", "cuda:x", "cpu:1", "mps:0", "", "cuda:0:1"])
def test_select_device_bad_names(name):
    with pytest.raises(BadInputError, match="is not one of auto, cpu, cuda, cuda:N, mps"):
        select_device(name)


def test_select_device_unavailable():
    if not torch.cuda.is_available():
        for name in ("cuda", "cuda:0"):
            with pytest.raises(HardwareError, match=f"device '{name}' is not available") as err:
                select_device(name)
            assert err.value.exit_code == 10
    else:
        with pytest.raises(HardwareError, match="only"):
            select_device("cuda:999")
    if not torch.backends.mps.is_available():
        with pytest.raises(HardwareError, match="device 'mps' is not available"):
            select_device("mps")
