"""The local trainer: a model spec, a global model and local data in; an update out.

The hot loop is plain PyTorch with nothing per step that a bare loop would
not do: data sits on the device once, each epoch shuffles with a seeded
generator and slices contiguous batches, the loss is summed on the device,
and ``.item()`` (a GPU sync) happens only when progress is reported, at most
every ``report_interval_s``. CPU runs with the same seed and thread count
give bit-identical updates.

Speed options: the spec's ``precision`` ("bf16", "fp16") trains under autocast on
CUDA (fp16 with a gradient scaler), Conv2d models use the channels_last layout on
CUDA, the data is copied to a CUDA device once from pinned host memory, and
``compile_model`` (a local setting, not part of the job) runs ``torch.compile``.
On the CPU an fp32 spec trains exactly as before; see :func:`_autocast_dtype`
and :func:`_memory_format` for what the CPU does with the other options.
"""

from __future__ import annotations

import contextlib
import logging
import math
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast

from milon_app.compute import dp_sgd
from milon_app.compute import tasks as T
from milon_app.compute.hardware import select_device
from milon_app.compute.model_spec import ModelSpec
from milon_app.compute.weights import check_compatible, decode_state, encode_state
from milon_app.errors import BadInputError, TrainingError

if TYPE_CHECKING:
    import torch

MAX_EPOCHS = 10_000
log = logging.getLogger(__name__)


class TrainingCancelled(TrainingError):
    """The caller set the cancel event; no update was produced."""


@dataclass(frozen=True)
class TrainProgress:
    epoch: int  # 1-based
    epochs: int
    step: int  # steps done in this epoch
    steps_total: int  # steps per epoch
    loss: float  # mean loss of this epoch so far
    samples_per_s: float
    eta_s: float


@dataclass
class TrainResult:
    update_bytes: bytes
    state: dict[str, torch.Tensor]
    num_samples: int
    train_loss: float
    val_loss: float | None
    val_accuracy: float | None
    epochs: int
    wall_s: float
    samples_per_s: float
    privacy: dict[str, Any] | None = None  # dp-sgd: compute.dp_sgd.plan_summary of this run


StateLike = Mapping[str, "torch.Tensor"] | bytes | None


def load_state(model: torch.nn.Module, state: StateLike) -> None:
    """Load a global model into ``model``; a shape mismatch is a BadInputError."""
    if state is None:
        return
    tensors = decode_state(bytes(state)) if isinstance(state, (bytes, bytearray)) else dict(state)
    check_compatible(model.state_dict(), tensors)
    model.load_state_dict(tensors)


def prepare_data(
    spec: ModelSpec, data: tuple[torch.Tensor, torch.Tensor], what: str = "training data"
) -> tuple[torch.Tensor, torch.Tensor]:
    """Check ``(x, y)`` against the spec and its task (:mod:`milon_app.compute.tasks`):
    ``x`` reshaped to the input shape (float32, or int64 token ids), ``y`` int64 class
    labels or float32 ``[n, k]`` targets."""
    import torch

    if not isinstance(data, (tuple, list)) or len(data) != 2:
        raise BadInputError(f"{what} must be a pair (x, y) of tensors")
    x, y = data
    if not isinstance(x, torch.Tensor) or not isinstance(y, torch.Tensor):
        raise BadInputError(f"{what}: x and y must be torch tensors")
    n = int(x.shape[0]) if x.dim() > 0 else 0
    if n == 0:
        raise BadInputError(f"{what} is empty")
    return T.prepare_inputs(spec, x, n, what), T.prepare_targets(spec, y, n, what)


def _batch_bounds(n: int, batch: int) -> list[tuple[int, int]]:
    """Batch slices; a trailing batch of one sample is merged (BatchNorm cannot train on 1)."""
    bounds = [(i, min(i + batch, n)) for i in range(0, n, batch)]
    if len(bounds) > 1 and bounds[-1][1] - bounds[-1][0] == 1:
        last = bounds.pop()
        bounds[-1] = (bounds[-1][0], last[1])
    return bounds


def _sync(device: torch.device) -> None:
    import torch

    if device.type == "cuda":
        torch.cuda.synchronize(device)


def train(
    spec: ModelSpec,
    global_state: StateLike,
    data: tuple[torch.Tensor, torch.Tensor],
    *,
    epochs: int,
    device: str | torch.device = "cpu",
    seed: int,
    val_data: tuple[torch.Tensor, torch.Tensor] | None = None,
    progress: Callable[[TrainProgress], None] | None = None,
    cancel: threading.Event | None = None,
    threads: int | None = None,
    report_interval_s: float = 0.1,
    compile_model: bool = False,
    dp_max_epochs: int | None = None,
) -> TrainResult:
    """Train ``epochs`` epochs from ``global_state`` (None: fresh init from ``seed``).

    ``compile_model`` is this machine's choice, not the job's: ``torch.compile`` the
    model, or train eagerly where it cannot compile (logged at debug level). A dp-sgd
    spec trains with :mod:`milon_app.compute.dp_sgd`, its noise calibrated for
    ``dp_max_epochs`` epochs (the job's bound; default ``epochs``)."""
    import torch

    if isinstance(epochs, bool) or not isinstance(epochs, int) or not 1 <= epochs <= MAX_EPOCHS:
        raise BadInputError(f"epochs {epochs!r} is not an integer in [1, {MAX_EPOCHS}]")
    dev = select_device(device)
    x, y = prepare_data(spec, data)
    val = prepare_data(spec, val_data, "validation data") if val_data is not None else None
    old_threads = torch.get_num_threads()
    if threads is not None:
        if threads < 1:
            raise BadInputError(f"threads must be at least 1, got {threads}")
        torch.set_num_threads(threads)
    t_start = time.perf_counter()
    try:
        model = spec.build(seed)
        load_state(model, global_state)
        model.to(dev)
        layout = _memory_format(spec, model, dev)
        if layout is not None:  # a documented form of Module.to that the stubs lack
            model.to(memory_format=layout)  # type: ignore[call-overload]
        dp_info: dict[str, Any] | None = None  # dp-sgd: the privacy figures of this run
        with spec.seeded_rng(seed, dev):  # dropout draws from the global RNG
            if spec.privacy.mode == "dp-sgd":  # per-sample clipping and noise (compute.dp_sgd)
                dp_data = (x.to(dev), y.to(dev))
                limits = (epochs, dp_max_epochs or epochs, seed)
                train_loss, t_loop, dp_info = dp_sgd.run(
                    spec, model, dp_data, limits, progress, cancel, report_interval_s
                )
            else:
                train_loss, t_loop = _loop(
                    spec,
                    model,
                    _to_device(x, dev, layout),
                    _to_device(y, dev, None),
                    epochs,
                    dev,
                    seed,
                    progress,
                    cancel,
                    report_interval_s,
                    amp=_autocast_dtype(spec, dev),
                    compile_model=compile_model,
                )
        # one copy per tensor (a device's .to("cpu") is that copy), in the standard layout
        state = {
            k: v.detach().to("cpu", copy=True, memory_format=torch.contiguous_format)
            for k, v in model.state_dict().items()
        }
        for name, tensor in state.items():
            if tensor.is_floating_point() and not bool(tensor.isfinite().all()):
                raise TrainingError(f"training diverged: tensor {name!r} holds NaN or Inf")
        val_loss = val_acc = None
        if val is not None:
            val_loss, val_acc = _evaluate_model(spec, model, val[0].to(dev), val[1].to(dev))
    finally:
        if threads is not None:
            torch.set_num_threads(old_threads)
    n = int(x.shape[0])
    return TrainResult(
        update_bytes=encode_state(state),
        state=state,
        num_samples=n,
        train_loss=train_loss,
        val_loss=val_loss,
        val_accuracy=val_acc,
        epochs=epochs,
        wall_s=time.perf_counter() - t_start,
        samples_per_s=n * epochs / t_loop if t_loop > 0 else 0.0,
        privacy=dp_info,
    )


def _autocast_dtype(spec: ModelSpec, dev: torch.device) -> torch.dtype | None:
    """The autocast dtype of the spec's precision on ``dev``; None: plain fp32.

    Reduced precision is a permission, not a demand: only CUDA devices with fast
    kernels for it use it (bf16 natively from compute capability 8.0; fp16 on any).
    Elsewhere the job trains in fp32: on this project's reference CPU (AMD EPYC,
    AVX2, no native bf16) CPU autocast bf16 trained the digits CNN about 8x slower
    than fp32, and MPS autocast is not validated here."""
    import torch

    if spec.precision == "fp32" or dev.type != "cuda":
        return None
    if spec.precision == "fp16":
        return torch.float16
    native_bf16 = bool(torch.version.hip) or torch.cuda.get_device_properties(dev).major >= 8
    return torch.bfloat16 if native_bf16 else None


def _memory_format(
    spec: ModelSpec, model: torch.nn.Module, dev: torch.device
) -> torch.memory_format | None:
    """channels_last for models with a Conv2d (in a block too) on CUDA; None: the default.

    On the CPU channels_last trained the digits CNN 9-26% faster here, but it
    changes the last bits of the update, so an fp32 spec keeps the default layout
    (its CPU updates stay bit-identical to earlier releases); a spec that allows
    reduced precision has accepted such differences and gets the faster layout."""
    import torch

    if not any(isinstance(m, torch.nn.Conv2d) for m in model.modules()):
        return None
    if dev.type == "cuda" or (dev.type == "cpu" and spec.precision != "fp32"):
        return torch.channels_last
    return None


def _to_device(
    t: torch.Tensor, dev: torch.device, layout: torch.memory_format | None
) -> torch.Tensor:
    """The one copy of the data to ``dev``: from pinned host memory to a CUDA device
    (a DMA at full bus speed that the host need not wait for); no copy on the CPU."""
    if layout is not None and t.dim() == 4:
        t = t.contiguous(memory_format=layout)
    if dev.type != "cuda":
        return t.to(dev)
    try:
        t = t.pin_memory()
    except RuntimeError:  # page-locked memory is limited; a plain copy still works
        return t.to(dev)
    return t.to(dev, non_blocking=True)


def _compiled(
    model: torch.nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    bounds: list[tuple[int, int]],
    loss_fn: torch.nn.Module,
    dev: torch.device,
    amp: torch.dtype | None,
) -> torch.nn.Module:
    """``torch.compile(model)`` with every batch shape compiled now, or ``model`` itself.

    Compile errors (no C++ compiler, no Triton) surface at the first call, so each
    distinct batch size runs forward and backward once here; the model's state, its
    gradients and the RNG are restored afterwards, so the run trains as it would
    have. Any failure means eager training, with one debug log line."""
    import torch

    from milon_app.compute.model_spec import RNG_LOCK

    snapshot = {k: v.detach().clone() for k, v in model.state_dict().items()}
    devices = [dev.index or 0] if dev.type == "cuda" else []
    compiled: torch.nn.Module = model
    try:
        candidate = cast("torch.nn.Module", torch.compile(model))
        with RNG_LOCK, torch.random.fork_rng(devices=devices):
            for a, b in {b - a: (a, b) for a, b in bounds}.values():
                with _autocast(dev, amp):
                    loss = loss_fn(candidate(x[a:b]), y[a:b])
                loss.backward()
        compiled = candidate
    except Exception as exc:  # a compiler failure has many types; all mean "train eagerly"
        log.debug("torch.compile unavailable, training eagerly: %s", exc)
    model.load_state_dict(snapshot)
    model.zero_grad(set_to_none=True)
    return compiled


def _autocast(dev: torch.device, amp: torch.dtype | None) -> contextlib.AbstractContextManager[Any]:
    import torch

    return contextlib.nullcontext() if amp is None else torch.autocast(dev.type, dtype=amp)


def _amp_step(
    fwd: torch.nn.Module,
    loss_fn: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    scaler: torch.amp.GradScaler | None,
    xb: torch.Tensor,
    yb: torch.Tensor,
    dev: torch.device,
    amp: torch.dtype,
) -> torch.Tensor:
    """One step under autocast; fp16 scales the loss so that small gradients do not
    flush to zero, and skips a step whose gradients overflowed."""
    with _autocast(dev, amp):
        loss: torch.Tensor = loss_fn(fwd(xb), yb)
    if scaler is None:
        loss.backward()
        optimizer.step()
    else:
        scaler.scale(loss).backward()
        scaler.step(optimizer)
        scaler.update()
    return loss


def _loop(
    spec: ModelSpec,
    model: torch.nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    epochs: int,
    dev: torch.device,
    seed: int,
    progress: Callable[[TrainProgress], None] | None,
    cancel: threading.Event | None,
    report_interval_s: float,
    sum_on_device: bool | None = None,
    *,
    amp: torch.dtype | None = None,
    compile_model: bool = False,
) -> tuple[float, float]:
    """The hot loop; returns (mean loss of the last epoch, seconds spent).

    ``sum_on_device`` (default: not on the CPU) keeps the loss sum on the device and
    checks it only when reporting, so a GPU is not synced every step. ``amp`` is the
    autocast dtype (None: fp32, the step a bare loop takes); ``compile_model`` see
    :func:`_compiled`."""
    import torch

    n = int(x.shape[0])
    bounds = _batch_bounds(n, spec.batch_size)
    steps = len(bounds)
    optimizer = spec.make_optimizer(model.parameters())
    loss_fn = spec.make_loss()
    gen = torch.Generator(device="cpu")
    gen.manual_seed(seed)
    on_cpu = dev.type == "cpu" if sum_on_device is None else not sum_on_device
    model.train()
    fwd = _compiled(model, x, y, bounds, loss_fn, dev, amp) if compile_model else model
    scaler = torch.amp.GradScaler(dev.type) if amp == torch.float16 else None
    t0 = last_report = time.perf_counter()
    loss_sum = torch.zeros((), device=dev)  # accelerators: summed on the device, no sync
    cpu_sum = 0.0  # the CPU: .item() costs no sync, and beats a tensor add per step
    for epoch in range(1, epochs + 1):
        perm = torch.randperm(n, generator=gen).to(dev, non_blocking=True)
        xs, ys = x[perm], y[perm]
        loss_sum.zero_()
        cpu_sum = 0.0
        for step, (a, b) in enumerate(bounds, start=1):
            if cancel is not None and cancel.is_set():
                raise TrainingCancelled(f"training cancelled at epoch {epoch} step {step}")
            optimizer.zero_grad(set_to_none=True)
            if amp is None:
                loss = loss_fn(fwd(xs[a:b]), ys[a:b])
                loss.backward()
                optimizer.step()
            else:
                loss = _amp_step(fwd, loss_fn, optimizer, scaler, xs[a:b], ys[a:b], dev, amp)
            if on_cpu:
                value = loss.item()
                if not math.isfinite(value):  # checked every step: the exact step is named
                    raise TrainingError(f"training diverged at epoch {epoch} step {step}")
                cpu_sum += value * (b - a)
            else:
                loss_sum.add_(loss.detach(), alpha=b - a)
            now = time.perf_counter()
            if step == steps or now - last_report >= report_interval_s:
                mean = (cpu_sum if on_cpu else loss_sum.item()) / b  # a GPU syncs only here
                if not math.isfinite(mean):
                    raise TrainingError(f"training diverged at epoch {epoch} step {step}")
                if progress is not None:
                    done = (epoch - 1) * n + b
                    rate = done / (now - t0) if now > t0 else 0.0
                    eta = (epochs * n - done) / rate if rate > 0 else 0.0
                    progress(TrainProgress(epoch, epochs, step, steps, mean, rate, eta))
                last_report = now
    _sync(dev)
    return (cpu_sum if on_cpu else loss_sum.item()) / n, time.perf_counter() - t0


def _evaluate_model(
    spec: ModelSpec, model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor, chunk: int = 4096
) -> tuple[float, float]:
    """(mean loss, the task's metric: accuracy, R^2 or per-label accuracy)."""
    import torch

    loss_fn = spec.make_loss()
    was_training = model.training
    model.eval()
    total_loss = torch.zeros((), device=x.device, dtype=torch.float64)
    metric = T.Metric(spec.task)
    with torch.no_grad():
        for i in range(0, int(x.shape[0]), chunk):
            out = model(x[i : i + chunk])
            yb = y[i : i + chunk]
            total_loss += loss_fn(out, yb).double() * yb.shape[0]
            metric.add(out, yb)
    model.train(was_training)
    n = int(x.shape[0])
    return float(total_loss.item()) / n, metric.value()


def evaluate(
    spec: ModelSpec,
    state: StateLike,
    x: torch.Tensor,
    y: torch.Tensor,
    device: str | torch.device = "cpu",
) -> tuple[float, float]:
    """(mean loss, accuracy) of the model ``state`` on ``(x, y)``."""
    dev = select_device(device)
    xv, yv = prepare_data(spec, (x, y), "evaluation data")
    model = spec.build(0)
    load_state(model, state)
    model.to(dev)
    return _evaluate_model(spec, model, xv.to(dev), yv.to(dev))


def result_summary(result: TrainResult) -> dict[str, Any]:
    """The JSON-friendly part of a result (no tensors, no bytes)."""
    return {
        "num_samples": result.num_samples,
        "train_loss": result.train_loss,
        "val_loss": result.val_loss,
        "val_accuracy": result.val_accuracy,
        "epochs": result.epochs,
        "wall_s": round(result.wall_s, 4),
        "samples_per_s": round(result.samples_per_s, 1),
        "update_bytes": len(result.update_bytes),
    }
