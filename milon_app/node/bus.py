"""A thread-safe publish/subscribe bus for typed events.

Publishers are core threads (chain poller, trainer, network); subscribers
must return quickly (the GUI bridge only queues the event for its own
thread). A subscriber that raises is logged and kept: one faulty front-end
must not stop the node.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import TypeVar

from milon_app.node.events import Event

log = logging.getLogger(__name__)
E = TypeVar("E", bound=Event)
Handler = Callable[[Event], None]


class EventBus:
    def __init__(self, history: int = 1_000) -> None:
        self._lock = threading.Lock()
        self._subs: list[tuple[tuple[type[Event], ...], Handler]] = []
        self._history: deque[Event] = deque(maxlen=history)
        self._cond = threading.Condition(self._lock)

    def subscribe(self, handler: Handler, *types: type[Event]) -> Callable[[], None]:
        """Call ``handler`` for events of ``types`` (all when none); returns an unsubscriber."""
        entry = (types or (Event,), handler)
        with self._lock:
            self._subs.append(entry)

        def unsubscribe() -> None:
            with self._lock:
                if entry in self._subs:
                    self._subs.remove(entry)

        return unsubscribe

    def publish(self, event: Event) -> None:
        with self._cond:
            self._history.append(event)
            subs = list(self._subs)
            self._cond.notify_all()
        for types, handler in subs:
            if isinstance(event, types):
                try:
                    handler(event)
                except Exception:
                    log.exception("event subscriber %r failed on %s", handler, event.kind)

    def history(self, *types: type[Event]) -> list[Event]:
        with self._lock:
            items = list(self._history)
        return [e for e in items if not types or isinstance(e, types)]

    def wait_for(
        self,
        kind: type[E],
        predicate: Callable[[E], bool] = lambda _e: True,
        timeout: float = 30.0,
    ) -> E:
        """Block until an event of ``kind`` matching ``predicate`` is (or was) published."""
        end = time.monotonic() + timeout
        checked: set[int] = set()
        with self._cond:
            while True:
                for e in self._history:
                    if id(e) not in checked:
                        checked.add(id(e))
                        if isinstance(e, kind) and predicate(e):
                            return e
                remaining = end - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError(f"no {kind.__name__} event within {timeout}s")
                self._cond.wait(remaining)
