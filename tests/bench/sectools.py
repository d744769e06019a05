"""Small helpers the benchmark sections share: Markdown tables and matplotlib plots (Agg)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any


def table(headers: Sequence[str], rows: Sequence[Sequence[Any]], align: str = "") -> str:
    """A Markdown table; ``align`` holds one of l/r per column (default: first left, rest right)."""
    align = align or "l" + "r" * (len(headers) - 1)
    sep = ["---:" if a == "r" else "---" for a in align]
    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join(sep) + "|"]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def line_plot(
    path: Path,
    title: str,
    xlabel: str,
    ylabel: str,
    series: dict[str, tuple[Sequence[float], Sequence[float]]],
    *,
    hlines: dict[str, float] | None = None,
    logx: bool = False,
    logy: bool = False,
    footer: str = "",
) -> Path:
    """One line per series (with markers), optional labelled horizontal reference lines."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6.4, 4.0), dpi=100)
    for label, (xs, ys) in series.items():
        ax.plot(list(xs), list(ys), marker="o", label=label)
    for label, y in (hlines or {}).items():
        ax.axhline(y, linestyle="--", color="grey", linewidth=1)
        ax.annotate(label, (0.01, y), xycoords=("axes fraction", "data"), fontsize=8,
                    color="grey", va="bottom")
    if logx:
        ax.set_xscale("log", base=2)
        ticks = sorted({float(x) for xs, _ in series.values() for x in xs})
        ax.set_xticks(ticks, [f"{t:g}" for t in ticks])
        ax.minorticks_off()
    if logy:
        ax.set_yscale("log")
    ax.set(title=title, xlabel=xlabel, ylabel=ylabel)
    ax.grid(alpha=0.3)
    if series:
        ax.legend(fontsize=8)
    return _save(fig, plt, path, footer)


def bar_plot(
    path: Path, title: str, ylabel: str, bars: dict[str, float], *,
    hline: tuple[str, float] | None = None, footer: str = "",
) -> Path:
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6.4, 4.0), dpi=100)
    names = list(bars)
    ax.bar(range(len(names)), [bars[n] for n in names], color="#4477aa")
    ax.set_xticks(range(len(names)), names, fontsize=8, rotation=15 if len(names) > 3 else 0)
    if hline is not None:
        ax.axhline(hline[1], linestyle="--", color="#cc3311", linewidth=1, label=hline[0])
        ax.legend(fontsize=8)
    ax.set(title=title, ylabel=ylabel)
    ax.grid(axis="y", alpha=0.3)
    return _save(fig, plt, path, footer)


def _save(fig: Any, plt: Any, path: Path, footer: str) -> Path:
    if footer:
        fig.text(0.01, 0.01, footer, fontsize=6, color="grey")
    fig.tight_layout(rect=(0, 0.03 if footer else 0, 1, 1))
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, format="png")
    plt.close(fig)
    return path


def machine_footer() -> str:
    """The line every plot carries: machine and versions (the report says the command)."""
    import os
    import platform

    from milon_app.compute.hardware import cpu_model_name

    try:
        import torch

        tv = torch.__version__
    except ImportError:
        tv = "-"
    return (f"{cpu_model_name()} x{os.cpu_count()} | {platform.system()} | "
            f"Python {platform.python_version()} | torch {tv}")
