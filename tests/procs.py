"""Stopping a child process the way every test and bench here must: by its PID, politely first."""

from __future__ import annotations

import signal
import subprocess
from typing import Any


def stop_process(proc: subprocess.Popen[Any]) -> int | None:
    """SIGTERM, SIGKILL after 60 s; the exit code, or None if it had to be killed."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            return proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=30)
            return None
    return proc.returncode


def pid_gone(pid: int) -> bool:
    """Whether no process has ``pid`` any more (a stopped child must not linger)."""
    import os

    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False
