"""What a command handler gets besides its arguments."""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any, TextIO

from milon_app.config import Config, Paths, load_config, unused_settings

log = logging.getLogger(__name__)


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
        """``--config FILE`` (it must exist), else the settings file under the home; ``-v``
        says which, and a setting the rest of the file makes unused is warned about."""
        path = self.config_path if self.config_path is not None else self.paths.config_file
        cfg = load_config(path, missing_ok=self.config_path is None)
        absent = "" if self.config_path is not None or path.exists() else " (absent: defaults)"
        log.info("config %s%s", path, absent)
        for problem in unused_settings(cfg):
            self.err.write(f"milon: warning: {path}: {problem}\n")
        return cfg

    def reload_config(self) -> None:
        """Forget the loaded config: a command that rewrote the file reads it again."""
        self.__dict__.pop("config", None)

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
        """The config's ``node.data_dir`` when it sets one, else the platform (or --home) data
        folder: the same folder ``milon --daemon`` uses for this config, so a wallet made by
        ``milon --config node.toml wallet create`` is the one that daemon unlocks."""
        configured = self.config.node.data_dir
        return Path(configured).expanduser() if configured else self.paths.data_dir
