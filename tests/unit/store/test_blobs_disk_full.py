"""Disk full, for real: the blob store on a tiny tmpfs that runs out of space mid-write.

The existing ENOSPC tests in test_blobs.py fake the OS call; these mount a
real filesystem of a few hundred KiB (root only; CI runs as root) so the
kernel itself refuses the write. A blob that does not fit must raise
StoreWriteError (exit code 12) naming "disk full", leave no partial or temp
file, keep the pin table and every earlier blob intact, and the store must
work again once space is freed. `milon job create` with its node's store on
the full disk ends with exit code 12 and publishes no job.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from milon_app.exit_codes import ExitCode
from milon_app.store import BlobStore, StoreWriteError

KIB = 1024


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _mount_tmpfs(where: Path, size: str) -> None:
    where.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size},mode=0700", "tmpfs", str(where)],
        check=True, capture_output=True, timeout=30,
    )


def _umount(where: Path) -> None:
    res = subprocess.run(["umount", str(where)], capture_output=True, timeout=30)
    if res.returncode != 0:  # something still holds it open: detach it anyway
        subprocess.run(["umount", "-l", str(where)], capture_output=True, timeout=30)


@pytest.fixture
def small_fs(tmp_path) -> Iterator[Path]:
    """A real 512 KiB tmpfs, unmounted in teardown whatever the test did."""
    if os.name != "posix" or os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip("mounting a real small filesystem needs root (CI runs as root)")
    where = tmp_path / "small"
    _mount_tmpfs(where, "512k")
    try:
        yield where
    finally:
        _umount(where)


def _fill(fs: Path, leave: int) -> Path:
    """Fill ``fs`` with one file until about ``leave`` bytes are free; returns the filler."""
    filler = fs / "filler"
    free = shutil.disk_usage(fs).free
    filler.write_bytes(b"\0" * max(0, free - leave))
    return filler


def _files(store: BlobStore) -> list[str]:
    """Every file under the store but the pin database: what a failed write must not leave."""
    return sorted(
        str(p.relative_to(store.root))
        for p in store.root.rglob("*")
        if p.is_file() and not p.name.startswith("pins.sqlite")
    )


def test_put_that_does_not_fit_is_a_clean_storage_error(small_fs):
    store = BlobStore(small_fs / "blobs")
    kept = os.urandom(8 * KIB)
    kept_digest = store.put(kept, "weights", owner="job:1")
    before = _files(store)
    filler = _fill(small_fs, leave=64 * KIB)
    big = os.urandom(256 * KIB)

    with pytest.raises(StoreWriteError, match="disk full") as info:
        store.put(big, "weights", owner="job:2")

    assert info.value.exit_code == ExitCode.STORAGE == 12
    assert _files(store) == before, "a partial or temp file was left behind"
    assert not store.has(sha(big))
    assert store.owners(sha(big)) == [], "the failed blob's pin was left in the table"
    assert store.owners(kept_digest) == ["job:1"]
    assert store.get(kept_digest) == kept  # hash-checked read of the earlier blob

    filler.unlink()  # space again: the same write now succeeds
    assert store.put(big, "weights", owner="job:2") == sha(big)
    assert store.get(sha(big)) == big


def test_streamed_blob_that_runs_out_of_space_leaves_nothing(small_fs):
    store = BlobStore(small_fs / "blobs")
    kept = store.put(b"spec" * 100, "model_spec", owner="job:1")
    before = _files(store)
    _fill(small_fs, leave=100 * KIB)
    chunk = os.urandom(32 * KIB)
    expected = sha(chunk * 16)

    with pytest.raises(StoreWriteError, match="disk full"):
        store.put_stream(iter([chunk] * 16), expected, kind="weights", owner="job:3")

    assert _files(store) == before
    assert list((store.root / "tmp").iterdir()) == []
    assert store.owners(expected) == []
    assert store.get(kept) == b"spec" * 100
    assert store.gc(min_age_s=0, stale_tmp_s=0) == (0, 0)  # nothing half-written to collect


def test_pin_table_on_a_full_disk_is_a_storage_error(small_fs):
    """Even the pin insert (SQLite) can hit the full disk: still exit code 12, nothing stored."""
    store = BlobStore(small_fs / "blobs")
    _fill(small_fs, leave=0)
    data = os.urandom(4 * KIB)
    with pytest.raises(StoreWriteError, match="disk full"):
        for i in range(200):  # new pins until the database must grow a page
            store.put(data + bytes([i % 256]) * i, "weights", owner=f"job:{i}")
    assert [f for f in _files(store) if not f.startswith("sha256/")] == []


def test_job_create_on_a_full_disk_exits_12_and_publishes_nothing(small_fs, anvil_node, tmp_path):
    from milon_app.chain.bindings import Milon
    from milon_app.chain.client import ChainClient
    from milon_app.chain.deploy import deploy_suite

    client = ChainClient.connect(anvil_node.url, dev_accounts=3)
    suite = deploy_suite(client, client.dev_accounts[0], dev=True)
    manifest = tmp_path / "manifest.json"
    suite.manifest.save(manifest)
    owner = client.dev_accounts[0]
    fed = Milon(suite).create_federation(owner, "full-disk", b"\0" * 32, 10**19)
    jobs_before = int(client.call(suite.jobs.functions.jobCount()))
    node_dir = small_fs / "node"
    BlobStore(node_dir / "blobs")
    _fill(small_fs, leave=24 * KIB)  # the specs fit, the initial weights (~70 KiB) do not
    home = tmp_path / "home"
    cfg = home / "config" / "config.json"
    cfg.parent.mkdir(parents=True)
    cfg.write_text(f'{{"node": {{"data_dir": "{node_dir}"}}}}')

    res = subprocess.run(
        [sys.executable, "-m", "milon_app", "--home", str(home), "job", "create",
         "--fed", str(fed), "--model", "digits-mlp", "--dataset", "digits", "--epochs", "2",
         "--reward-per-epoch", "1", "--rpc", anvil_node.url, "--manifest", str(manifest),
         "--dev-account", "0"],
        capture_output=True, text=True, timeout=120,
    )

    assert res.returncode == ExitCode.STORAGE, (res.returncode, res.stderr)
    assert "disk full" in res.stderr, res.stderr
    assert "Traceback" not in res.stderr
    assert int(client.call(suite.jobs.functions.jobCount())) == jobs_before
    leftovers = [p for p in (node_dir / "blobs").rglob("*") if p.is_file()]
    assert all(p.name.startswith("pins.sqlite") or "sha256" in p.parts for p in leftovers)
    assert not [p for p in leftovers if p.name.endswith((".tmp", ".part"))]
