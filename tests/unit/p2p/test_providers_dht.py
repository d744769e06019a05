"""Kademlia provider records (``p2p.dht``) between real hosts on 127.0.0.1: A and C are
private (DHT CLIENT mode), B is public (SERVER) and the only peer either knows. C's blob
goes to the DHT only (no ``have`` on gossip) and A asks nobody by ``want``, so only C's
record on B can lead A to C.
"""

from __future__ import annotations

import os
import time

import pytest

from milon_app.errors import NetworkError
from milon_app.p2p.providers import dht_key

from .gossip_wait import wait_for


@pytest.fixture
def line(make_peer):
    """B public with the DHT in SERVER mode, C private and bootstrapping on B; ``join()``
    adds A, private too, bootstrapping on B only after C announced (A missed that gossip)."""
    b = make_peer("b", dht=True, reachability="public", relay="off")
    boot = [b.listen_addrs()[0]]
    c = make_peer("c", dht=True, bootstrap=boot, relay="off")
    assert wait_for(lambda: c._records.routing_size() >= 1)

    def join():
        a = make_peer("a", dht=True, bootstrap=boot, relay="off", want_wait_s=0.0)
        assert wait_for(lambda: a._records.routing_size() >= 1)
        return a

    return join, b, c


def test_a_finds_cs_blob_through_the_record_c_left_on_b(line):
    join, b, c = line
    blob = os.urandom(256 << 10)
    digest = c.store.put(blob, "weights")
    c.call(c._records.provide, digest)  # the DHT record only: no `have` on gossip
    assert wait_for(lambda: c.peer_id in b._records.stored(digest))
    a = join()
    assert (a._records.mode.value, b._records.mode.value) == ("CLIENT", "SERVER")
    assert a.peer_id in b.peers() and c.peer_id not in a.peers()
    assert a.have.providers(digest) == []  # no gossip told A about C
    events: list[tuple[str, dict]] = []
    a._on_event = lambda kind, data: events.append((kind, data))
    started = time.monotonic()
    assert a.fetch(digest, kind="weights", timeout_s=20.0) == digest
    seconds = time.monotonic() - started
    assert a.store.get(digest) == blob
    assert wait_for(lambda: any(k == "blob_fetched" for k, _ in events))
    fetched = next(d for k, d in events if k == "blob_fetched")
    assert fetched["provider"] == c.peer_id and c.peer_id in a.peers()
    print(f"DHT lookup + dial + 256 KiB fetch: {seconds:.3f} s")


def test_a_digest_nobody_has_is_a_clear_no_provider_error_in_bounded_time(line):
    join, _b, _c = line
    a = join()
    missing = "ab" * 32
    started = time.monotonic()
    with pytest.raises(NetworkError, match="no provider known .*none in the DHT"):
        a.fetch(missing, kind="weights", timeout_s=20.0)
    seconds = time.monotonic() - started
    assert seconds < 5.0, seconds
    print(f"DHT lookup with no provider: {seconds:.3f} s")


def test_a_record_provided_before_any_server_is_known_lands_once_one_connects(make_peer, line):
    _join, b, _c = line
    d = make_peer("d", dht=True, relay="off")  # no bootstrap: nobody to store a record yet
    digest = d.store.put(b"early update", "weights")
    d.call(d._records.provide, digest)
    assert d._records.routing_size() == 0 and d.peer_id not in b._records.stored(digest)
    d.connect(b.listen_addrs()[0])
    assert wait_for(lambda: d.peer_id in b._records.stored(digest))


def test_the_key_is_the_sha256_multihash_of_the_digest():
    digest = "0f" * 32
    assert dht_key(digest) == "1220" + digest
    with pytest.raises(Exception, match="sha256"):
        dht_key("not a digest")
