"""The one progress bar long commands draw on stderr (stdout keeps the result)."""

from __future__ import annotations

import sys
from typing import Any


def stderr_progress(*, disable: bool = False) -> Any:
    """A transient rich ``Progress``: description, bar, done/total, elapsed time."""
    from rich.console import Console
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total}"),
        TimeElapsedColumn(),
        transient=True,
        console=Console(file=sys.stderr),
        disable=disable,
    )
