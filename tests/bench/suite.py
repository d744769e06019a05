"""The benchmark suite's shared types: what every section gets and what it hands back.

Each section lives in ``tests/bench/sec_<name>.py`` and exposes
``run(ctx: BenchContext) -> SectionResult``. The runner (``tests/bench/report.py``)
calls the sections in order, records the machine and versions once, and writes
``docs/benchmarks.md`` with the sections' tables and PNG plots. Quick mode only
proves each section still runs end to end (tiny sizes, figures not meaningful).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass
class BenchContext:
    quick: bool  # tiny sizes: proves the code path, not the figures
    out_dir: Path  # where a section writes its PNG plots (docs/benchmarks/ for the report)
    work_dir: Path  # scratch space, removed by the runner
    repo_root: Path
    python: str  # the interpreter that runs MILON's code in child processes


@dataclass
class SectionResult:
    key: str  # "trainer", "e2e", ..., "verdicts", "privacy": report.SECTIONS
    title: str
    command: str  # the command that reproduces exactly this section's figures
    markdown: str  # tables and prose; plots are referenced as ![..](benchmarks/<file>.png)
    data: dict[str, Any] = field(default_factory=dict)  # raw figures, saved as JSON beside the report
    headline: list[str] = field(default_factory=list)  # one-line figures for the README
    plots: list[Path] = field(default_factory=list)
    device: str = "cpu"  # which device the figures come from
