"""Benchmark: MILON's trainer vs a bare PyTorch loop, same model/batch/epochs/device/seed.

Run:  python tests/bench/bench_trainer.py [--device cpu|cuda] [--reps 3] [--scale 1.0]

Both sides are timed end to end (model build, training, final state on the
CPU) and reported as samples/s; runs alternate (bare, milon, milon, bare, ...)
and the median of ``--reps`` is taken so machine noise does not decide. The
goal is a ratio milon/bare >= 0.97.
"""

from __future__ import annotations

import argparse
import platform
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from milon_app.compute.datasets import load_builtin
from milon_app.compute.hardware import cpu_model_name, select_device
from milon_app.compute.model_spec import ModelSpec, digits_cnn, digits_mlp
from milon_app.compute.trainer import train

CASES = [  # (label, spec factory, batch size, epochs at scale 1)
    ("digits MLP", digits_mlp, 32, 20),
    ("digits MLP", digits_mlp, 512, 200),
    ("digits CNN", digits_cnn, 128, 15),
]


def bare_loop(
    spec: ModelSpec, x: torch.Tensor, y: torch.Tensor, epochs: int, device: torch.device, seed: int
) -> dict[str, torch.Tensor]:
    """What a PyTorch user would write: no progress, no checks, no loss bookkeeping."""
    model = spec.build(seed).to(device)
    opt = spec.make_optimizer(model.parameters())
    loss_fn = spec.make_loss()
    x, y = x.to(device), y.to(device)
    gen = torch.Generator().manual_seed(seed)
    n, b = len(x), spec.batch_size
    model.train()
    torch.manual_seed(seed)
    for _ in range(epochs):
        perm = torch.randperm(n, generator=gen).to(device)
        for i in range(0, n, b):
            idx = perm[i : i + b]
            opt.zero_grad(set_to_none=True)
            loss = loss_fn(model(x[idx]), y[idx])
            loss.backward()
            opt.step()
    return {k: v.detach().cpu() for k, v in model.state_dict().items()}


def timed(fn) -> tuple[float, float]:  # type: ignore[no-untyped-def]
    """(wall seconds, process CPU seconds): on a busy shared machine the CPU time of a
    one-thread CPU run is the steadier measure of the work done."""
    t, c = time.perf_counter(), time.process_time()
    fn()
    return time.perf_counter() - t, time.process_time() - c


def measure_case(
    spec: ModelSpec,
    x: torch.Tensor,
    y: torch.Tensor,
    epochs: int,
    device: torch.device,
    reps: int,
) -> dict[str, float]:
    """One case, both sides: samples/s (median wall time) and the ratio milon/bare."""
    n = len(x) * epochs

    def run_bare() -> None:
        bare_loop(spec, x, y, epochs, device, 0)
        if device.type == "cuda":
            torch.cuda.synchronize()

    def run_milon() -> None:
        train(spec, None, (x, y), epochs=epochs, device=device, seed=0)

    run_bare(), run_milon()  # warm-up: allocator, kernels, caches
    bare: list[tuple[float, float]] = []
    milon: list[tuple[float, float]] = []
    for rep in range(reps):
        order = [(run_bare, bare), (run_milon, milon)]
        for fn, out in order if rep % 2 == 0 else order[::-1]:
            out.append(timed(fn))
    b_wall = statistics.median(w for w, _ in bare)
    m_wall = statistics.median(w for w, _ in milon)
    cpu_ratio = statistics.median(c for _, c in bare) / statistics.median(c for _, c in milon)
    return {
        "samples": n,
        "bare_sps": n / b_wall,
        "milon_sps": n / m_wall,
        "ratio": b_wall / m_wall,
        "cpu_ratio": cpu_ratio,
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--scale", type=float, default=1.0, help="multiply the epoch counts")
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0: leave default)")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    device = select_device(args.device)
    threads = torch.get_num_threads()
    dev_name = torch.cuda.get_device_name(device) if device.type == "cuda" else cpu_model_name()
    print(
        f"machine: {platform.platform()} | cpu: {cpu_model_name()} | python "
        f"{platform.python_version()} | torch {torch.__version__} | threads {threads}"
    )
    print(f"device: {device} ({dev_name}) | reps {args.reps} (median, alternating order)")
    data = load_builtin("digits", seed=0)
    print(
        f"{'model':<12}{'batch':>6}{'epochs':>8}{'bare samples/s':>17}"
        f"{'milon samples/s':>17}{'ratio':>8}{'cpu-time ratio':>16}"
    )
    worst = float("inf")
    for label, factory, batch, epochs_1 in CASES:
        spec = factory(batch)
        d = data.for_model(spec)
        epochs = max(1, round(epochs_1 * args.scale))
        m = measure_case(spec, d.x_train, d.y_train, epochs, device, args.reps)
        worst = min(worst, m["ratio"])
        print(
            f"{label:<12}{batch:>6}{epochs:>8}{m['bare_sps']:>17,.0f}{m['milon_sps']:>17,.0f}"
            f"{m['ratio']:>8.3f}{m['cpu_ratio']:>16.3f}"
        )
    print(f"worst ratio {worst:.3f} (goal >= 0.97; ratio = milon samples/s / bare samples/s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
