"""Capacity benchmark: training samples/s of a model at a batch size on one device.

The score a node registers on chain is only meaningful for the model and
batch size it was measured with (a GPU is launch-bound and can lose to a CPU
at batch 32), so callers pass the job's spec when they have one; the default
is the digits MLP at its batch size. Data is synthetic: throughput does not
depend on the values.

One timed run is one noisy number: a first run pays for lazy initialisation,
and another process taking the CPU for a moment can cut it tenfold. So the
benchmark warms up untimed, then times ``repeats`` short runs and reports their
median (what a disturbed minority of runs cannot move) and their spread.
"""

from __future__ import annotations

import statistics
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
# Five timed runs: the median of five ignores up to two disturbed ones, and each run of the
# default 2.5 s still lasts 0.5 s (hundreds of steps of a small model on a laptop CPU).
REPEATS = 5
MAX_REPEATS = 50
# The untimed warm-up: a fifth of the timed length, at most 1 s (allocator growth, kernel
# choice and lazy initialisation happen in the first steps); the whole call stays within
# 1.2 x duration_s plus a step per run.
WARMUP_FRACTION = 0.2
MAX_WARMUP_S = 1.0

Clock = Callable[[], float]


@dataclass(frozen=True)
class CapacityResult:
    device: str
    spec_hash: str
    batch_size: int
    samples_per_s: float  # the median of the timed runs' rates
    score: int  # what a node registers on chain: round(samples/s), at least 1
    steps: int  # of all timed runs together
    duration_s: float  # of all timed runs together
    threads: int
    rates: tuple[float, ...] = ()  # samples/s of each timed run, in order
    spread: float = 0.0  # (fastest - slowest run) / median: 0.1 is +-5 % around the median

    @property
    def repeats(self) -> int:
        return len(self.rates)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["rates"] = list(self.rates)
        d["repeats"] = self.repeats
        return d


def capacity_score(samples_per_s: float) -> int:
    return max(1, round(samples_per_s))


def summarize(rates: list[float]) -> tuple[float, float]:
    """(median, relative spread) of the runs' rates: the median is the capacity, the spread
    says how far to trust it."""
    if not rates:
        raise BadInputError("no timed benchmark runs to summarize")
    mid = statistics.median(rates)
    return mid, (max(rates) - min(rates)) / mid if mid > 0 else 0.0


def _sync(dev: torch.device) -> None:
    import torch

    if dev.type == "cuda":
        torch.cuda.synchronize(dev)
    elif dev.type == "mps":
        torch.mps.synchronize()


@dataclass(frozen=True)
class _Timing:
    """How long to measure: ``duration_s`` of timed runs split over ``repeats`` runs."""

    duration_s: float
    warmup_s: float
    repeats: int
    clock: Clock


def measure_capacity(
    device: str | torch.device = "auto",
    spec: ModelSpec | None = None,
    batch_size: int | None = None,
    *,
    duration_s: float = 2.5,
    warmup_s: float | None = None,
    repeats: int = REPEATS,
    seed: int = 0,
    progress: Callable[[float], None] | None = None,
    threads: int | None = None,
    clock: Clock = time.perf_counter,
) -> CapacityResult:
    """Train on synthetic data for a warm-up, then ``repeats`` runs of ``duration_s /
    repeats`` seconds each, and report the median samples/s; ``progress`` gets the fraction
    done (0..1). ``threads`` sets torch's CPU threads for the measurement (None: as they
    are), restored afterwards. ``clock`` is the timer (tests pass a fake one)."""
    import torch

    if not 0 < duration_s <= MAX_DURATION_S:
        raise BadInputError(f"benchmark duration {duration_s} s is not in (0, {MAX_DURATION_S}]")
    if not 1 <= repeats <= MAX_REPEATS:
        raise BadInputError(f"benchmark repeats must be 1..{MAX_REPEATS}, got {repeats}")
    if threads is not None and threads < 1:
        raise BadInputError(f"threads must be at least 1, got {threads}")
    warm = min(duration_s * WARMUP_FRACTION, MAX_WARMUP_S) if warmup_s is None else warmup_s
    timing = _Timing(duration_s, warm, repeats, clock)
    old_threads = torch.get_num_threads()
    if threads is not None:
        torch.set_num_threads(threads)
    try:
        return _measure(device, spec, batch_size, timing, seed, progress)
    finally:
        if threads is not None:
            torch.set_num_threads(old_threads)


class _Steps:
    """Training steps of one model on a pool of synthetic batches, timed by a clock."""

    def __init__(self, spec: ModelSpec, dev: torch.device, seed: int, clock: Clock) -> None:
        import torch

        gen = torch.Generator().manual_seed(seed)
        self.b, self.dev, self.clock = spec.batch_size, dev, clock
        pool = max(self.b * 4, 256)  # a few distinct batches so caches do not flatter the result
        x, y = synthetic_data(spec, pool, gen)  # token ids and targets fit the model's task
        self.x, self.y = x.to(dev), y.to(dev)
        self.model = spec.build(seed).to(dev)
        self.optimizer = spec.make_optimizer(self.model.parameters())
        self.loss_fn = spec.make_loss()
        self.model.train()
        self.starts = list(range(0, pool - self.b + 1, self.b))
        self.done = 0

    def step(self) -> None:
        a, b = self.starts[self.done % len(self.starts)], self.b
        self.optimizer.zero_grad(set_to_none=True)
        loss = self.loss_fn(self.model(self.x[a : a + b]), self.y[a : a + b])
        loss.backward()
        self.optimizer.step()
        self.done += 1

    def run_for(self, seconds: float, report: Callable[[float], None] | None) -> tuple[int, float]:
        """Step for at least ``seconds`` (one step at least); (steps, elapsed seconds).
        An accelerator is synchronised only every 8 steps, not to stall its queue."""
        steps, t0 = 0, self.clock()
        last = t0
        while True:
            self.step()
            steps += 1
            if steps % 8 == 0 or self.dev.type == "cpu":
                now = self.clock()
                if now - t0 >= seconds:
                    break
                if report is not None and now - last >= 0.1:
                    report(min(1.0, (now - t0) / seconds))
                    last = now
        _sync(self.dev)
        return steps, self.clock() - t0


def _measure(
    device: str | torch.device,
    spec: ModelSpec | None,
    batch_size: int | None,
    timing: _Timing,
    seed: int,
    progress: Callable[[float], None] | None,
) -> CapacityResult:
    import torch

    spec = spec or digits_mlp()
    if batch_size is not None and batch_size != spec.batch_size:
        spec = spec.with_batch_size(batch_size)
    dev = select_device(device)
    runner = _Steps(spec, dev, seed, timing.clock)
    each = timing.duration_s / timing.repeats
    rates: list[float] = []
    steps = 0
    elapsed = 0.0
    with spec.seeded_rng(seed, dev):
        if timing.warmup_s > 0:
            runner.run_for(timing.warmup_s, None)
        for i in range(timing.repeats):
            report = None if progress is None else _part(progress, i, timing.repeats)
            n, t = runner.run_for(each, report)
            rates.append(n * spec.batch_size / t if t > 0 else 0.0)
            steps, elapsed = steps + n, elapsed + t
    if progress is not None:
        progress(1.0)
    median, spread = summarize(rates)
    return CapacityResult(
        device=str(dev),
        spec_hash=spec.spec_hash(),
        batch_size=spec.batch_size,
        samples_per_s=median,
        score=capacity_score(median),
        steps=steps,
        duration_s=elapsed,
        threads=torch.get_num_threads(),
        rates=tuple(rates),
        spread=spread,
    )


def _part(progress: Callable[[float], None], i: int, n: int) -> Callable[[float], None]:
    """Run ``i`` of ``n``'s own fraction as a fraction of the whole measurement."""
    return lambda f: progress((i + f) / n)
