"""Aggregation time and memory for every rule on 32 updates of a ~10M-parameter model.

Run: ``python tests/bench/bench_aggregation.py [--clients 32] [--threads 2]``.
Figures are ratios against a baseline measured in the same run: a plain
float32 ``torch.stack(...).mean(0)`` per tensor (not deterministic across
machines, not robust, not chunked). Peak RSS is sampled every 5 ms and shown
above the RSS before each rule ran (the 32 inputs themselves are already
resident: 32 x 40 MB = 1.3 GB).
"""

from __future__ import annotations

import argparse
import resource
import threading
import time
from collections.abc import Callable
from typing import Any

import psutil
import torch

from milon_app.federation import ClientUpdate, FedAvg, Krum, Median, MultiKrum, TrimmedMean

SHAPES = {
    "l1.weight": (2048, 2048),
    "l1.bias": (2048,),
    "l2.weight": (2048, 2048),
    "l2.bias": (2048,),
    "l3.weight": (800, 2048),
    "l3.bias": (800,),
}


class PeakRss:
    """Samples this process's RSS in a thread; ``peak`` is the largest seen."""

    def __init__(self) -> None:
        self._proc = psutil.Process()
        self.start = self.peak = self._proc.memory_info().rss
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, self._proc.memory_info().rss)
            time.sleep(0.005)

    def __enter__(self) -> PeakRss:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, self._proc.memory_info().rss)


def make_updates(n: int, seed: int) -> tuple[dict[str, torch.Tensor], list[ClientUpdate]]:
    gen = torch.Generator().manual_seed(seed)
    glob = {k: torch.randn(s, generator=gen) * 0.02 for k, s in SHAPES.items()}
    updates = []
    for i in range(n):
        state = {k: v + torch.randn(v.shape, generator=gen) * 0.001 for k, v in glob.items()}
        updates.append(ClientUpdate(f"0x{i:040x}", state, 100 + i))
    return glob, updates


def baseline(glob: dict[str, torch.Tensor], updates: list[ClientUpdate]) -> Any:
    return {k: torch.stack([u.state[k] for u in updates]).mean(0) for k in glob}


def measure(fn: Callable[[], Any], repeat: int) -> tuple[float, int]:
    best = float("inf")
    with PeakRss() as rss:
        for _ in range(repeat):
            t0 = time.perf_counter()
            fn()
            best = min(best, time.perf_counter() - t0)
    return best, rss.peak - rss.start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    parser.add_argument("--repeat", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    glob, updates = make_updates(args.clients, seed=0)
    params = sum(v.numel() for v in glob.values())
    f = max(1, (args.clients - 3) // 2 // 4)  # a quarter of what Krum could tolerate
    rules: list[tuple[str, Callable[[], Any]]] = [
        ("baseline stack().mean(0) fp32", lambda: baseline(glob, updates)),
        ("FedAvg", lambda: FedAvg().aggregate(glob, updates)),
        ("Median", lambda: Median().aggregate(glob, updates)),
        ("TrimmedMean beta=0.1", lambda: TrimmedMean(beta=0.1).aggregate(glob, updates)),
        (f"Krum f={f}", lambda: Krum(f=f).aggregate(glob, updates)),
        (f"MultiKrum f={f}", lambda: MultiKrum(f=f).aggregate(glob, updates)),
    ]
    print(
        f"{args.clients} updates x {params / 1e6:.2f}M params (float32), "
        f"torch {torch.__version__}, {args.threads} threads, best of {args.repeat}"
    )
    print(f"{'rule':<32}{'seconds':>10}{'x baseline':>12}{'peak RSS +MB':>14}")
    base_s = None
    for name, fn in rules:
        seconds, extra = measure(fn, args.repeat)
        base_s = base_s or seconds
        print(f"{name:<32}{seconds:>10.3f}{seconds / base_s:>12.1f}{extra / 2**20:>14.0f}")
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"process peak RSS (ru_maxrss): {peak:.0f} MB")


if __name__ == "__main__":
    main()
