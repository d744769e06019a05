"""The content-addressed blob store: integrity, limits, hostile digests, pins and GC."""

from __future__ import annotations

import errno
import hashlib
import os
import threading
import time

import pytest

from milon_app.errors import BadInputError, NotFoundError
from milon_app.store import BlobStore, CorruptBlobError, StoreWriteError, check_digest


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@pytest.fixture
def store(tmp_path):
    return BlobStore(tmp_path / "blobs")


def leftovers(store: BlobStore) -> list[str]:
    """Every file under the store except the pin database: what a failed write must not leave."""
    found = []
    for path in store.root.rglob("*"):
        if path.is_file() and not path.name.startswith("pins.sqlite"):
            found.append(str(path.relative_to(store.root)))
    return sorted(found)


def test_round_trip_and_layout(store):
    data = b"hello weights"
    digest = store.put(data, "weights")
    assert digest == sha(data)
    assert store.has(digest) and store.size(digest) == len(data)
    assert store.get(digest) == data
    assert store.path(digest) == store.root / "sha256" / digest[:2] / digest[2:]
    assert list(store.digests()) == [digest]
    assert store.put(data, "weights") == digest  # idempotent
    assert store.delete(digest) and not store.has(digest) and not store.delete(digest)
    with pytest.raises(NotFoundError, match="not in the store"):
        store.get(digest)


def test_streamed_put_and_read(store):
    chunks = [os.urandom(1000) for _ in range(50)]
    whole = b"".join(chunks)
    digest = store.put_stream(iter(chunks), expected_digest=sha(whole), max_bytes=len(whole))
    assert digest == sha(whole)
    with store.open(digest) as reader:
        assert reader.size == len(whole)
        assert b"".join(reader.iter_chunks(4096)) == whole
    with store.open(digest) as reader:
        assert reader.read() == whole
    assert store.put_stream(iter([b"x"])) == sha(b"x")  # no expected digest: computed


def test_expected_digest_present_skips_stream(store):
    digest = store.put(b"abc", "model_spec")

    def never():
        raise AssertionError("stream consumed")
        yield b""

    assert store.put_stream(never(), expected_digest=digest) == digest


def test_corruption_detected_on_get_and_quarantined(store):
    digest = store.put(b"original bytes", "weights")
    path = store.path(digest)
    path.write_bytes(b"tampered bytes")
    with pytest.raises(CorruptBlobError, match=f"blob {digest} .* does not match its hash"):
        store.get(digest)
    assert not store.has(digest)
    assert [p.name.split(".")[0] for p in (store.root / "quarantine").iterdir()] == [digest]
    assert issubclass(CorruptBlobError, NotFoundError)


def test_corruption_detected_on_streaming_read(store):
    data = os.urandom(10_000)
    digest = store.put(data, "weights")
    corrupted = bytearray(data)
    corrupted[5000] ^= 1
    store.path(digest).write_bytes(bytes(corrupted))
    with store.open(digest) as reader, pytest.raises(CorruptBlobError):
        for _ in reader.iter_chunks(1024):
            pass
    assert not store.has(digest)
    digest2 = store.put(data, "weights")
    store.path(digest2).write_bytes(data[:-10])  # truncated on disk
    with store.open(digest2) as reader, pytest.raises(CorruptBlobError):
        reader.read()


@pytest.mark.parametrize(
    "bad",
    [
        "../" * 10 + "etc/passwd",
        "../../" + "a" * 58,
        "/" + "a" * 63,
        "A" * 64,
        "a" * 63,
        "a" * 65,
        "a" * 64 + "\n",
        "g" * 64,
        "aa/" + "b" * 61,
        "..\\" + "c" * 61,
        "",
        None,
        b"a" * 64,
        123,
    ],
)
def test_hostile_digests_never_become_paths(store, bad):
    for call in (store.has, store.get, store.open, store.size, store.path, store.delete):
        with pytest.raises(BadInputError, match="not a sha256 digest"):
            call(bad)
    if bad is not None:  # None means "no expected digest"
        with pytest.raises(BadInputError, match="not a sha256 digest"):
            store.put_stream(iter([b"x"]), expected_digest=bad)
    with pytest.raises(BadInputError, match="not a sha256 digest"):
        store.pin(bad, "job:1")


def test_check_digest_accepts_lowercase_hex():
    assert check_digest("0" * 64) == "0" * 64


def test_stream_hash_mismatch_leaves_nothing(store):
    wrong = sha(b"something else")
    with pytest.raises(BadInputError, match=f"blob hash mismatch: expected {wrong}"):
        store.put_stream(iter([b"abc", b"def"]), expected_digest=wrong, owner="job:1")
    assert leftovers(store) == []
    assert not store.has(wrong) and store.owners(wrong) == []


def test_stream_size_overrun_leaves_nothing(store):
    with pytest.raises(BadInputError, match="passed the limit of 10 bytes"):
        store.put_stream(iter([b"12345", b"678901"]), max_bytes=10)
    with pytest.raises(BadInputError, match="model_spec blob stream passed the limit of 65536"):
        store.put_stream(iter([b"x" * 40_000] * 2), kind="model_spec")
    assert leftovers(store) == []


def test_stream_error_from_source_leaves_nothing(store):
    def broken():
        yield b"abc"
        raise ConnectionResetError("peer went away")

    with pytest.raises(ConnectionResetError):
        store.put_stream(broken())
    assert leftovers(store) == []


def test_size_limits_per_kind(tmp_path):
    store = BlobStore(tmp_path, limits={"weights": 100})
    with pytest.raises(
        BadInputError, match="model_spec blob is 65537 bytes, over the limit of 65536"
    ):
        store.put(b"x" * (64 * 1024 + 1), "model_spec")
    with pytest.raises(BadInputError, match="dataset_spec blob is 65537 bytes"):
        store.put(b"x" * (64 * 1024 + 1), "dataset_spec")
    assert store.put(b"x" * (64 * 1024), "model_spec")
    with pytest.raises(BadInputError, match="weights blob is 101 bytes"):
        store.put(b"x" * 101, "weights")
    with pytest.raises(BadInputError, match="unknown blob kind 'pickle'"):
        store.put(b"x", "pickle")
    with pytest.raises(BadInputError, match="max_bytes must be"):
        store.put_stream(iter([b"x"]), max_bytes=-1)
    assert store.limit("shard") == 4 << 30 and store.limit("weights") == 100
    assert leftovers(store) == ["sha256/" + sha(b"x" * 65536)[:2] + "/" + sha(b"x" * 65536)[2:]]


def test_disk_full_during_stream_leaves_nothing(store, monkeypatch):
    real_write = os.write
    calls = []

    def full_disk(fd, data):
        calls.append(len(data))
        if len(calls) > 2:
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_write(fd, data)

    monkeypatch.setattr(os, "write", full_disk)
    with pytest.raises(StoreWriteError, match="disk full"):
        store.put_stream(iter([b"a" * 1000] * 5), owner="job:9")
    monkeypatch.undo()
    assert leftovers(store) == []
    assert store.pins.pinned() == set()


def test_disk_full_during_put_leaves_nothing(store, monkeypatch):
    def no_space(_fd):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "fsync", no_space)
    with pytest.raises(StoreWriteError, match="could not store weights blob .*: disk full"):
        store.put(b"payload", "weights", owner="job:2")
    monkeypatch.undo()
    assert leftovers(store) == []
    assert store.owners(sha(b"payload")) == []


def test_pins_and_gc(store):
    a = store.put(b"a" * 100, "weights", owner="job:1")
    b = store.put(b"b" * 200, "weights")
    c = store.put(b"c" * 300, "weights")
    store.pin(c, "job:2")
    store.pin(c, "user")
    assert store.owners(c) == ["job:2", "user"]
    assert store.gc(min_age_s=3600) == (0, 0)  # everything is fresh
    assert store.gc(min_age_s=0) == (1, 200)
    assert not store.has(b) and store.has(a) and store.has(c)
    assert store.unpin_owner("job:2") == 1
    assert store.gc(min_age_s=0) == (0, 0)  # "user" still holds c
    assert store.unpin(c, "user") and not store.unpin(c, "user")
    assert store.unpin_owner("job:1") == 1
    assert store.gc(min_age_s=0) == (2, 400)
    assert list(store.digests()) == []
    with pytest.raises(BadInputError, match="pin owner"):
        store.pin(a, "")


def test_gc_removes_only_stale_temp_files(store):
    stale = store.root / "tmp" / "put-old.part"
    stale.write_bytes(b"x" * 10)
    old = time.time() - 7200
    os.utime(stale, (old, old))
    fresh = store.root / "tmp" / "put-new.part"
    fresh.write_bytes(b"y" * 5)
    assert store.gc(min_age_s=0) == (1, 10)
    assert fresh.exists() and not stale.exists()


def test_pins_survive_reopen(tmp_path):
    first = BlobStore(tmp_path)
    digest = first.put(b"keep me", "weights", owner="job:7")
    second = BlobStore(tmp_path)
    assert second.owners(digest) == ["job:7"]
    assert second.gc(min_age_s=0) == (0, 0)


def test_concurrent_puts_of_same_blob(store):
    data = os.urandom(200_000)
    chunks = [data[i : i + 7000] for i in range(0, len(data), 7000)]
    results, errors = [], []
    barrier = threading.Barrier(8)

    def worker(i: int) -> None:
        try:
            barrier.wait()
            if i % 2:
                results.append(store.put(data, "weights", owner=f"job:{i}"))
            else:
                results.append(store.put_stream(iter(chunks), owner=f"job:{i}"))
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert results == [sha(data)] * 8
    assert store.get(sha(data)) == data
    assert len(store.owners(sha(data))) == 8
    assert leftovers(store) == ["sha256/" + sha(data)[:2] + "/" + sha(data)[2:]]
