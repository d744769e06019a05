"""The pin table keeps one SQLite connection per thread and stays consistent across them."""

from __future__ import annotations

import threading
from pathlib import Path

from milon_app.store.pins import PinTable


def test_pins_from_many_threads_and_a_second_table_on_the_same_file(tmp_path: Path) -> None:
    table = PinTable(tmp_path / "pins.sqlite")
    digests = [f"{i:064x}" for i in range(40)]

    def pin(part: list[str], owner: str) -> None:
        for d in part:
            assert table.pin(d, owner)

    threads = [threading.Thread(target=pin, args=(digests[i::4], f"job:{i}")) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert table.pinned() == set(digests)
    other = PinTable(tmp_path / "pins.sqlite")  # another process's view of the same file
    assert other.owners(digests[5]) == ["job:1"]
    assert other.unpin(digests[5], "job:1") and table.owners(digests[5]) == []
    assert not table.pin(digests[6], "job:2")  # already pinned: seen through the open connection
    table.close()
    assert table.digests("job:0") == sorted(digests[0::4])  # reopens after close
