"""Entry point of the frozen ``milon`` / ``milon-gui`` executables (PyInstaller).

The same ``main()`` as the ``milon`` console script: no arguments opens the
window (what a double-click does), ``--daemon`` runs the node headless, any
command runs the CLI. A windowed build (``milon-gui`` on Windows and macOS)
has no stdout/stderr; writes to them must not crash the app, so they go to
the null device there. Nothing heavy is imported here: torch, web3 and Qt load
only when the command needs them, so ``milon --version`` stays fast.
"""

from __future__ import annotations

import os
import sys


def _null_streams() -> None:
    """A windowed executable gets ``None`` for stdout/stderr: give it the null device."""
    for name in ("stdout", "stderr"):
        if getattr(sys, name) is None:
            setattr(sys, name, open(os.devnull, "w", encoding="utf-8"))  # noqa: SIM115


def run() -> int:
    import multiprocessing

    _null_streams()  # first: a spawned child of a windowed build has no streams either
    # the window's simulated federation is a spawned child process: in a frozen executable the
    # child starts this same binary, and freeze_support() makes it run the child's code instead
    multiprocessing.freeze_support()
    from milon_app.cli.main import main

    return main()


if __name__ == "__main__":
    raise SystemExit(run())
