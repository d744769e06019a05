"""The simulation's pin table: the same answers as the ordinary one, on one connection."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from milon_app.sim import stores
from milon_app.sim.stores import KeptPinTable
from milon_app.store.pins import PinTable


def test_kept_table_answers_like_the_ordinary_one_on_one_connection(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    opened: list[str] = []
    connect = sqlite3.connect

    def counting(*args, **kwargs):  # type: ignore[no-untyped-def]
        opened.append(Path(args[0]).name)
        return connect(*args, **kwargs)

    monkeypatch.setattr(stores.sqlite3, "connect", counting)
    kept, plain = KeptPinTable(tmp_path / "a.sqlite"), PinTable(tmp_path / "b.sqlite")
    for table in (kept, plain):
        assert table.pin("d1", "job:1") and not table.pin("d1", "job:1")
        assert table.pin("d1", "job:2") and table.pin("d2", "job:1")
        assert table.owners("d1") == ["job:1", "job:2"]
        assert table.unpin("d1", "job:2") and table.digests("job:1") == ["d1", "d2"]
        assert table.unpin_owner("job:1") == 2 and table.pinned() == set()
    assert opened.count("a.sqlite") == 1 and opened.count("b.sqlite") > 5  # once, each call
    assert kept._con is not None  # one file descriptor: a rollback journal, not WAL's three
    assert kept._con.execute("PRAGMA journal_mode").fetchone()[0] == "delete"
    kept.close()
    assert kept.pin("d3", "job:1")  # reopened on use after close
    kept.close()
    assert PinTable(tmp_path / "a.sqlite").owners("d3") == ["job:1"]  # committed on disk


def test_at_most_open_max_tables_hold_a_connection(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(stores, "OPEN_MAX", 2)
    tables = [KeptPinTable(tmp_path / f"{i}.sqlite") for i in range(3)]
    for i, t in enumerate(tables):
        assert t.pin(f"d{i}", "job:1")
    assert [t._con is None for t in tables] == [True, False, False]  # the oldest closed
    assert tables[0].owners("d0") == ["job:1"]  # reopened on use; now the next oldest goes
    assert [t._con is None for t in tables] == [False, True, False]
    for t in tables:
        t.close()
    assert not stores._open
