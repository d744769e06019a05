"""The registry of ``milon`` commands.

Each CLI command is a :class:`Command`, registered when its ``cmd_*`` module
(:data:`COMMAND_MODULES`) is imported; :mod:`milon_app.cli.main` builds the
argparse tree from the registry. The window and the daemon do not look
commands up here: they call the session and the node core directly. Command
modules keep heavy imports (torch, web3, libp2p) inside their handlers so
``milon --help`` and ``milon --version`` stay fast.
"""

from __future__ import annotations

import argparse
import importlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from milon_app.cli.context import Context

Configure = Callable[[argparse.ArgumentParser], None]
Handler = Callable[[argparse.Namespace, Context], int]


def _no_args(_parser: argparse.ArgumentParser) -> None:
    return None


@dataclass(frozen=True)
class Command:
    """One action: ``path`` is its words on the command line, e.g. ("wallet", "create")."""

    path: tuple[str, ...]
    summary: str
    run: Handler
    configure: Configure = _no_args
    description: str = ""


@dataclass
class Registry:
    commands: dict[tuple[str, ...], Command] = field(default_factory=dict)
    groups: dict[tuple[str, ...], str] = field(default_factory=dict)

    def add(self, cmd: Command) -> Command:
        if cmd.path in self.commands:
            raise ValueError(f"command {' '.join(cmd.path)!r} registered twice")
        self.commands[cmd.path] = cmd
        return cmd

    def group(self, path: tuple[str, ...], summary: str) -> None:
        """Declare a command group such as ``wallet`` with its help line."""
        self.groups[path] = summary

    def command(
        self, *path: str, summary: str, configure: Configure = _no_args, description: str = ""
    ) -> Callable[[Handler], Handler]:
        """Decorator form of :meth:`add`."""

        def wrap(fn: Handler) -> Handler:
            self.add(Command(path, summary, fn, configure, description))
            return fn

        return wrap

    def get(self, *path: str) -> Command:
        return self.commands[tuple(path)]

    def __iter__(self) -> Iterator[Command]:
        return iter(sorted(self.commands.values(), key=lambda c: c.path))


REGISTRY = Registry()

# Modules that register commands on import; a new command module is added here.
COMMAND_MODULES: tuple[str, ...] = (
    "milon_app.cli.cmd_wallet",
    "milon_app.cli.cmd_hw",
    "milon_app.cli.cmd_chain",
    "milon_app.cli.cmd_devchain",
    "milon_app.cli.cmd_demo",
    "milon_app.cli.cmd_status",
    "milon_app.cli.cmd_fed",
    "milon_app.cli.cmd_fed_member",
    "milon_app.cli.cmd_invite",
    "milon_app.cli.cmd_job",
    "milon_app.cli.cmd_job_show",
    "milon_app.cli.cmd_job_wait",
    "milon_app.cli.cmd_job_cancel",
    "milon_app.cli.cmd_gov",
    "milon_app.cli.cmd_gov_params",
    "milon_app.cli.cmd_rewards",
    "milon_app.cli.cmd_sim",
)


def load_commands() -> Registry:
    for name in COMMAND_MODULES:
        importlib.import_module(name)
    return REGISTRY
