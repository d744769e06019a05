"""The local content-addressed blob store: model specs, weights and dataset shards by sha256.

Layout under the root: ``sha256/ab/cdef...`` (first two hex digits fan out the
folder), ``tmp/`` for streams being received, ``quarantine/`` for files that
failed their hash check, ``pins.sqlite`` for the pin table. A blob file only
ever appears complete (temp file, fsync, rename), every read is checked
against its name, and digests are validated before they touch a path, so a
hostile digest cannot name a file outside the store.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import re
import tempfile
import threading
import time
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import BinaryIO

from milon_app.errors import BadInputError, NotFoundError
from milon_app.store.pins import PinTable, StoreWriteError
from milon_app.util.atomic import atomic_write_bytes, fsync_dir

KIB, MIB, GIB = 1 << 10, 1 << 20, 1 << 30
MODEL_SPEC, DATASET_SPEC, WEIGHTS, SHARD = "model_spec", "dataset_spec", "weights", "shard"
DEFAULT_LIMITS: dict[str, int] = {
    MODEL_SPEC: 64 * KIB,
    DATASET_SPEC: 64 * KIB,
    WEIGHTS: 2 * GIB,
    SHARD: 4 * GIB,
}
READ_CHUNK = 1 * MIB
_DIGEST = re.compile(r"[0-9a-f]{64}")
_FAN = re.compile(r"[0-9a-f]{2}")
_REST = re.compile(r"[0-9a-f]{62}")


class CorruptBlobError(NotFoundError):
    """A stored file no longer matches its digest; it was moved to quarantine, fetch it again."""


def check_digest(digest: object) -> str:
    """A sha256 digest as 64 lowercase hex digits, else BadInputError (never a path fragment)."""
    if not isinstance(digest, str) or not _DIGEST.fullmatch(digest):
        raise BadInputError(f"not a sha256 digest (64 lowercase hex digits): {digest!r:.80}")
    return digest


class BlobReader:
    """Streams one blob and checks its hash when the end is reached.

    Only a reader that reaches the end verifies; stop early and nothing is claimed.
    """

    def __init__(self, store: BlobStore, digest: str, fh: BinaryIO, size: int) -> None:
        self._store, self.digest, self._fh, self.size = store, digest, fh, size
        self._hash = hashlib.sha256()
        self._pos = 0
        self._verified = False

    def read(self, size: int = -1) -> bytes:
        data = self._fh.read(size)
        self._hash.update(data)
        self._pos += len(data)
        if not self._verified and (not data or size < 0 or self._pos >= self.size):
            self._verify()
        return data

    def iter_chunks(self, chunk_size: int = READ_CHUNK) -> Iterator[bytes]:
        while data := self.read(chunk_size):
            yield data

    def _verify(self) -> None:
        if self._fh.read(1):  # the file grew after it was opened
            self._hash.update(b"\0")
        self._verified = True
        if self._hash.hexdigest() != self.digest:
            self.close()
            raise self._store._corrupt(self.digest)

    def close(self) -> None:
        self._fh.close()

    def __enter__(self) -> BlobReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class BlobStore:
    """sha256-addressed files under ``root`` with per-kind size limits, pins and GC."""

    def __init__(self, root: Path | str, limits: Mapping[str, int] | None = None) -> None:
        self.root = Path(root)
        self._blobs = self.root / "sha256"
        self._tmp = self.root / "tmp"
        self._quarantine = self.root / "quarantine"
        for folder in (self.root, self._blobs, self._tmp, self._quarantine):
            folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        self.limits = {**DEFAULT_LIMITS, **(limits or {})}
        self.pins = PinTable(self.root / "pins.sqlite")
        self._lock = threading.RLock()  # orders install+pin against gc in this process

    # -- lookup -------------------------------------------------------------
    def limit(self, kind: str) -> int:
        if kind not in self.limits:
            known = ", ".join(sorted(self.limits))
            raise BadInputError(f"unknown blob kind {kind!r}: expected one of {known}")
        return self.limits[kind]

    def _location(self, digest: str) -> Path:
        check_digest(digest)
        return self._blobs / digest[:2] / digest[2:]

    def has(self, digest: str) -> bool:
        return self._location(digest).is_file()

    def path(self, digest: str) -> Path:
        where = self._location(digest)
        if not where.is_file():
            raise NotFoundError(f"blob {digest} is not in the store {self.root}")
        return where

    def size(self, digest: str) -> int:
        return self.path(digest).stat().st_size

    def digests(self) -> Iterator[str]:
        """Every stored digest (not verified)."""
        for fan in sorted(self._blobs.iterdir()):
            if not fan.is_dir() or not _FAN.fullmatch(fan.name):
                continue
            for item in sorted(fan.iterdir()):
                if _REST.fullmatch(item.name) and item.is_file():
                    yield fan.name + item.name

    # -- read ---------------------------------------------------------------
    def get(self, digest: str) -> bytes:
        """The blob's bytes, checked against the digest; a corrupt file is quarantined."""
        where = self.path(digest)
        try:
            data = where.read_bytes()
        except FileNotFoundError:
            raise NotFoundError(f"blob {digest} is not in the store {self.root}") from None
        if hashlib.sha256(data).hexdigest() != digest:
            raise self._corrupt(digest)
        return data

    def open(self, digest: str) -> BlobReader:
        where = self.path(digest)
        fh = where.open("rb")
        return BlobReader(self, digest, fh, os.fstat(fh.fileno()).st_size)

    def _corrupt(self, digest: str) -> CorruptBlobError:
        where = self._location(digest)
        target = self._quarantine / f"{digest}.{time.time_ns()}"
        try:
            os.replace(where, target)
            note = f"moved to {target}"
        except OSError as exc:
            with contextlib.suppress(OSError):
                where.unlink()
            note = f"removed ({exc.strerror or exc})"
        return CorruptBlobError(
            f"blob {digest} in {self.root} does not match its hash (corrupted on disk); {note}"
        )

    # -- write --------------------------------------------------------------
    @contextlib.contextmanager
    def _writing(self, what: str) -> Iterator[None]:
        try:
            yield
        except OSError as exc:
            reason = "disk full" if exc.errno == errno.ENOSPC else (exc.strerror or str(exc))
            raise StoreWriteError(f"could not store {what} in {self.root}: {reason}") from exc

    def put(self, data: bytes, kind: str, *, owner: str | None = None) -> str:
        """Store ``data`` (held in memory: specs, small weights); returns its digest."""
        limit = self.limit(kind)
        if len(data) > limit:
            raise BadInputError(f"{kind} blob is {len(data)} bytes, over the limit of {limit}")
        digest = hashlib.sha256(data).hexdigest()
        added = self.pins.pin(digest, owner) if owner is not None else False
        try:
            where = self._location(digest)
            if where.is_file() and where.stat().st_size == len(data):
                with self._writing(f"blob {digest}"):
                    os.utime(where)  # fresh again for gc's min_age grace
                return digest
            with self._writing(f"{kind} blob {digest}"):
                where.parent.mkdir(mode=0o700, exist_ok=True)
                atomic_write_bytes(where, data, mode=0o600)
        except BaseException:
            if added and owner is not None:
                self.pins.unpin(digest, owner)
            raise
        return digest

    def put_stream(
        self,
        chunks: Iterable[bytes],
        expected_digest: str | None = None,
        max_bytes: int | None = None,
        *,
        kind: str = WEIGHTS,
        owner: str | None = None,
    ) -> str:
        """Store a blob arriving in chunks without holding it in memory; returns its digest.

        With ``expected_digest`` already present, ``chunks`` is not consumed. On a
        hash mismatch, a size overrun or a write error the temp file is removed
        and nothing is stored.
        """
        limit = self.limit(kind)
        if max_bytes is not None:
            if isinstance(max_bytes, bool) or not isinstance(max_bytes, int) or max_bytes < 0:
                raise BadInputError(f"max_bytes must be an integer >= 0, got {max_bytes!r}")
            limit = min(limit, max_bytes)
        expected = check_digest(expected_digest) if expected_digest is not None else None
        added = False
        if expected is not None and owner is not None:
            added = self.pins.pin(expected, owner)
        try:
            if expected is not None and self.has(expected):
                with self._writing(f"blob {expected}"):
                    os.utime(self._location(expected))
                return expected
            return self._receive(chunks, expected, limit, kind, owner)
        except BaseException:
            if added and expected is not None and owner is not None:
                self.pins.unpin(expected, owner)
            raise

    def _receive(
        self,
        chunks: Iterable[bytes],
        expected: str | None,
        limit: int,
        kind: str,
        owner: str | None,
    ) -> str:
        with self._writing(f"{kind} blob"):
            fd, tmp = tempfile.mkstemp(prefix="put-", suffix=".part", dir=self._tmp)
        try:
            hasher, total = hashlib.sha256(), 0
            for chunk in chunks:
                if not isinstance(chunk, bytes | bytearray | memoryview):
                    raise BadInputError(f"blob stream yielded {type(chunk).__name__}, not bytes")
                total += len(chunk)
                if total > limit:
                    raise BadInputError(
                        f"{kind} blob stream passed the limit of {limit} bytes; transfer refused"
                    )
                hasher.update(chunk)
                with self._writing(f"{kind} blob"):
                    _write_all(fd, memoryview(chunk))
            with self._writing(f"{kind} blob"):
                os.fsync(fd)
            os.close(fd)
            fd = -1
            digest = hasher.hexdigest()
            if expected is not None and digest != expected:
                raise BadInputError(
                    f"blob hash mismatch: expected {expected}, received {digest} ({total} bytes)"
                )
            with self._lock, self._writing(f"blob {digest}"):
                self._install(Path(tmp), digest)
                if owner is not None:
                    self.pins.pin(digest, owner)
            return digest
        finally:
            if fd >= 0:
                os.close(fd)
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)

    def _install(self, tmp: Path, digest: str) -> None:
        where = self._location(digest)
        where.parent.mkdir(mode=0o700, exist_ok=True)
        try:
            os.replace(tmp, where)
        except PermissionError:
            # Windows: a reader holds the existing (identical) file open; keep it.
            if not where.is_file():
                raise
        fsync_dir(where.parent)

    # -- pins and gc --------------------------------------------------------
    def pin(self, digest: str, owner: str) -> bool:
        """Keep ``digest`` through gc while ``owner`` (e.g. ``"job:3"``) needs it."""
        return self.pins.pin(check_digest(digest), owner)

    def unpin(self, digest: str, owner: str) -> bool:
        return self.pins.unpin(check_digest(digest), owner)

    def unpin_owner(self, owner: str) -> int:
        return self.pins.unpin_owner(owner)

    def pinned_by(self, owner: str) -> list[str]:
        """Digests ``owner`` pins (e.g. every blob of a job)."""
        return self.pins.digests(owner)

    def owners(self, digest: str) -> list[str]:
        return self.pins.owners(check_digest(digest))

    def delete(self, digest: str) -> bool:
        """Remove a blob now, pinned or not; True when a file was removed."""
        with self._lock:
            try:
                self._location(digest).unlink()
            except FileNotFoundError:
                return False
        return True

    def gc(self, *, min_age_s: float = 60.0, stale_tmp_s: float = 3600.0) -> tuple[int, int]:
        """Remove unpinned blobs untouched for ``min_age_s`` and temp/quarantine files older
        than ``stale_tmp_s``; returns (files removed, bytes freed).

        The age grace covers another process that stored a blob and has not
        pinned it yet; in this process, ``owner=`` on put pins before the file exists.
        """
        now = time.time()
        removed = freed = 0
        with self._lock:
            pinned = self.pins.pinned()
            candidates = [(self._location(d), min_age_s) for d in self.digests() if d not in pinned]
            leftovers = [p for p in self._tmp.iterdir() if p.is_file()]
            leftovers += [p for p in self._quarantine.iterdir() if p.is_file()]
            leftovers += [
                p for p in self._blobs.glob("*/.*.tmp") if p.is_file()
            ]  # atomic_write_bytes temp files
            candidates += [(p, stale_tmp_s) for p in leftovers]
            for where, min_age in candidates:
                try:
                    st = where.stat()
                    if now - st.st_mtime < min_age:
                        continue
                    where.unlink()
                except FileNotFoundError:
                    continue
                removed += 1
                freed += st.st_size
        return removed, freed


def _write_all(fd: int, data: memoryview) -> None:
    while data:
        written = os.write(fd, data)
        data = data[written:]

