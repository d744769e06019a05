"""Where log records go: the one logging setup of the CLI, the window and the daemon.

By default a command prints its result and nothing else: MILON's own records
reach the terminal only when they are errors, and libraries' records
(py-libp2p's "Failed to open TCP stream …", web3's retries) are chatter that
is shown, at debug level, only with ``-v``. ``-vv`` shows every record.

The daemon writes one JSON object per line on stderr (its events and its log
records alike), so its log records, Python warnings and uncaught thread
errors are JSON lines too; its own warnings are kept by default (a service log
is read later), library chatter again only with ``-v``.

py-libp2p configures its ``libp2p`` logger when it is imported (no handler,
not propagating: its errors then reach stderr raw through logging's
last-resort handler). :func:`adopt_libp2p_logger` undoes that after the
import and routes the records here; with ``LIBP2P_DEBUG`` set the library's
own logging stays as asked.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import threading
from dataclasses import dataclass
from typing import Any, TextIO

OWN_LOGGERS = ("milon", "milon_app")
LIBP2P = "libp2p"
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


@dataclass
class _State:
    verbose: int = 0
    configured: bool = False
    handler: logging.Handler | None = None


_state = _State()


def is_own(name: str) -> bool:
    return any(name == own or name.startswith(own + ".") for own in OWN_LOGGERS)


class Verbosity(logging.Filter):
    """What a handler shows at a verbosity: MILON's records from ``own_level`` (INFO with -v),
    libraries' WARNING-and-above records only with -v and then marked DEBUG (they are
    chatter), everything with -vv."""

    def __init__(self, verbose: int, own_level: int) -> None:
        super().__init__()
        self.verbose = verbose
        self.own_level = own_level

    def filter(self, record: logging.LogRecord) -> bool:
        if self.verbose >= 2:
            return True
        if is_own(record.name):
            return record.levelno >= (logging.INFO if self.verbose else self.own_level)
        if self.verbose == 0 or record.levelno < logging.WARNING:
            return False
        record.levelno, record.levelname = logging.DEBUG, "DEBUG"
        return True


class JsonLines(logging.Formatter):
    """One JSON object per record, on one line (a traceback is a field, not 40 lines)."""

    def format(self, record: logging.LogRecord) -> str:
        data: dict[str, Any] = {
            "ts": round(record.created, 3),
            "event": "Log",
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info:
            data["traceback"] = self.formatException(record.exc_info)
        return json.dumps(data, default=str)


class _Stderr(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to whatever ``sys.stderr`` is when a record comes (tests swap it)."""

    def emit(self, record: logging.LogRecord) -> None:
        self.stream = sys.stderr
        super().emit(record)


def verbosity() -> int:
    """The ``-v`` count this process was configured with (a child process copies it)."""
    return _state.verbose


def configure(verbose: int = 0, *, json_lines: bool = False, stream: TextIO | None = None) -> None:
    """Install the one stderr handler on the root logger (replacing the one installed before).

    ``json_lines``: the daemon's form; MILON's warnings are kept by default. Otherwise (the CLI
    and the window) only MILON's errors are shown by default."""
    root = logging.getLogger()
    if _state.handler is not None:
        root.removeHandler(_state.handler)
    handler = logging.StreamHandler(stream) if stream is not None else _Stderr(sys.stderr)
    own_level = logging.WARNING if json_lines else logging.ERROR
    handler.addFilter(Verbosity(verbose, own_level))
    handler.setFormatter(JsonLines() if json_lines else logging.Formatter(TEXT_FORMAT))
    root.addHandler(handler)
    root.setLevel(logging.DEBUG if verbose >= 2 else logging.INFO if verbose else logging.WARNING)
    _state.verbose, _state.configured, _state.handler = verbose, True, handler
    if json_lines:
        _capture_stray_output()
    adopt_libp2p_logger()


def _capture_stray_output() -> None:
    """Python warnings and errors escaping a thread become log records (JSON lines) instead of
    raw text on stderr."""
    logging.captureWarnings(True)
    thread_log = logging.getLogger("milon_app.threads")

    def hook(args: threading.ExceptHookArgs) -> None:
        if args.exc_type is SystemExit:
            return
        name = args.thread.name if args.thread is not None else "?"
        thread_log.error(
            "thread %s ended with an error",
            name,
            exc_info=(args.exc_type, args.exc_value, args.exc_traceback),  # type: ignore[arg-type]
        )

    threading.excepthook = hook


def adopt_libp2p_logger() -> None:
    """Route py-libp2p's records through the handler above (call after importing libp2p: its
    import resets its logger). Before :func:`configure` (a test, an embedding program) they
    are dropped instead of reaching stderr raw."""
    if LIBP2P not in sys.modules:
        return  # not imported yet: its import resets the logger; host.py calls this after
    lib = logging.getLogger(LIBP2P)
    if os.environ.get("LIBP2P_DEBUG"):
        return  # the library's own logging, as its user asked
    lib.handlers.clear()
    if _state.configured:
        lib.propagate = True
        lib.setLevel(logging.DEBUG if _state.verbose >= 2 else logging.WARNING)
    else:
        lib.propagate = False
        lib.addHandler(logging.NullHandler())  # the last-resort handler stays unused
