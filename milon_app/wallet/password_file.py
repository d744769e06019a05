"""Secrets read from files: only files the user alone can read are accepted.

A password file that others can read is as good as a password on the command
line, so it is refused with the file and its mode named.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from milon_app.errors import BadInputError, NotFoundError

MAX_SECRET_FILE_BYTES = 4096


def check_private_file(path: Path, st: os.stat_result, what: str) -> None:
    """Refuse files readable by group/others or owned by someone else (POSIX only)."""
    if os.name != "posix":
        return
    mode = stat.S_IMODE(st.st_mode)
    if mode & 0o077:
        raise BadInputError(
            f"{what} {path} has mode {mode:04o}; it must be 0600 or stricter "
            f"(run: chmod 600 {path})"
        )
    uid = os.getuid()
    if st.st_uid != uid:
        raise BadInputError(f"{what} {path} is owned by uid {st.st_uid}, not by you (uid {uid})")


def read_secret_file(path: Path | str, what: str = "password file") -> str:
    """The file's text minus one trailing newline; checked on the open descriptor (no race)."""
    p = Path(path)
    flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0)
    try:
        fd = os.open(p, flags)
    except FileNotFoundError:
        raise NotFoundError(f"{what} {p} does not exist") from None
    except OSError as exc:
        raise BadInputError(f"{what} {p} cannot be opened: {exc.strerror}") from None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise BadInputError(f"{what} {p} is not a regular file")
        check_private_file(p, st, what)
        data = b""
        while len(data) <= MAX_SECRET_FILE_BYTES:
            chunk = os.read(fd, MAX_SECRET_FILE_BYTES + 1 - len(data))
            if not chunk:
                break
            data += chunk
    finally:
        os.close(fd)
    if len(data) > MAX_SECRET_FILE_BYTES:
        raise BadInputError(f"{what} {p} is larger than {MAX_SECRET_FILE_BYTES} bytes")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise BadInputError(f"{what} {p} is not UTF-8 text") from None
    if text.endswith("\r\n"):
        text = text[:-2]
    elif text.endswith("\n"):
        text = text[:-1]
    if not text:
        raise BadInputError(f"{what} {p} is empty")
    return text
