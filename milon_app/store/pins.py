"""Which owners (jobs, rounds, the user) still need which blobs.

Kept in SQLite (WAL) rather than a JSON file: the GUI, the daemon and CLI
commands may pin and collect garbage at the same time from different
processes, and SQLite gives each pin/unpin a cross-process transaction and
crash safety for free (stdlib, no lock files); a JSON table would need a
file lock around every read-modify-write.
"""

from __future__ import annotations

import shutil
import sqlite3
import time
from collections.abc import Iterator
from contextlib import closing, contextmanager
from pathlib import Path

from milon_app.errors import BadInputError, MilonError
from milon_app.exit_codes import ExitCode

MAX_OWNER_LEN = 200
_FULL_BELOW = 64 * 1024  # an I/O error with less free space than this is a full disk
_SQLITE_READONLY, _SQLITE_IOERR, _SQLITE_FULL = 8, 10, 13  # sqlite3 names them from 3.11 on


class StoreWriteError(MilonError):
    """The operating system refused a write (disk full, permissions); nothing was stored."""

    exit_code = ExitCode.STORAGE


def check_owner(owner: object) -> str:
    if (
        not isinstance(owner, str)
        or not owner
        or len(owner) > MAX_OWNER_LEN
        or not owner.isprintable()
    ):
        raise BadInputError(
            f"pin owner must be a printable string of 1-{MAX_OWNER_LEN} characters"
            f" such as 'job:3', got {owner!r:.80}"
        )
    return owner


class PinTable:
    """Pins as (digest, owner) rows; a blob is needed while any owner pins it."""

    def __init__(self, path: Path) -> None:
        self.path = path
        with self._connect() as con:
            con.execute("PRAGMA journal_mode=WAL")
            con.execute(
                "CREATE TABLE IF NOT EXISTS pins (digest TEXT NOT NULL, owner TEXT NOT NULL,"
                " created REAL NOT NULL, PRIMARY KEY (digest, owner)) WITHOUT ROWID"
            )
            con.execute("CREATE INDEX IF NOT EXISTS pins_owner ON pins (owner)")

    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        # One short-lived connection per call: safe across threads and processes.
        try:
            with closing(sqlite3.connect(self.path, timeout=30.0)) as con, con:
                yield con
        except sqlite3.OperationalError as exc:
            raise self._write_error(exc) from exc

    def _write_error(self, exc: sqlite3.OperationalError) -> Exception:
        """SQLite's view of a full disk ("database or disk is full", or an I/O error
        while growing its WAL) as the store's own error, so callers exit with code 12."""
        code = getattr(exc, "sqlite_errorcode", 0) & 0xFF
        if code not in (_SQLITE_FULL, _SQLITE_IOERR, _SQLITE_READONLY):
            return exc
        try:
            full = code == _SQLITE_FULL or (
                shutil.disk_usage(self.path.parent).free < _FULL_BELOW
            )
        except OSError:
            full = False
        reason = "disk full" if full else str(exc)
        return StoreWriteError(f"could not update the pin table {self.path}: {reason}")

    def pin(self, digest: str, owner: str) -> bool:
        """Pin ``digest`` for ``owner``; True when the pin is new."""
        check_owner(owner)
        with self._connect() as con:
            cur = con.execute(
                "INSERT OR IGNORE INTO pins (digest, owner, created) VALUES (?, ?, ?)",
                (digest, owner, time.time()),
            )
            return cur.rowcount == 1

    def unpin(self, digest: str, owner: str) -> bool:
        check_owner(owner)
        with self._connect() as con:
            cur = con.execute("DELETE FROM pins WHERE digest = ? AND owner = ?", (digest, owner))
            return cur.rowcount == 1

    def unpin_owner(self, owner: str) -> int:
        """Drop every pin ``owner`` holds (a job finished); returns how many."""
        check_owner(owner)
        with self._connect() as con:
            return con.execute("DELETE FROM pins WHERE owner = ?", (owner,)).rowcount

    def owners(self, digest: str) -> list[str]:
        with self._connect() as con:
            rows = con.execute(
                "SELECT owner FROM pins WHERE digest = ? ORDER BY owner", (digest,)
            ).fetchall()
        return [str(r[0]) for r in rows]

    def digests(self, owner: str) -> list[str]:
        """Every digest ``owner`` pins, sorted."""
        check_owner(owner)
        with self._connect() as con:
            rows = con.execute(
                "SELECT digest FROM pins WHERE owner = ? ORDER BY digest", (owner,)
            ).fetchall()
        return [str(r[0]) for r in rows]

    def pinned(self) -> set[str]:
        with self._connect() as con:
            return {str(r[0]) for r in con.execute("SELECT DISTINCT digest FROM pins")}
