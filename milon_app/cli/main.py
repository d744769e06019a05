"""``milon`` entry point: argparse from the command registry, errors mapped to exit codes.

With no command (and no ``--json``) it opens the desktop app.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import sys
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from milon_app import __version__, logsetup
from milon_app.cli.context import Context
from milon_app.cli.registry import Command, Registry, load_commands
from milon_app.config import Paths
from milon_app.errors import MilonError
from milon_app.exit_codes import DESCRIPTIONS, ExitCode

log = logging.getLogger("milon")


def _epilog() -> str:
    lines = ["exit codes:"]
    lines += [f"  {int(code):>3}  {DESCRIPTIONS[code]}" for code in ExitCode]
    return "\n".join(lines)


# Global options: accepted before the command (``milon --json hw``) and after it
# (``milon hw --json``) with the same meaning. After the command they land in their own
# ``_after_*`` names (so a subparser's defaults never reset what was given before it) and
# :func:`merge_global_options` folds them into ``json``, ``verbose``, ``home`` and ``config``.
GLOBAL_OPTIONS = ("json", "verbose", "home", "config")


def _add_global_options(p: argparse._ActionsContainer, *, after: bool) -> None:
    def extra(name: str, default: Any = None) -> dict[str, Any]:
        if after:
            return {"dest": f"_after_{name}", "default": argparse.SUPPRESS}
        return {"default": default}

    p.add_argument(
        "--home",
        metavar="DIR",
        help="keep config and data under DIR (default: platform folders)",
        **extra("home"),
    )
    p.add_argument(
        "--json", action="store_true", help="print machine-readable JSON", **extra("json", False)
    )
    p.add_argument(
        "-v",
        "--verbose",
        action="count",
        help="more log output (-vv: everything, libraries included)",
        **extra("verbose", 0),
    )
    p.add_argument(
        "--config",
        type=Path,
        metavar="FILE",
        help="config file (.toml or .json)",
        **extra("config"),
    )


def merge_global_options(args: argparse.Namespace) -> argparse.Namespace:
    """Fold the global options given after the command into the ones before it: ``--json``
    either place, ``-v`` counted over both, ``--home``/``--config`` the last one given."""
    after = {name: getattr(args, f"_after_{name}", None) for name in GLOBAL_OPTIONS}
    args.json = bool(args.json or after["json"])
    args.verbose = int(args.verbose or 0) + int(after["verbose"] or 0)
    for name in ("home", "config"):
        if after[name] is not None:
            setattr(args, name, after[name])
    for name in GLOBAL_OPTIONS:
        if hasattr(args, f"_after_{name}"):
            delattr(args, f"_after_{name}")
    return args


def build_parser(registry: Registry) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="milon",
        description="MILON node: federated, blockchain-governed model training.",
        epilog=_epilog(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"milon {__version__}")
    _add_global_options(parser, after=False)
    parser.add_argument(
        "--daemon", action="store_true", help="run the node headless (one JSON log line per event)"
    )
    subparsers: dict[tuple[str, ...], argparse._SubParsersAction[argparse.ArgumentParser]] = {}
    parsers: dict[tuple[str, ...], argparse.ArgumentParser] = {(): parser}
    globals_group = "global options (also accepted before the command)"

    def sub_of(path: tuple[str, ...]) -> argparse._SubParsersAction[argparse.ArgumentParser]:
        if path not in subparsers:
            owner = parser_of(path)
            subparsers[path] = owner.add_subparsers(title="commands", metavar="COMMAND")
        return subparsers[path]

    def parser_of(path: tuple[str, ...]) -> argparse.ArgumentParser:
        if path not in parsers:
            parent = sub_of(path[:-1])
            summary = registry.groups.get(path, "")
            p = parent.add_parser(path[-1], help=summary, description=summary)
            _add_global_options(p.add_argument_group(globals_group), after=True)
            p.set_defaults(_group=p)
            parsers[path] = p
        return parsers[path]

    for cmd in registry:
        parent = sub_of(cmd.path[:-1])
        p = parent.add_parser(
            cmd.path[-1], help=cmd.summary, description=cmd.description or cmd.summary
        )
        cmd.configure(p)
        _add_global_options(p.add_argument_group(globals_group), after=True)
        p.set_defaults(_command=cmd)
        parsers[cmd.path] = p
    return parser


def _quiet_third_party_warnings() -> None:
    """web3 imports websockets' legacy module, which warns once on import; users cannot act
    on it. A filter is not enough: eth_tester resets the filters when it is imported."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        with contextlib.suppress(ImportError):
            import websockets.legacy  # noqa: F401


def main(argv: Sequence[str] | None = None) -> int:
    _quiet_third_party_warnings()
    args_list = list(sys.argv[1:] if argv is None else argv)
    registry = load_commands()
    parser = build_parser(registry)
    args = merge_global_options(parser.parse_args(args_list))
    # quiet by default: a command prints its result; -v shows the log (see logsetup)
    logsetup.configure(args.verbose, json_lines=args.daemon)
    command: Command | None = getattr(args, "_command", None)
    if args.daemon:
        return _run_daemon(args)
    if command is None:
        group = getattr(args, "_group", None)
        if group is None and not args.json:
            if args.config:  # the window keeps its settings where its settings screen saves them
                print(
                    "milon: error: --config is for commands and --daemon; the window reads and "
                    f"saves {Paths.default(args.home).config_file} (use --home DIR for another)",
                    file=sys.stderr,
                )
                return int(ExitCode.USAGE)
            return _run_gui(args)
        (group or parser).print_help()
        return int(ExitCode.USAGE) if group is not None or args_list else int(ExitCode.OK)
    ctx = Context(paths=Paths.default(args.home), json_output=args.json, config_path=args.config)
    try:
        return int(command.run(args, ctx))
    except MilonError as exc:
        print(f"milon: error: {exc}", file=sys.stderr)
        return int(exc.exit_code)
    except KeyboardInterrupt:
        print("milon: interrupted", file=sys.stderr)
        return int(ExitCode.INTERRUPTED)


def _run_gui(args: argparse.Namespace) -> int:
    """``milon`` alone opens the desktop app; Qt is imported only here."""
    from milon_app.gui.app import run_app

    return run_app(Path(args.home) if args.home else None)


def _run_daemon(args: argparse.Namespace) -> int:
    from milon_app.daemon.runner import run_daemon

    paths = Paths.default(args.home)
    try:
        return run_daemon(args.config, paths.data_dir, paths.config_file)
    except MilonError as exc:  # a JSON line like the rest of the daemon's stderr
        log.error("milon: error: %s", exc)
        return int(exc.exit_code)
    except Exception:  # a bug: its traceback is one JSON line's field, not 40 raw lines
        log.exception("milon: the daemon stopped on an unexpected error")
        return int(ExitCode.FAILURE)
