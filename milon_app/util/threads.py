"""Release a resource only once the thread that uses it has ended."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

log = logging.getLogger(__name__)


def after_thread(thread: threading.Thread | None, release: Callable[[], None]) -> None:
    """Call ``release()`` now if ``thread`` is gone (or None), else once it ends: a stop whose
    join timed out never closes a database or a transport under a thread still using it."""
    if thread is None or not thread.is_alive() or thread is threading.current_thread():
        release()
        return
    log.warning("%s is still running: its resources are released when it ends", thread.name)

    def wait_then_release() -> None:
        thread.join()
        release()

    threading.Thread(
        target=wait_then_release, name=f"{thread.name}-release", daemon=True
    ).start()
