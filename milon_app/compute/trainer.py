"""The local trainer: a model spec, a global model and local data in; an update out.

The hot loop is plain PyTorch with nothing per step that a bare loop would
not do: data sits on the device once, each epoch shuffles with a seeded
generator and slices contiguous batches, the loss is summed on the device,
and ``.item()`` (a GPU sync) happens only when progress is reported, at most
every ``report_interval_s``. CPU runs with the same seed and thread count
give bit-identical updates.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from milon_app.compute.hardware import select_device
from milon_app.compute.model_spec import ModelSpec
from milon_app.compute.weights import check_compatible, decode_state, encode_state
from milon_app.errors import BadInputError, TrainingError

if TYPE_CHECKING:
    import torch

MAX_EPOCHS = 10_000


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
    """Check ``(x, y)`` against the spec and reshape ``x`` to its input shape."""
    import torch

    if not isinstance(data, (tuple, list)) or len(data) != 2:
        raise BadInputError(f"{what} must be a pair (x, y) of tensors")
    x, y = data
    if not isinstance(x, torch.Tensor) or not isinstance(y, torch.Tensor):
        raise BadInputError(f"{what}: x and y must be torch tensors")
    n = int(x.shape[0]) if x.dim() > 0 else 0
    if n == 0:
        raise BadInputError(f"{what} is empty")
    if y.dim() != 1 or int(y.shape[0]) != n:
        raise BadInputError(f"{what}: y has shape {list(y.shape)}, expected [{n}] labels")
    per_sample = math.prod(spec.input_shape)
    if x[0].numel() != per_sample:
        raise BadInputError(
            f"{what}: samples have shape {list(x.shape[1:])}, the model expects "
            f"{list(spec.input_shape)}"
        )
    if not x.is_floating_point():
        x = x.float()
    if y.dtype.is_floating_point or y.dtype == torch.bool:
        raise BadInputError(f"{what}: labels must be integers, got {y.dtype}")
    classes = spec.num_classes
    lo, hi = int(y.min()), int(y.max())
    if lo < 0 or hi >= classes:
        raise BadInputError(f"{what}: labels span [{lo}, {hi}], the model has {classes} classes")
    return x.reshape(n, *spec.input_shape).to(torch.float32), y.to(torch.long)


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
) -> TrainResult:
    """Train ``epochs`` epochs from ``global_state`` (None: fresh init from ``seed``)."""
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
        with spec.seeded_rng(seed, dev):  # dropout draws from the global RNG
            train_loss, t_loop = _loop(
                spec,
                model,
                x.to(dev),
                y.to(dev),
                epochs,
                dev,
                seed,
                progress,
                cancel,
                report_interval_s,
            )
        state = {k: v.detach().to("cpu").clone() for k, v in model.state_dict().items()}
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
    )


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
) -> tuple[float, float]:
    """The hot loop; returns (mean loss of the last epoch, seconds spent).

    ``sum_on_device`` (default: not on the CPU) keeps the loss sum on the device and
    checks it only when reporting, so a GPU is not synced every step."""
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
            loss = loss_fn(model(xs[a:b]), ys[a:b])
            loss.backward()
            optimizer.step()
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
    import torch

    loss_fn = spec.make_loss()
    was_training = model.training
    model.eval()
    total_loss = torch.zeros((), device=x.device, dtype=torch.float64)
    correct = torch.zeros((), device=x.device, dtype=torch.long)
    with torch.no_grad():
        for i in range(0, int(x.shape[0]), chunk):
            out = model(x[i : i + chunk])
            yb = y[i : i + chunk]
            total_loss += loss_fn(out, yb).double() * yb.shape[0]
            correct += (out.argmax(dim=1) == yb).sum()
    model.train(was_training)
    n = int(x.shape[0])
    return float(total_loss.item()) / n, int(correct.item()) / n


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
