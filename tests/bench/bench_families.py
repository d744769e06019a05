"""Benchmark: the trainer vs a bare PyTorch loop on the new model families.

Run:  python tests/bench/bench_families.py [--device cpu|cuda] [--reps 3] [--threads 1]
                                           [--fixed-malloc] [--samples 256]

The same comparison as ``bench_trainer.py`` (it reuses its bare loop and its
alternating, median-of-reps measurement) on resnet8-cifar, resnet18-cifar and
text-transformer, at batch 32 and 128, on synthetic data of each model's input
shape (throughput does not depend on the values). Prints samples/s of both sides
and the ratio milon/bare (goal >= 0.97).
"""

from __future__ import annotations

import argparse
import platform
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_trainer import fix_malloc_thresholds, measure_case

from milon_app.compute.builtin_models import (
    resnet8_cifar,
    resnet18_cifar,
    text_transformer,
)
from milon_app.compute.hardware import cpu_model_name, select_device
from milon_app.compute.tasks import synthetic_data

FAMILIES = [("resnet8-cifar", resnet8_cifar), ("resnet18-cifar", resnet18_cifar),
            ("text-transformer", text_transformer)]  # fmt: skip


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--threads", type=int, default=0)
    ap.add_argument("--samples", type=int, default=256, help="training samples per run")
    ap.add_argument("--batches", default="32,128")
    ap.add_argument("--fixed-malloc", action="store_true")
    args = ap.parse_args()
    if args.fixed_malloc:
        fix_malloc_thresholds()
    if args.threads:
        torch.set_num_threads(args.threads)
    device = select_device(args.device)
    print(f"machine: {platform.platform()} | cpu: {cpu_model_name()} | torch {torch.__version__}"
          f" | threads {torch.get_num_threads()} | device {device} | reps {args.reps}")  # fmt: skip
    print(f"{'model':<18}{'params':>12}{'batch':>6}{'bare samples/s':>16}{'milon samples/s':>17}"
          f"{'ratio':>8}{'cpu-time ratio':>16}")  # fmt: skip
    worst = float("inf")
    for name, factory in FAMILIES:
        for batch in (int(b) for b in args.batches.split(",")):
            spec = factory(batch)  # type: ignore[operator]
            x, y = synthetic_data(spec, args.samples, torch.Generator().manual_seed(0))
            m = measure_case(spec, x, y, 1, device, args.reps)
            worst = min(worst, m["ratio"])
            print(f"{name:<18}{spec.param_count():>12,}{batch:>6}{m['bare_sps']:>16,.1f}"
                  f"{m['milon_sps']:>17,.1f}{m['ratio']:>8.3f}{m['cpu_ratio']:>16.3f}",
                  flush=True)  # fmt: skip
    print(f"worst ratio {worst:.3f} (goal >= 0.97)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
