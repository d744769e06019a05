from __future__ import annotations

import os
import stat

import pytest

from milon_app.util.atomic import atomic_write_bytes


def test_writes_with_mode_from_the_start(tmp_path):
    target = tmp_path / "sub" / "secret.json"
    atomic_write_bytes(target, b"x", mode=0o600)
    assert target.read_bytes() == b"x"
    assert stat.S_IMODE(target.stat().st_mode) == 0o600


def test_failed_write_keeps_the_old_file_and_leaves_no_temp(tmp_path, monkeypatch):
    target = tmp_path / "f"
    target.write_bytes(b"old")

    def boom(_fd):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", boom)
    with pytest.raises(OSError, match="No space"):
        atomic_write_bytes(target, b"new")
    assert target.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["f"]
