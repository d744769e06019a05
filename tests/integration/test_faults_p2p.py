"""A provider killed with SIGKILL in the middle of a transfer: the fetch finishes from another.

Three peer processes on 127.0.0.1 (libp2p, Noise, Yamux): two providers hold
the same 24 MiB blob, the fetcher asks the first one and the test kills that
process while the bytes are flowing (the fetcher's partial temp file is seen
growing). The fetch must still succeed, from the second provider, with the
stored blob matching its sha256 and no partial file left behind.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import time
from pathlib import Path

import pytest

from tests.integration.test_p2p_processes import PeerProcess

SIZE = 24 << 20


@pytest.fixture
def peers(tmp_path):
    started: list[PeerProcess] = []

    def start(name: str, bootstrap: list[str] = ()) -> PeerProcess:
        peer = PeerProcess(tmp_path / name, bootstrap)
        started.append(peer)
        return peer

    yield start
    for peer in started:
        peer.stop()  # quit, else SIGKILL by its own PID


def _partial(store: Path) -> int:
    """Bytes in the fetcher's temp file(s) of a transfer in flight."""
    total = 0
    for p in (store / "tmp").glob("put-*.part"):
        with contextlib.suppress(FileNotFoundError):  # it was just renamed into place
            total += p.stat().st_size
    return total


def test_provider_killed_mid_transfer_fetch_completes_from_the_other(peers, tmp_path):
    first, second = peers("first"), peers("second")
    fetcher = peers("fetcher", bootstrap=[second.info["addrs"][0]])
    digest = first.ask(op="put", size=SIZE, seed=3)["digest"]
    assert second.ask(op="put", size=SIZE, seed=3)["digest"] == digest

    t0 = time.monotonic()
    providers = [first.info["addrs"][0], second.info["addrs"][0]]
    fetcher.proc.stdin.write(
        json.dumps({"op": "fetch", "digest": digest, "providers": providers, "timeout_s": 120})
        + "\n"
    )
    fetcher.proc.stdin.flush()
    store = tmp_path / "fetcher"
    got = 0
    while time.monotonic() - t0 < 60:
        got = _partial(store)
        if got > 0:
            break
        time.sleep(0.002)
    first.proc.kill()  # SIGKILL by PID while the fetcher is reading its stream
    first.proc.wait(timeout=10)
    assert 0 < got < SIZE, f"the kill did not land mid-transfer ({got} of {SIZE} bytes)"

    while True:
        reply = fetcher.read()
        if "event" not in reply:
            break
    took = time.monotonic() - t0
    assert reply["ok"], reply
    stored = store / "sha256" / digest[:2] / digest[2:]
    h = hashlib.sha256()
    with stored.open("rb") as fh:
        while chunk := fh.read(1 << 20):
            h.update(chunk)
    assert h.hexdigest() == digest and stored.stat().st_size == SIZE
    assert list((store / "tmp").iterdir()) == [], "the cut-off transfer left a partial file"
    print(f"\nprovider killed after {got / 2**20:.1f} MiB of {SIZE >> 20} MiB; "
          f"fetch completed from the other in {took:.1f}s")
