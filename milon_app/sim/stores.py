"""The simulation's pin tables: one SQLite connection kept open per member, closed at the end.

A member's :class:`~milon_app.store.pins.PinTable` opens a connection for every call (safe
across the threads and processes of a real node; see 339ce6a for why it stays so there).
In a simulated round every judge pins every update it fetches and every author's table is
asked who pins its update (the in-process transport's authorisation): at 1,000 members that
is over 50,000 connections opened and closed a round, a third of the committees' time. The
simulation is one process that closes every member at its end
(:meth:`milon_app.sim.federation.SimFederation.close`), so each member's table keeps one
connection for the run instead (at most :data:`OPEN_MAX` at a time, each with a rollback
journal: one file descriptor). The same SQL runs in the same transactions.
"""

from __future__ import annotations

import sqlite3
import threading
from collections import OrderedDict
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from milon_app.store.pins import PinTable

# Tables with an open connection, least recently used first; the oldest is closed (and
# reopened on its next use) beyond this many. A kept connection uses a rollback journal
# instead of WAL: one file descriptor instead of three (database, WAL, shared memory), so
# 4,000 members' tables fit beside their state DBs' three each under a 20,000 limit.
OPEN_MAX = 4_096
_open: OrderedDict[int, KeptPinTable] = OrderedDict()
_lock = threading.RLock()  # one for every table: the simulation drives them from one thread


class KeptPinTable(PinTable):
    """A :class:`PinTable` on one connection, until :meth:`close` (or until
    :data:`OPEN_MAX` tables used more recently have theirs open)."""

    def __init__(self, path: Path) -> None:
        self._con: sqlite3.Connection | None = None
        super().__init__(path)  # which sets WAL: a rollback journal from here on
        with self._connect() as con:
            con.execute("PRAGMA journal_mode=DELETE")

    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        with _lock:
            try:
                if self._con is None:
                    self._con = sqlite3.connect(self.path, timeout=30.0, check_same_thread=False)
                    self._con.execute("PRAGMA journal_mode=DELETE")
                    while len(_open) >= OPEN_MAX:
                        _open.popitem(last=False)[1].close()
                _open[id(self)] = self
                _open.move_to_end(id(self))
                with self._con:  # one transaction: committed, or rolled back on an error
                    yield self._con
            except sqlite3.OperationalError as exc:
                raise self._write_error(exc) from exc

    def close(self) -> None:
        with _lock:
            _open.pop(id(self), None)
            if self._con is not None:
                self._con.close()
                self._con = None
