"""Capacity benchmark: training samples/s of a model at a batch size on one device.

The score a node registers on chain is only meaningful for the model and
batch size it was measured with (a GPU is launch-bound and can lose to a CPU
at batch 32), so callers pass the job's spec when they have one; the default
is the digits MLP at its batch size. Data is synthetic: throughput does not
depend on the values.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from milon_app.compute.hardware import select_device
from milon_app.compute.model_spec import ModelSpec, digits_mlp
from milon_app.compute.tasks import synthetic_data
from milon_app.errors import BadInputError

if TYPE_CHECKING:
    import torch

MAX_DURATION_S = 60.0


@dataclass(frozen=True)
class CapacityResult:
    device: str
    spec_hash: str
    batch_size: int
    samples_per_s: float
    score: int  # what a node registers on chain: round(samples/s), at least 1
    steps: int
    duration_s: float
    threads: int

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def capacity_score(samples_per_s: float) -> int:
    return max(1, round(samples_per_s))


def _sync(dev: torch.device) -> None:
    import torch

    if dev.type == "cuda":
        torch.cuda.synchronize(dev)
    elif dev.type == "mps":
        torch.mps.synchronize()


def measure_capacity(
    device: str | torch.device = "auto",
    spec: ModelSpec | None = None,
    batch_size: int | None = None,
    *,
    duration_s: float = 2.5,
    warmup_s: float | None = None,
    seed: int = 0,
    progress: Callable[[float], None] | None = None,
    threads: int | None = None,
) -> CapacityResult:
    """Train on synthetic data for about ``duration_s`` seconds (after a short warm-up)
    and report samples/s; ``progress`` gets the fraction done (0..1). ``threads`` sets
    torch's CPU threads for the measurement (None: as they are), restored afterwards."""
    import torch

    if not 0 < duration_s <= MAX_DURATION_S:
        raise BadInputError(f"benchmark duration {duration_s} s is not in (0, {MAX_DURATION_S}]")
    if threads is not None and threads < 1:
        raise BadInputError(f"threads must be at least 1, got {threads}")
    old_threads = torch.get_num_threads()
    if threads is not None:
        torch.set_num_threads(threads)
    try:
        return _measure(device, spec, batch_size, duration_s, warmup_s, seed, progress)
    finally:
        if threads is not None:
            torch.set_num_threads(old_threads)


def _measure(
    device: str | torch.device,
    spec: ModelSpec | None,
    batch_size: int | None,
    duration_s: float,
    warmup_s: float | None,
    seed: int,
    progress: Callable[[float], None] | None,
) -> CapacityResult:
    import torch

    spec = spec or digits_mlp()
    if batch_size is not None and batch_size != spec.batch_size:
        spec = spec.with_batch_size(batch_size)
    dev = select_device(device)
    warm = min(duration_s * 0.2, 1.0) if warmup_s is None else warmup_s
    gen = torch.Generator().manual_seed(seed)
    b = spec.batch_size
    pool = max(b * 4, 256)  # a few distinct batches so caches do not flatter the result
    x, y = synthetic_data(spec, pool, gen)  # token ids and targets fit the model's task
    x, y = x.to(dev), y.to(dev)
    model = spec.build(seed).to(dev)
    optimizer = spec.make_optimizer(model.parameters())
    loss_fn = spec.make_loss()
    model.train()
    starts = list(range(0, pool - b + 1, b))

    def run_for(seconds: float, report: bool) -> tuple[int, float]:
        steps = 0
        t0 = time.perf_counter()
        deadline = t0 + seconds
        last = t0
        while True:
            a = starts[steps % len(starts)]
            optimizer.zero_grad(set_to_none=True)
            loss = loss_fn(model(x[a : a + b]), y[a : a + b])
            loss.backward()
            optimizer.step()
            steps += 1
            if steps % 8 == 0 or dev.type == "cpu":
                now = time.perf_counter()
                if now >= deadline:
                    break
                if report and progress is not None and now - last >= 0.1:
                    progress(min(1.0, (now - t0) / seconds))
                    last = now
        _sync(dev)
        return steps, time.perf_counter() - t0

    with spec.seeded_rng(seed, dev):
        if warm > 0:
            run_for(warm, False)
        steps, elapsed = run_for(duration_s, True)
    if progress is not None:
        progress(1.0)
    rate = steps * b / elapsed
    return CapacityResult(
        device=str(dev),
        spec_hash=spec.spec_hash(),
        batch_size=b,
        samples_per_s=rate,
        score=capacity_score(rate),
        steps=steps,
        duration_s=elapsed,
        threads=torch.get_num_threads(),
    )
