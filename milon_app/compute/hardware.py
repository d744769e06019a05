"""What this machine can train on: CUDA/ROCm GPUs, Apple MPS and the CPU.

Every probe returns what it found and, when it found nothing, why not, so a
user with a GPU that is not used can see the reason ("torch built without
CUDA", "NVML: driver not loaded"). No probe may raise: missing drivers and
libraries are the normal case on many machines.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import platform
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from milon_app.errors import BadInputError, HardwareError

if TYPE_CHECKING:
    import torch


@dataclass
class DeviceInfo:
    """One compute device; ``torch_device`` is what ``select_device`` accepts."""

    kind: str  # cpu, cuda, rocm, mps
    name: str
    torch_device: str
    available: bool = True
    total_memory_bytes: int | None = None
    compute_capability: str | None = None
    driver_version: str | None = None
    runtime_version: str | None = None
    cores_physical: int | None = None
    cores_logical: int | None = None
    notes: list[str] = field(default_factory=list)


@dataclass
class HardwareReport:
    devices: list[DeviceInfo]
    notes: list[str]
    torch_version: str
    python_version: str
    platform: str

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def usable(self) -> list[DeviceInfo]:
        return [d for d in self.devices if d.available]


def cpu_model_name() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as fh:
            for line in fh:
                m = re.match(r"\s*(model name|Hardware|Processor)\s*:\s*(.+)", line)
                if m:
                    return m.group(2).strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown CPU"


def probe_cpu() -> DeviceInfo:
    info = DeviceInfo(kind="cpu", name=cpu_model_name(), torch_device="cpu")
    try:
        import psutil

        info.cores_physical = psutil.cpu_count(logical=False)
        info.cores_logical = psutil.cpu_count(logical=True)
        info.total_memory_bytes = int(psutil.virtual_memory().total)
    except Exception as exc:  # psutil missing or unsupported platform
        info.cores_logical = os.cpu_count()
        info.notes.append(f"psutil: {exc}")
    try:
        import torch

        info.notes.append(f"torch uses {torch.get_num_threads()} threads")
    except Exception as exc:
        info.available = False
        info.notes.append(f"torch not importable: {exc}")
    return info


def _nvml_devices(notes: list[str]) -> list[DeviceInfo]:
    """GPUs as the driver sees them (also when torch cannot use them)."""
    try:
        import pynvml
    except ImportError:
        notes.append("NVML: nvidia-ml-py not installed (pip install nvidia-ml-py)")
        return []
    try:
        pynvml.nvmlInit()
    except Exception as exc:  # NVMLError_LibraryNotFound, DriverNotLoaded, ...
        notes.append(f"NVML: {exc or type(exc).__name__}")
        return []
    found: list[DeviceInfo] = []
    try:
        driver = _text(pynvml.nvmlSystemGetDriverVersion())
        try:
            v = int(pynvml.nvmlSystemGetCudaDriverVersion())
            cuda_driver = f"{v // 1000}.{(v % 1000) // 10}"
        except Exception:
            cuda_driver = None
        for i in range(int(pynvml.nvmlDeviceGetCount())):
            h = pynvml.nvmlDeviceGetHandleByIndex(i)
            dev = DeviceInfo(
                kind="cuda",
                name=_text(pynvml.nvmlDeviceGetName(h)),
                torch_device=f"cuda:{i}",
                total_memory_bytes=int(pynvml.nvmlDeviceGetMemoryInfo(h).total),
                driver_version=driver,
            )
            try:
                major, minor = pynvml.nvmlDeviceGetCudaComputeCapability(h)
                dev.compute_capability = f"{major}.{minor}"
            except Exception as exc:
                dev.notes.append(f"NVML compute capability: {exc}")
            if cuda_driver:
                dev.notes.append(f"driver supports CUDA {cuda_driver}")
            with contextlib.suppress(Exception):
                dev.notes.append(f"uuid {_text(pynvml.nvmlDeviceGetUUID(h))}")
            found.append(dev)
    except Exception as exc:
        notes.append(f"NVML query failed: {exc}")
    finally:
        with contextlib.suppress(Exception):
            pynvml.nvmlShutdown()
    return found


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _why_no_cuda(torch_mod: Any) -> str:
    if torch_mod.version.cuda is None and torch_mod.version.hip is None:
        return f"torch built without CUDA (torch {torch_mod.__version__})"
    if os.environ.get("CUDA_VISIBLE_DEVICES", None) in ("", "-1"):
        return "CUDA_VISIBLE_DEVICES hides every GPU"
    return "torch found no usable CUDA device (driver missing or too old for the runtime)"


def probe_gpus(notes: list[str]) -> list[DeviceInfo]:
    nvml = _nvml_devices(notes)
    try:
        import torch
    except Exception as exc:
        notes.append(f"torch not importable: {exc}")
        return [dataclasses.replace(d, available=False) for d in nvml]
    is_rocm = torch.version.hip is not None
    try:
        available = bool(torch.cuda.is_available())
        count = torch.cuda.device_count() if available else 0
    except Exception as exc:
        available, count = False, 0
        notes.append(f"torch.cuda: {exc}")
    if not available:
        reason = _why_no_cuda(torch)
        notes.append(f"CUDA: {reason}")
        for d in nvml:
            d.available = False
            d.notes.append(reason)
        return nvml
    devices: list[DeviceInfo] = []
    for i in range(count):
        try:
            props = torch.cuda.get_device_properties(i)
        except Exception as exc:
            notes.append(f"cuda:{i}: {exc}")
            continue
        dev = DeviceInfo(
            kind="rocm" if is_rocm else "cuda",
            name=str(props.name),
            torch_device=f"cuda:{i}",
            total_memory_bytes=int(props.total_memory),
            compute_capability=f"{props.major}.{props.minor}",
            runtime_version=f"HIP {torch.version.hip}" if is_rocm else f"CUDA {torch.version.cuda}",
        )
        match = _match_nvml(props, i, nvml)
        if match is not None:
            dev.driver_version = match.driver_version
            dev.notes.extend(n for n in match.notes if not n.startswith("uuid"))
        devices.append(dev)
    if is_rocm:
        notes.append(f"ROCm build of torch (HIP {torch.version.hip}); AMD GPUs appear as cuda:N")
    return devices


def _match_nvml(props: Any, index: int, nvml: list[DeviceInfo]) -> DeviceInfo | None:
    uuid = str(getattr(props, "uuid", "") or "")
    for d in nvml:
        if uuid and any(uuid in n for n in d.notes):
            return d
    return nvml[index] if index < len(nvml) and nvml[index].name == props.name else None


def probe_mps(notes: list[str]) -> list[DeviceInfo]:
    try:
        import torch

        backend = torch.backends.mps
        if not backend.is_built():
            notes.append("MPS: torch built without MPS (Apple GPUs need macOS on arm64)")
            return []
        if not backend.is_available():
            notes.append("MPS: built, but not available (needs macOS 12.3+ and an Apple GPU)")
            return []
    except Exception as exc:
        notes.append(f"MPS: {exc}")
        return []
    return [DeviceInfo(kind="mps", name="Apple GPU (Metal)", torch_device="mps")]


def detect() -> HardwareReport:
    """Probe everything; never raises."""
    notes: list[str] = []
    try:
        import torch

        torch_version = str(torch.__version__)
    except Exception as exc:
        torch_version = f"not importable: {exc}"
    devices = [probe_cpu(), *probe_gpus(notes), *probe_mps(notes)]
    return HardwareReport(
        devices=devices,
        notes=notes,
        torch_version=torch_version,
        python_version=platform.python_version(),
        platform=platform.platform(),
    )


_DEVICE_RE = re.compile(r"^(auto|cpu|mps|cuda)(?::(\d{1,3}))?$")


def select_device(name: str | torch.device = "auto") -> torch.device:
    """Turn a user's device choice into a torch.device, or say why it cannot be used."""
    import torch

    if isinstance(name, torch.device):
        name = str(name)
    m = _DEVICE_RE.match(name.strip().lower())
    if m is None or (m.group(2) is not None and m.group(1) != "cuda"):
        raise BadInputError(f"device {name!r} is not one of auto, cpu, cuda, cuda:N, mps")
    kind, index = m.group(1), m.group(2)
    if kind == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda", torch.cuda.current_device())
        if _mps_available():
            return torch.device("mps")
        return torch.device("cpu")
    if kind == "cpu":
        return torch.device("cpu")
    if kind == "mps":
        if not _mps_available():
            raise HardwareError(
                f"device {name!r} is not available: MPS needs macOS with an Apple GPU"
            )
        return torch.device("mps")
    if not torch.cuda.is_available():
        raise HardwareError(f"device {name!r} is not available: CUDA: {_why_no_cuda(torch)}")
    i = torch.cuda.current_device() if index is None else int(index)
    count = torch.cuda.device_count()
    if i >= count:
        raise HardwareError(f"device {name!r} is not available: only {count} CUDA device(s)")
    return torch.device("cuda", i)


def _mps_available() -> bool:
    try:
        import torch

        return bool(torch.backends.mps.is_available())
    except Exception:
        return False
