"""Benchmark: MILON's trainer vs a bare PyTorch loop, same model/batch/epochs/device/seed.

Run:  python tests/bench/bench_trainer.py [--device cpu|cuda] [--reps 3] [--scale 1.0]
          [--threads N] [--precision fp32|bf16|fp16] [--compile] [--cases mlp32,cnn128,...]
          [--fixed-malloc]

Both sides are timed end to end (model build, training, final state on the
CPU) and reported as samples/s; runs alternate (bare, milon, milon, bare, ...)
and the median of ``--reps`` is taken so machine noise does not decide. The
goal is a ratio milon/bare >= 0.97; the *pairs* column is the range of the
ratios of runs taken back to back, which shows how much the machine's noise
moves a single comparison.

The options ask both sides for the same thing, the way each would do it:
``--precision`` puts the job's precision in the spec, and the bare loop
autocasts to the dtype the trainer uses on this device (the CPU trains in
fp32, so the bare loop does too; fp16 adds a GradScaler); ``--compile``
passes ``compile_model=True`` to the trainer and wraps the bare model in
``torch.compile``. The trainer's own choices stay its own: channels_last for
Conv2d models on CUDA (and on the CPU when the precision is not fp32) and
pinned host memory; the bare loop uses neither, so they show in the ratio.

``--fixed-malloc`` (glibc) fixes malloc's mmap and trim thresholds for the
whole process, both sides alike. By default glibc moves them as blocks are
freed, so a CPU run's activation buffers are returned to the kernel and
faulted in again a varying number of times (0 to ~8,000 page faults per
epoch for the digits CNN), which moves either side by 10-20% from one process
to the next; with the flag that noise is gone and the ratio is the trainer's.
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

CASES = [  # (label, spec factory, batch size, epochs at scale 1); each run ~1 s on the CPU
    ("digits MLP", digits_mlp, 32, 20),
    ("digits MLP", digits_mlp, 512, 200),
    ("digits CNN", digits_cnn, 32, 10),
    ("digits CNN", digits_cnn, 128, 15),
    ("digits CNN", digits_cnn, 512, 15),
]


def case_key(label: str, batch: int) -> str:
    """``mlp32``, ``cnn128``: how --cases names a case."""
    return f"{label.split()[-1].lower()}{batch}"


def bare_amp(spec: ModelSpec, device: torch.device) -> torch.dtype | None:
    """The autocast dtype the trainer uses for this spec on this device (None: fp32), so
    both sides do the same arithmetic. An fp32 spec never asks, so this bench also runs
    against a trainer from before the precision key (the baseline column)."""
    if getattr(spec, "precision", "fp32") == "fp32":
        return None
    from milon_app.compute.trainer import _autocast_dtype

    return _autocast_dtype(spec, device)


def bare_loop(
    spec: ModelSpec,
    x: torch.Tensor,
    y: torch.Tensor,
    epochs: int,
    device: torch.device,
    seed: int,
    amp: torch.dtype | None = None,
    compile_model: bool = False,
) -> dict[str, torch.Tensor]:
    """What a PyTorch user would write: no progress, no checks, no loss bookkeeping;
    autocast (fp16: with a GradScaler) and torch.compile only when asked for."""
    model = spec.build(seed).to(device)
    fwd = torch.compile(model) if compile_model else model
    opt = spec.make_optimizer(model.parameters())
    loss_fn = spec.make_loss()
    scaler = torch.amp.GradScaler(device.type) if amp == torch.float16 else None
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
            with torch.autocast(device.type, dtype=amp, enabled=amp is not None):
                loss = loss_fn(fwd(x[idx]), y[idx])
            if scaler is None:
                loss.backward()
                opt.step()
            else:
                scaler.scale(loss).backward()
                scaler.step(opt)
                scaler.update()
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
    compile_model: bool = False,
) -> dict[str, float]:
    """One case, both sides: samples/s (median wall time) and the ratio milon/bare."""
    n = len(x) * epochs
    amp = bare_amp(spec, device)
    options = {"compile_model": True} if compile_model else {}  # the baseline lacks the key

    def run_bare() -> None:
        bare_loop(spec, x, y, epochs, device, 0, amp, compile_model)
        if device.type == "cuda":
            torch.cuda.synchronize()

    def run_milon() -> None:
        train(spec, None, (x, y), epochs=epochs, device=device, seed=0, **options)

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
    pairs = [bw / mw for (bw, _), (mw, _) in zip(bare, milon)]
    return {
        "samples": n,
        "bare_sps": n / b_wall,
        "milon_sps": n / m_wall,
        "ratio": b_wall / m_wall,
        "cpu_ratio": cpu_ratio,
        "pair_min": min(pairs),
        "pair_max": max(pairs),
    }


def fix_malloc_thresholds() -> None:
    """Stop glibc from adapting its mmap/trim thresholds (see the module docstring)."""
    import ctypes

    libc = ctypes.CDLL("libc.so.6")
    m_trim_threshold, m_mmap_threshold = -1, -3  # from glibc's malloc.h
    if not (
        libc.mallopt(m_mmap_threshold, 256 << 20) and libc.mallopt(m_trim_threshold, 512 << 20)
    ):
        raise SystemExit("mallopt refused the thresholds")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--scale", type=float, default=1.0, help="multiply the epoch counts")
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0: leave default)")
    ap.add_argument("--precision", choices=("fp32", "bf16", "fp16"), default="fp32")
    ap.add_argument("--compile", action="store_true", help="torch.compile on both sides")
    ap.add_argument("--cases", default="", help="comma-separated, e.g. mlp32,cnn128 (all)")
    ap.add_argument("--fixed-malloc", action="store_true", help="glibc: fixed malloc thresholds")
    args = ap.parse_args()
    if args.fixed_malloc:
        fix_malloc_thresholds()
    wanted = {c.strip().lower() for c in args.cases.split(",") if c.strip()}
    known = {case_key(label, batch) for label, _, batch, _ in CASES}
    if wanted - known:
        ap.error(f"unknown case {sorted(wanted - known)[0]!r}; known: {', '.join(sorted(known))}")
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
    print(
        f"precision {args.precision} | compile {'on' if args.compile else 'off'} | malloc "
        f"thresholds {'fixed' if args.fixed_malloc else 'glibc default (adaptive)'}"
    )
    data = load_builtin("digits", seed=0)
    print(
        f"{'model':<12}{'batch':>6}{'epochs':>8}{'bare samples/s':>17}"
        f"{'milon samples/s':>17}{'ratio':>8}{'cpu-time ratio':>16}{'pairs':>14}"
    )
    worst = float("inf")
    for label, factory, batch, epochs_1 in CASES:
        if wanted and case_key(label, batch) not in wanted:
            continue
        spec = factory(batch)
        if args.precision != "fp32":
            spec = ModelSpec.from_dict({**spec.to_dict(), "precision": args.precision})
        d = data.for_model(spec)
        epochs = max(1, round(epochs_1 * args.scale))
        m = measure_case(spec, d.x_train, d.y_train, epochs, device, args.reps, args.compile)
        worst = min(worst, m["ratio"])
        pairs = f"{m['pair_min']:.2f}-{m['pair_max']:.2f}"
        print(
            f"{label:<12}{batch:>6}{epochs:>8}{m['bare_sps']:>17,.0f}{m['milon_sps']:>17,.0f}"
            f"{m['ratio']:>8.3f}{m['cpu_ratio']:>16.3f}{pairs:>14}",
            flush=True,
        )
    print(f"worst ratio {worst:.3f} (goal >= 0.97; ratio = milon samples/s / bare samples/s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
