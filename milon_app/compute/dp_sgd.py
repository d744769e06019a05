"""Sample-level differential privacy: DP-SGD with Opacus (issue 23, ``privacy.mode`` dp-sgd).

How to train one member with dp-sgd::

    spec = digits_mlp().with_privacy(PrivacySpec("dp-sgd", epsilon=8.0, delta=1e-5, clip=1.0))
    result = trainer.train(spec, global_state, (x, y), epochs=E, seed=s, dp_max_epochs=T)
    result.privacy  # plan_summary(): noise_multiplier, sample_rate, steps, epsilon_spent, ...

``T`` is the job's ``total_epochs`` (default ``E``); the bound the noise is sized for is
the spec's ``privacy.max_epochs`` when it sets one (the most epochs one member trains on
the job), else ``T``: the noise is calibrated so that the bound's epochs stay within the
spec's (epsilon, delta). :func:`plan` gives the same figures without training.

Every step Poisson-samples the member's data (each sample in with probability ``q``, the
sampling the RDP accountant assumes), computes per-sample gradients (Opacus'
GradSampleModule), clips each to L2 norm ``clip``, sums them and adds Gaussian noise of
std ``sigma * clip`` (Opacus' DPOptimizer), then divides by the expected batch ``q * n``
and lets the spec's optimizer step. Like Opacus' DPDataLoader, an epoch is
``ceil(n / batch_size)`` steps and ``q`` is one over that. The sampling is seeded by the
training seed (CPU runs repeat it exactly); the noise seed is fresh OS randomness
(:func:`milon_app.federation.privacy.noise_seed`), so nobody can subtract the noise.
Training is fp32 and eager: the spec's reduced precision and ``torch.compile`` are not
used under dp-sgd.
"""

from __future__ import annotations

import math
import threading
import time
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from milon_app.errors import BadInputError, TrainingError
from milon_app.federation import privacy as P

if TYPE_CHECKING:
    import torch

    from milon_app.compute.model_spec import ModelSpec
    from milon_app.compute.privacy_spec import PrivacySpec
    from milon_app.compute.trainer import TrainProgress


@dataclass(frozen=True)
class Plan:
    """The noise and sampling of one member's DP-SGD on a job."""

    noise_multiplier: float  # sigma: noise std is sigma * clip on the summed clipped gradients
    sample_rate: float  # q: each sample's chance to be in a step's batch
    steps_per_epoch: int
    max_epochs: int  # the bound the noise is calibrated for
    clip: float
    delta: float
    samples: int

    @property
    def expected_batch(self) -> float:
        return self.sample_rate * self.samples

    def epsilon(self, epochs: int) -> float:
        """Epsilon spent after ``epochs`` epochs of this plan (0 for none)."""
        steps = epochs * self.steps_per_epoch
        return P.epsilon_spent(self.noise_multiplier, steps, self.delta, self.sample_rate)


def steps_per_epoch(samples: int, batch_size: int) -> int:
    if samples < 1 or batch_size < 1:
        raise BadInputError(f"dp-sgd needs data and a batch size, got {samples} and {batch_size}")
    return math.ceil(samples / batch_size)


def plan(privacy: PrivacySpec, samples: int, batch_size: int, max_epochs: int) -> Plan:
    """The smallest noise that keeps ``max_epochs`` epochs on ``samples`` samples within the
    spec's (epsilon, delta) under the RDP accountant."""
    if privacy.mode != "dp-sgd":
        raise BadInputError(f"privacy mode {privacy.mode!r} is not dp-sgd")
    if max_epochs < 1:
        raise BadInputError(f"dp-sgd needs an epoch bound >= 1, got {max_epochs}")
    spe = steps_per_epoch(samples, batch_size)
    q = 1.0 / spe
    sigma = P.noise_multiplier(privacy.epsilon, privacy.delta, max_epochs * spe, q)
    return Plan(sigma, q, spe, max_epochs, privacy.clip, privacy.delta, samples)


def summary_plan(s: Mapping[str, Any], clip: float, delta: float) -> Plan:
    """The plan a :func:`plan_summary` describes: what a training used, read back."""
    return Plan(
        float(s["noise_multiplier"]),
        float(s["sample_rate"]),
        int(s["steps_per_epoch"]),
        int(s["max_epochs"]),
        clip,
        delta,
        int(s["samples"]),
    )


def plan_summary(p: Plan, epochs_taken: int) -> dict[str, Any]:
    """What reports print for a member that ran ``epochs_taken`` epochs of ``p``."""
    return {
        "noise_multiplier": p.noise_multiplier,
        "sample_rate": p.sample_rate,
        "samples": p.samples,
        "steps_per_epoch": p.steps_per_epoch,
        "max_epochs": p.max_epochs,
        "epochs_taken": epochs_taken,
        "steps": epochs_taken * p.steps_per_epoch,
        "epsilon_spent": p.epsilon(epochs_taken),
        "epsilon_max": p.epsilon(p.max_epochs),
    }


def check_model(model: torch.nn.Module) -> None:
    """Refuse, naming it, a layer DP-SGD cannot train (per-sample gradients are undefined
    for layers that mix samples, e.g. BatchNorm): Opacus' validators, layer by layer."""
    from opacus.validators import ModuleValidator

    for name, layer in model.named_modules():
        check = ModuleValidator.VALIDATORS.get(type(layer))
        trainable = any(w.requires_grad for w in layer.parameters(recurse=False))
        errors = check(layer) if check is not None and trainable else []
        if errors:
            raise BadInputError(
                f"dp-sgd cannot train layer {name or 'the model'} ({type(layer).__name__}): "
                f"{str(errors[0]).split('.')[0]}; use GroupNorm or LayerNorm instead"
            )


def check_spec(spec: ModelSpec) -> None:
    """:func:`check_model` on the spec's model (job creation refuses early)."""
    check_model(spec.build(0))


def run(
    spec: ModelSpec,
    model: torch.nn.Module,
    data: tuple[torch.Tensor, torch.Tensor],
    limits: tuple[int, int, int],
    progress: Callable[[TrainProgress], None] | None = None,
    cancel: threading.Event | None = None,
    report_interval_s: float = 0.1,
) -> tuple[float, float, dict[str, Any]]:
    """Train ``model`` in place with DP-SGD for ``limits`` = (epochs, the job's total_epochs,
    sampling seed); (mean loss of the last epoch, seconds spent, :func:`plan_summary`).
    The noise is sized for the spec's ``max_epochs`` when it sets one."""
    epochs, total_epochs, seed = limits
    max_epochs = spec.privacy.epoch_bound(total_epochs)
    if epochs > max_epochs:  # the noise would be too weak for the target
        raise BadInputError(f"dp-sgd: {epochs} epochs exceed the bound of {max_epochs}")
    p = plan(spec.privacy, int(data[0].shape[0]), spec.batch_size, max_epochs)
    loss, seconds = _train(spec, model, data, epochs, seed, p, progress, cancel, report_interval_s)
    return loss, seconds, plan_summary(p, epochs)


def _train(
    spec: ModelSpec,
    model: torch.nn.Module,
    data: tuple[torch.Tensor, torch.Tensor],
    epochs: int,
    seed: int,
    p: Plan,
    progress: Callable[[TrainProgress], None] | None,
    cancel: threading.Event | None,
    report_interval_s: float,
) -> tuple[float, float]:
    import torch
    from opacus import GradSampleModule
    from opacus.optimizers import DPOptimizer

    from milon_app.compute.trainer import TrainingCancelled, TrainProgress

    x, y = data
    check_model(model)
    # The data needs no gradient, so PyTorch warns that Opacus' backward hooks fire on the
    # modules' outputs, which is all they need. A process-wide filter (training runs in
    # threads, where catch_warnings is unsafe); adding it again replaces the same entry.
    warnings.filterwarnings("ignore", message="Full backward hook is firing")
    n = int(x.shape[0])
    gsm = GradSampleModule(model, loss_reduction="mean")
    params = [w for w in model.parameters() if w.requires_grad]
    noise_gen = torch.Generator(device=x.device).manual_seed(P.noise_seed(seed))
    optimizer = DPOptimizer(
        spec.make_optimizer(params),
        noise_multiplier=p.noise_multiplier,
        max_grad_norm=p.clip,
        expected_batch_size=max(1, round(p.expected_batch)),
        loss_reduction="mean",
        generator=noise_gen,
    )
    optimizer.expected_batch_size = p.expected_batch  # exact q*n (the init takes an int)
    loss_fn = spec.make_loss()
    sampler = torch.Generator(device="cpu").manual_seed(seed)
    model.train()
    t0 = last = time.perf_counter()
    total = 0.0
    try:
        for epoch in range(1, epochs + 1):
            total, seen = 0.0, 0
            for step in range(1, p.steps_per_epoch + 1):
                if cancel is not None and cancel.is_set():
                    raise TrainingCancelled(f"training cancelled at epoch {epoch} step {step}")
                idx = (torch.rand(n, generator=sampler) < p.sample_rate).nonzero().squeeze(1)
                loss = _step(gsm, optimizer, loss_fn, (x, y), idx.to(x.device))
                if not math.isfinite(loss):
                    raise TrainingError(f"training diverged at epoch {epoch} step {step}")
                total += loss * int(idx.numel())
                seen += int(idx.numel())
                now = time.perf_counter()
                if progress is not None and (
                    step == p.steps_per_epoch or now - last >= report_interval_s
                ):
                    done = (epoch - 1) * n + min(n, round(step * p.expected_batch))
                    rate = done / (now - t0) if now > t0 else 0.0
                    eta = (epochs * n - done) / rate if rate > 0 else 0.0
                    mean = total / seen if seen else 0.0
                    progress(TrainProgress(epoch, epochs, step, p.steps_per_epoch, mean, rate, eta))
                    last = now
            total = total / seen if seen else 0.0
    finally:
        optimizer.zero_grad(set_to_none=True)
        gsm._close()  # removes the hooks: the model is a plain module again
    return total, time.perf_counter() - t0


def _step(
    gsm: Any, optimizer: Any, loss_fn: Any, data: tuple[torch.Tensor, torch.Tensor], idx: Any
) -> float:
    """One DP-SGD step on the samples ``idx``; the batch's mean loss (0 for an empty one)."""
    import torch

    x, y = data
    optimizer.zero_grad(set_to_none=True)
    value = 0.0
    if idx.numel() == 0:  # an empty Poisson batch: the step is noise alone
        for w in optimizer.params:
            w.grad_sample = torch.zeros((0, *w.shape), device=w.device, dtype=w.dtype)
    else:
        loss = loss_fn(gsm(x[idx]), y[idx])
        loss.backward()
        value = float(loss.item())
    optimizer.step()
    return value
