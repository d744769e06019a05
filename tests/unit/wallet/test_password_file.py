"""Password files: accepted only when private to the user, refused with file and mode named."""

from __future__ import annotations

import os

import pytest

from milon_app.errors import BadInputError, NotFoundError
from milon_app.wallet import read_secret_file


def _write(path, text, mode=0o600):
    path.write_text(text)
    os.chmod(path, mode)
    return path


@pytest.mark.parametrize(
    "content, expect",
    [("pw\n", "pw"), ("pw\r\n", "pw"), ("pw", "pw"), (" spaced pw \n\n", " spaced pw \n")],
)
def test_reads_text_minus_one_newline(tmp_path, content, expect):
    assert read_secret_file(_write(tmp_path / "pw", content)) == expect


@pytest.mark.parametrize("mode", [0o400, 0o600, 0o700])
def test_private_modes_accepted(tmp_path, mode):
    assert read_secret_file(_write(tmp_path / "pw", "x", mode)) == "x"


@pytest.mark.parametrize("mode", [0o640, 0o604, 0o644, 0o666, 0o610])
def test_readable_by_others_refused_with_file_and_mode(tmp_path, mode):
    path = _write(tmp_path / "pw", "hunter2", mode)
    with pytest.raises(BadInputError) as err:
        read_secret_file(path)
    msg = str(err.value)
    assert str(path) in msg and f"{mode:04o}" in msg and "0600" in msg
    assert "hunter2" not in msg


def test_other_owner_refused(tmp_path):
    if os.getuid() != 0:
        pytest.skip("changing a file's owner needs root")
    path = _write(tmp_path / "pw", "x")
    os.chown(path, 12345, -1)
    with pytest.raises(BadInputError, match="owned by uid 12345"):
        read_secret_file(path)


def test_missing_empty_symlink_and_folder(tmp_path):
    with pytest.raises(NotFoundError, match=str(tmp_path / "none")):
        read_secret_file(tmp_path / "none")
    with pytest.raises(BadInputError, match="is empty"):
        read_secret_file(_write(tmp_path / "empty", "\n"))
    target = _write(tmp_path / "real", "x")
    (tmp_path / "link").symlink_to(target)
    with pytest.raises(BadInputError, match="cannot be opened"):
        read_secret_file(tmp_path / "link")  # no following links to someone else's file
    (tmp_path / "dir").mkdir(mode=0o700)
    with pytest.raises(BadInputError, match="not a regular file"):
        read_secret_file(tmp_path / "dir")


def test_oversized_and_binary(tmp_path):
    with pytest.raises(BadInputError, match="larger than"):
        read_secret_file(_write(tmp_path / "big", "x" * 5000))
    path = tmp_path / "bin"
    path.write_bytes(b"\xff\xfe")
    os.chmod(path, 0o600)
    with pytest.raises(BadInputError, match="not UTF-8"):
        read_secret_file(path)
