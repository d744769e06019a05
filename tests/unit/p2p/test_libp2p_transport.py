from __future__ import annotations

import hashlib
import logging
import os
import threading

import pytest
from eth_account import Account

from milon_app.errors import BadInputError, NetworkError
from milon_app.p2p.host import Libp2pTransport
from milon_app.p2p.identity import address_of_peer
from milon_app.p2p.transport import MAX_MESSAGE_BYTES, Transport
from milon_app.store.blobs import BlobStore

from .gossip_wait import wait_for, wait_for_gossip
from .rawpeer import RawPeer

BLOBS = "milon/blobs"  # joined by every peer from its start


def test_is_a_transport(make_peer):
    peer: Transport = make_peer("a")
    assert peer.peer_id.startswith("16Uiu2")


def test_peer_id_embeds_the_wallet_address(make_peer):
    key = os.urandom(32)
    peer = make_peer("a", key=key)
    assert address_of_peer(peer.peer_id) == Account.from_key(key).address
    assert peer.address == Account.from_key(key).address
    addrs = peer.listen_addrs()
    assert addrs and all(a.startswith("/ip4/127.0.0.1/tcp/") for a in addrs)
    assert all(a.endswith(f"/p2p/{peer.peer_id}") for a in addrs)


def test_fetch_5mb_blob_by_peer_id(make_peer):
    a, b = make_peer("a"), make_peer("b")
    events = []
    b._on_event = lambda kind, data: events.append((kind, data))
    blob = os.urandom(5 << 20)
    digest = a.store.put(blob, "weights")
    a.provide(digest)
    b.connect(a.listen_addrs()[0])
    assert b.fetch(digest, kind="weights", providers=[a.peer_id]) == digest
    assert hashlib.sha256(b.store.get(digest)).hexdigest() == digest
    assert b.store.get(digest) == blob
    assert wait_for(lambda: any(k == "blob_fetched" for k, _ in events))
    fetched = next(d for k, d in events if k == "blob_fetched")
    assert fetched["bytes"] == len(blob) and fetched["provider"] == a.peer_id


def test_fetch_dials_a_multiaddr_provider(make_peer):
    a, b = make_peer("a"), make_peer("b")
    digest = a.store.put(b"spec bytes", "model_spec")
    assert b.peers() == []
    assert b.fetch(digest, kind="model_spec", providers=[a.listen_addrs()[0]]) == digest
    assert a.peer_id in b.peers()


def test_fetch_finds_provider_from_gossip(make_peer):
    a, b = make_peer("a"), make_peer("b")
    b.connect(a.listen_addrs()[0])
    digest = a.store.put(os.urandom(10_000), "weights")
    wait_for_gossip(a, BLOBS, b)  # a's "have" reaches b
    a.provide(digest)
    assert wait_for(lambda: a.peer_id in [p.to_base58() for p in b.have.providers(digest)])
    assert b.fetch(digest, kind="weights") == digest


def test_fetch_asks_the_network_when_nobody_announced(make_peer):
    a, b = make_peer("a"), make_peer("b", want_wait_s=3.0)
    digest = a.store.put(os.urandom(1000), "weights")
    a.provide(digest)  # announced before b was connected: b never saw it
    b.connect(a.listen_addrs()[0])
    wait_for_gossip(b, BLOBS, a)  # b's "want" reaches a
    wait_for_gossip(a, BLOBS, b)  # and a's answering "have" reaches b
    assert b.fetch(digest, kind="weights") == digest


def test_fetch_by_connected_address(make_peer):
    a, b = make_peer("a"), make_peer("b")
    b.connect(a.listen_addrs()[0])
    digest = a.store.put(b"x" * 100, "weights")
    assert wait_for(lambda: a.peer_id in b.peers())
    assert b.fetch(digest, kind="weights", providers=[a.address]) == digest


def test_gossip_round_trip_names_sender_address(make_peer):
    a, b = make_peer("a"), make_peer("b")
    got: list[tuple[str, dict, str]] = []
    b.subscribe("milon/round", lambda s, m: got.append((s, m, threading.current_thread().name)))
    b.connect(a.listen_addrs()[0])
    wait_for_gossip(a, "milon/round", b)  # a does not subscribe: it knows b does
    a.publish("milon/round", {"round": 7, "open": True})
    assert wait_for(lambda: got)
    sender, message, thread = got[0]
    assert sender == a.address and message == {"open": True, "round": 7}
    assert thread.startswith("p2p-dispatch")  # not on the trio thread


def test_unsubscribe_stops_delivery(make_peer):
    a, b = make_peer("a"), make_peer("b")
    got = []
    off = b.subscribe("t", lambda s, m: got.append(m))
    marks = []
    b.subscribe("u", lambda s, m: marks.append(m))
    b.connect(a.listen_addrs()[0])
    wait_for_gossip(a, "t", b)
    wait_for_gossip(a, "u", b)
    a.publish("t", {"n": 1})
    assert wait_for(lambda: got)
    off()
    a.publish("t", {"n": 2})
    a.publish("u", {"after": 2})  # from the same sender, handled in order after {"n": 2}
    assert wait_for(lambda: marks)
    assert got == [{"n": 1}]


def test_publish_refuses_oversized_and_non_json(make_peer):
    a = make_peer("a")
    with pytest.raises(BadInputError, match=f"over {MAX_MESSAGE_BYTES}"):
        a.publish("t", {"blob": "x" * MAX_MESSAGE_BYTES})
    with pytest.raises(BadInputError, match="not JSON-serializable"):
        a.publish("t", {"bytes": b"raw"})


def test_authorize_refusal_is_reported(make_peer):
    seen = []

    def only_nobody(requester, digest):
        seen.append((requester, digest))
        return False

    a, b = make_peer("a", authorize=only_nobody), make_peer("b")
    digest = a.store.put(b"private shard", "shard")
    with pytest.raises(NetworkError, match=rf"{digest}.*{a.listen_addrs()[0]}: refused"):
        b.fetch(digest, kind="shard", providers=[a.listen_addrs()[0]])
    assert seen == [(b.address, digest)]  # the requester's Ethereum address
    assert not b.store.has(digest)


def test_unknown_digest(make_peer):
    a, b = make_peer("a"), make_peer("b")
    digest = hashlib.sha256(b"nobody has this").hexdigest()
    with pytest.raises(NetworkError, match="not found"):
        b.fetch(digest, kind="weights", providers=[a.listen_addrs()[0]])


def test_no_provider_at_all(make_peer):
    b = make_peer("b")
    digest = hashlib.sha256(b"nobody has this").hexdigest()
    with pytest.raises(NetworkError, match="no provider known"):
        b.fetch(digest, kind="weights")


def test_size_limit_is_checked_before_reading(make_peer):
    a = make_peer("a")
    b = make_peer("b", limits={"weights": 1000})
    digest = a.store.put(os.urandom(5000), "weights")
    with pytest.raises(NetworkError, match="announced 5000 bytes, over the weights limit of 1000"):
        b.fetch(digest, kind="weights", providers=[a.listen_addrs()[0]])
    assert not b.store.has(digest)


def test_bad_inputs(make_peer):
    b = make_peer("b")
    with pytest.raises(BadInputError, match="sha256"):
        b.fetch("abc", kind="weights")
    with pytest.raises(BadInputError, match="unknown blob kind"):
        b.fetch("0" * 64, kind="movies")
    with pytest.raises(BadInputError, match="not in the local store"):
        b.provide("0" * 64)
    with pytest.raises(BadInputError, match="lacks /p2p/"):
        b.connect("/ip4/127.0.0.1/tcp/1")
    with pytest.raises(NetworkError, match="bad provider|not a libp2p peer id"):
        b.fetch("1" * 64, kind="weights", providers=["not-a-peer"])


def test_constructor_checks(tmp_path):
    store = BlobStore(tmp_path / "s")
    with pytest.raises(BadInputError, match="32 bytes"):
        Libp2pTransport(b"short", store)
    with pytest.raises(BadInputError, match="secp256k1 range"):
        Libp2pTransport(b"\0" * 32, store)
    with pytest.raises(BadInputError, match="not a multiaddr"):
        Libp2pTransport(os.urandom(32), store, listen=["tcp://127.0.0.1:1"])
    with pytest.raises(BadInputError, match="lacks /p2p/"):
        Libp2pTransport(os.urandom(32), store, bootstrap=["/ip4/127.0.0.1/tcp/1"])
    peer = Libp2pTransport(os.urandom(32), store)
    with pytest.raises(NetworkError, match="not running"):
        peer.fetch("1" * 64, kind="weights")
    with pytest.raises(NetworkError, match="not running"):
        peer.publish("t", {})


def test_falls_back_when_first_provider_refuses(make_peer, caplog):
    refusing = make_peer("c", authorize=lambda r, d: False)
    a, b = make_peer("a"), make_peer("b")
    blob = os.urandom(200_000)
    digest = a.store.put(blob, "weights")
    refusing.store.put(blob, "weights")
    with caplog.at_level(logging.WARNING, logger="milon_app.p2p.fetch"):
        b.fetch(digest, kind="weights", providers=[refusing.listen_addrs()[0], a.listen_addrs()[0]])
    assert b.store.get(digest) == blob
    assert "refused" in caplog.text


def test_falls_back_when_first_provider_is_gone(make_peer):
    a, b, gone = make_peer("a"), make_peer("b"), make_peer("gone")
    digest = a.store.put(os.urandom(1000), "weights")
    gone.store.put(a.store.get(digest), "weights")
    dead_addr = gone.listen_addrs()[0]
    gone.stop()
    b.fetch(digest, kind="weights", providers=[dead_addr, a.listen_addrs()[0]])
    assert b.store.has(digest)


def test_all_providers_fail_names_every_reason(make_peer):
    a, b = make_peer("a", authorize=lambda r, d: False), make_peer("b")
    c = make_peer("c")
    digest = a.store.put(b"blob", "weights")
    with pytest.raises(NetworkError) as err:
        b.fetch(digest, kind="weights", providers=[a.listen_addrs()[0], c.listen_addrs()[0]])
    text = str(err.value)
    assert digest in text and "refused" in text and "not found" in text


def test_plaintext_only_dialer_is_refused(make_peer):
    a = make_peer("a")
    raw = RawPeer(plaintext=True).start()
    try:
        with pytest.raises(Exception):  # libp2p raises assorted negotiation errors
            raw.connect(a.listen_addrs()[0])
        assert raw.peer_id not in a.peers()
    finally:
        raw.stop()


def test_connection_events(make_peer):
    events = []
    a = make_peer("a", on_event=lambda k, d: events.append((k, d)))
    b = make_peer("b")
    b.connect(a.listen_addrs()[0])
    joined = {"peer_id": b.peer_id, "address": b.address, "peers": 1}  # peers: a's count now
    assert wait_for(lambda: ("peer_connected", joined) in events)
    b.stop()
    assert wait_for(lambda: ("peer_disconnected", {**joined, "peers": 0}) in events)
    assert b.peer_id not in a.peers()


def test_bootstrap_reconnects_after_drop(make_peer, tmp_path):
    a = make_peer("a")
    addr = a.listen_addrs()[0]
    port = int(addr.split("/tcp/")[1].split("/")[0])
    key = a._keypair.private_key.to_bytes()
    b = make_peer("b", bootstrap=[addr])
    assert wait_for(lambda: a.peer_id in b.peers())
    a.stop()
    assert wait_for(lambda: a.peer_id not in b.peers())
    # the same identity comes back on the same port: b redials on its own
    again = Libp2pTransport(key, BlobStore(tmp_path / "a2"), listen=[f"/ip4/127.0.0.1/tcp/{port}"])
    again.start()
    try:
        assert wait_for(lambda: again.peer_id in b.peers(), timeout=15)
    finally:
        again.stop()
