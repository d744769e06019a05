"""Start/stop cycles leave nothing behind: threads, listening sockets, file descriptors."""

from __future__ import annotations

import contextlib
import os
import threading
import time

import psutil

from milon_app.errors import NetworkError
from milon_app.p2p.host import Libp2pTransport
from milon_app.store.blobs import BlobStore


def _listening() -> set[int]:
    return {
        c.laddr.port
        for c in psutil.Process().net_connections(kind="tcp")
        if c.status == psutil.CONN_LISTEN
    }


def _settle(predicate, timeout=5.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and not predicate():
        time.sleep(0.05)


def test_twenty_start_stop_cycles_leak_nothing(tmp_path):
    server = Libp2pTransport(os.urandom(32), BlobStore(tmp_path / "server"))
    server.start()
    try:
        digest = server.store.put(b"small blob", "weights")
        addr = server.listen_addrs()[0]
        key = os.urandom(32)
        warm = Libp2pTransport(key, BlobStore(tmp_path / "warm"), bootstrap=[addr])
        with warm:  # the server's lazily made threads (io pool) exist from here on
            warm.fetch(digest, kind="weights", providers=[server.peer_id])
        threads = {t.ident for t in threading.enumerate()}
        listening = _listening()
        proc = psutil.Process()
        fds = proc.num_fds()
        conns = len(proc.net_connections(kind="tcp"))
        for cycle in range(20):
            peer = Libp2pTransport(key, BlobStore(tmp_path / f"c{cycle}"), bootstrap=[addr])
            peer.start()
            assert len(_listening()) == len(listening) + 1
            if cycle % 5 == 0:
                peer.fetch(digest, kind="weights", providers=[server.peer_id])
            peer.stop()
        # the long-lived server's io pool may lazily add workers under concurrent requests:
        # those belong to the running server, not to any stopped peer
        server_pool = f"p2p-io-{server.peer_id[-6:]}"

        def new_threads() -> set[str]:
            return {
                t.name
                for t in threading.enumerate()
                if t.ident not in threads and not t.name.startswith(server_pool)
            }

        _settle(lambda: not new_threads())
        assert new_threads() == set()
        assert _listening() == listening
        _settle(lambda: len(proc.net_connections(kind="tcp")) <= conns)
        assert len(proc.net_connections(kind="tcp")) <= conns
        assert proc.num_fds() <= fds + 3  # sqlite pin tables of the 20 stores may linger briefly
    finally:
        server.stop()


def test_stop_is_idempotent_and_restart_works(tmp_path):
    peer = Libp2pTransport(os.urandom(32), BlobStore(tmp_path / "p"))
    peer.stop()  # never started: a no-op
    peer.start()
    first = peer.listen_addrs()
    peer.stop()
    peer.stop()
    peer.start()
    try:
        assert peer.listen_addrs() and first
        assert peer.peers() == []
    finally:
        peer.stop()


def test_a_peer_that_comes_back_is_dialled_again_at_once(tmp_path, make_peer):
    """A member that restarts (same key, same port) must be reachable right away: libp2p's
    60 s negative dial cache, filled while it was offline, used to refuse every fetch from
    it, so the committee found its honest update unavailable and slashed it (50-round soak)."""
    key = os.urandom(32)
    provider = make_peer("provider", key=key)
    digest = provider.store.put(b"an update", "weights")
    addr = provider.listen_addrs()[0]
    port = addr.split("/tcp/")[1].split("/")[0]
    fetcher = make_peer("fetcher")
    provider.stop()
    with contextlib.suppress(NetworkError):  # offline: the failure is what fills the cache
        fetcher.fetch(digest, kind="weights", providers=[addr], timeout_s=5)
    assert not fetcher.store.has(digest)
    back = make_peer("provider-again", key=key, listen=[f"/ip4/127.0.0.1/tcp/{port}"])
    back.store.put(b"an update", "weights")
    fetcher.fetch(digest, kind="weights", providers=[addr], timeout_s=20)
    assert fetcher.store.has(digest)
