"""The simulation's pin tables: one SQLite connection kept open per member, closed at the end.

A member's :class:`~milon_app.store.pins.PinTable` opens a connection for every call (safe
across the threads and processes of a real node; see 339ce6a for why it stays so there).
In a simulated round every judge pins every update it fetches and every author's table is
asked who pins its update (the in-process transport's authorisation): at 1,000 members that
is over 50,000 connections opened and closed a round, a third of the committees' time. The
simulation is one process that closes every member at its end
(:meth:`milon_app.sim.federation.SimFederation.close`), so each member's table keeps one
connection for the run instead. The same SQL runs in the same transactions.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from milon_app.store.pins import PinTable


class KeptPinTable(PinTable):
    """A :class:`PinTable` on one connection, until :meth:`close`."""

    def __init__(self, path: Path) -> None:
        self._con: sqlite3.Connection | None = None
        self._lock = threading.RLock()
        super().__init__(path)

    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            try:
                if self._con is None:
                    self._con = sqlite3.connect(self.path, timeout=30.0, check_same_thread=False)
                with self._con:  # one transaction: committed, or rolled back on an error
                    yield self._con
            except sqlite3.OperationalError as exc:
                raise self._write_error(exc) from exc

    def close(self) -> None:
        with self._lock:
            if self._con is not None:
                self._con.close()
                self._con = None
