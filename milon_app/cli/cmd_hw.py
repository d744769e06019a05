"""``milon hw``: the devices this node can train on, why others are missing, and its capacity."""

from __future__ import annotations

import argparse
import io
from typing import Any

from milon_app.cli.context import Context
from milon_app.cli.registry import REGISTRY


def _configure(p: argparse.ArgumentParser) -> None:
    p.add_argument("--benchmark", action="store_true", help="measure training samples/s")
    p.add_argument("--device", metavar="D", help="auto, cpu, cuda, cuda:N or mps (default: config)")
    p.add_argument(
        "--model",
        metavar="SPEC",
        default="digits_mlp",
        help="model for the benchmark: digits_mlp, digits_cnn or a JSON spec file",
    )
    p.add_argument("--batch-size", type=int, metavar="N", help="benchmark batch size")
    p.add_argument(
        "--duration",
        type=float,
        default=2.5,
        metavar="S",
        help="timed benchmark seconds, split over 5 runs after a warm-up (default 2.5)",
    )


def _gib(n: int | None) -> str:
    return "-" if n is None else f"{n / (1 << 30):.1f} GiB"


def _render(data: dict[str, Any]) -> str:
    from rich.console import Console
    from rich.table import Table

    hw = data["hardware"]
    buf = io.StringIO()
    console = Console(file=buf, width=110, no_color=True, highlight=False)
    table = Table(title=f"Compute devices (torch {hw['torch_version']})")
    for col in ("device", "kind", "name", "memory", "capability", "driver / runtime", "status"):
        table.add_column(col)
    for d in hw["devices"]:
        cores = ""
        if d["kind"] == "cpu":
            cores = f"{d['cores_physical']}c/{d['cores_logical']}t"
        versions = " / ".join(v for v in (d["driver_version"], d["runtime_version"]) if v)
        status = "usable" if d["available"] else "not usable"
        if d["notes"]:
            status += "; " + "; ".join(d["notes"])
        table.add_row(
            d["torch_device"],
            d["kind"],
            d["name"],
            _gib(d["total_memory_bytes"]),
            d["compute_capability"] or cores or "-",
            versions or "-",
            status,
        )
    console.print(table)
    for note in hw["notes"]:
        console.print(f"  - {note}")
    bench = data.get("benchmark")
    if bench:
        console.print(
            f"\nCapacity on {bench['device']}: {bench['samples_per_s']:,.0f} samples/s "
            f"(batch {bench['batch_size']}, {bench['threads']} threads, "
            f"{bench['duration_s']:.1f} s) -> score {bench['score']}"
        )
        console.print(f"  {_spread_text(bench)}")
        console.print(f"  model spec {bench['spec_hash'][:16]}…")
    return buf.getvalue()


def _spread_text(bench: dict[str, Any]) -> str:
    """How far to trust the score: the median of how many runs, and how far apart they were."""
    rates = bench["rates"]
    return (
        f"median of {len(rates)} timed runs after a warm-up: {min(rates):,.0f} to "
        f"{max(rates):,.0f} samples/s, spread {bench['spread']:.0%} of the median"
    )


@REGISTRY.command(
    "hw",
    summary="show GPUs/CPU found (and why not), optionally benchmark training capacity",
    configure=_configure,
)
def _hw(args: argparse.Namespace, ctx: Context) -> int:
    from milon_app.compute.hardware import detect, select_device

    data: dict[str, Any] = {"hardware": detect().to_dict(), "benchmark": None}
    if args.device:
        data["selected_device"] = str(select_device(args.device))  # HardwareError: exit 10
    if args.benchmark:
        data["benchmark"] = _benchmark(args, ctx)
    ctx.emit(data, _render)
    return 0


def _benchmark(args: argparse.Namespace, ctx: Context) -> dict[str, Any]:
    import torch
    from rich.console import Console
    from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

    from milon_app.compute.benchmark import measure_capacity
    from milon_app.compute.model_spec import resolve_model_spec

    spec = resolve_model_spec(args.model)
    device = args.device or ctx.config.compute.device
    if ctx.config.compute.max_threads > 0:
        torch.set_num_threads(ctx.config.compute.max_threads)
    console = Console(file=ctx.err)
    with Progress(
        TextColumn("benchmark"),
        BarColumn(),
        TimeRemainingColumn(),
        console=console,
        transient=True,
    ) as bar:
        task = bar.add_task("bench", total=1.0)
        result = measure_capacity(
            device,
            spec,
            args.batch_size,
            duration_s=args.duration,
            progress=lambda f: bar.update(task, completed=f),
        )
    return result.to_dict()
