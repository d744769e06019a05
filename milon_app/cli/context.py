"""What a command handler gets besides its arguments."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any, TextIO

from milon_app.config import Config, Paths, load_config


@dataclass
class Context:
    paths: Paths
    json_output: bool = False
    out: TextIO = field(default_factory=lambda: sys.stdout)
    err: TextIO = field(default_factory=lambda: sys.stderr)
    interactive: bool = field(default_factory=lambda: sys.stdin.isatty())
    config_path: Path | None = None  # --config FILE; else the settings file under the home

    @cached_property
    def config(self) -> Config:
        if self.config_path is not None:
            return load_config(self.config_path, missing_ok=False)
        return load_config(self.paths.config_file)

    def emit(self, data: Any, human: Callable[[Any], str] | None = None) -> None:
        """Print ``data`` as JSON with ``--json``, else through ``human`` (or as JSON).

        Flushed at once: a long-running command (``milon devnet``) writes into a pipe
        whose reader waits for it, and a frozen bundle ignores PYTHONUNBUFFERED."""
        if self.json_output or human is None:
            self.out.write(json.dumps(data, indent=2, sort_keys=True, default=str) + "\n")
        else:
            self.out.write(human(data).rstrip("\n") + "\n")
        self.out.flush()

    def info(self, msg: str) -> None:
        """Progress and notes go to stderr so stdout stays machine-readable."""
        self.err.write(msg.rstrip("\n") + "\n")

    @property
    def data_dir(self) -> Path:
        return self.paths.data_dir
