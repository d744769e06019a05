from __future__ import annotations

import os
import threading
import time

import pytest
from eth_account import Account
from libp2p.crypto.ed25519 import create_new_key_pair
from libp2p.peer.id import ID

from milon_app.errors import BadInputError
from milon_app.p2p.discovery import parse_blob_message
from milon_app.p2p.gossip import Dispatcher, DropCounter, RateGate, decode_message
from milon_app.p2p.identity import address_of_peer, peer_id_of_key
from milon_app.p2p.transport import MAX_MESSAGE_BYTES


@pytest.mark.parametrize("seed", range(5))
def test_address_of_peer_matches_eth_account(seed):
    key = os.urandom(32)
    assert address_of_peer(peer_id_of_key(key)) == Account.from_key(key).address


def test_address_of_peer_refuses_non_members():
    ed = ID.from_pubkey(create_new_key_pair().public_key).to_base58()
    with pytest.raises(BadInputError, match="Ed25519 key, not secp256k1"):
        address_of_peer(ed)
    with pytest.raises(BadInputError, match="not a libp2p peer id"):
        address_of_peer("0OIl-not-base58")


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"\xff", "not UTF-8|not valid JSON"),
        (b"nope", "not UTF-8|not valid JSON"),
        (b"[1]", "not an object"),
        (b"3", "not an object"),
        (b" " * (MAX_MESSAGE_BYTES + 1), f"over {MAX_MESSAGE_BYTES}"),
    ],
)
def test_decode_message_rejects(data, reason):
    with pytest.raises(ValueError, match=reason):
        decode_message(data)


def test_blob_message_checks():
    good = {"type": "have", "digests": ["a" * 64], "addrs": ["/ip4/127.0.0.1/tcp/1"]}
    assert parse_blob_message(good) == ("have", ["a" * 64], ["/ip4/127.0.0.1/tcp/1"])
    for bad in (
        {"type": "gimme", "digests": ["a" * 64]},
        {"type": "have", "digests": "a" * 64},
        {"type": "have", "digests": ["../x"]},
        {"type": "have", "digests": ["a" * 64] * 513},
        {"type": "want", "digests": ["a" * 64], "addrs": ["x"] * 9},
    ):
        with pytest.raises(ValueError):
            parse_blob_message(bad)


def test_rate_gate_limits_each_sender_alone():
    drops = DropCounter()
    gate = RateGate(drops)
    admitted = sum(gate.admit("flooder") for _ in range(1000))
    assert 100 <= admitted < 120  # the burst, plus what refills during the loop
    assert gate.admit("quiet peer")
    assert drops.total("rate limited") == 1000 - admitted


def test_dispatcher_bounds_each_lane_and_serves_round_robin():
    drops = DropCounter()
    seen: list[str] = []
    release = threading.Event()
    d = Dispatcher("test-dispatch", drops, lane_limit=10)
    d.start()
    try:
        d.submit("block", release.wait)
        time.sleep(0.05)
        results = [d.submit("flood", seen.append, "flood") for _ in range(50)]
        assert results.count(True) == 10 and drops.total("queue full") == 40
        assert d.submit("other", seen.append, "other")
        release.set()
        deadline = time.monotonic() + 5
        while len(seen) < 11 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert seen.index("other") <= 1  # not stuck behind the whole flood
    finally:
        release.set()
        d.stop(5)
    assert not any(t.name == "test-dispatch" for t in threading.enumerate())


def test_dispatcher_survives_failing_handlers():
    d = Dispatcher("test-dispatch2", DropCounter())
    d.start()
    done = threading.Event()
    try:
        d.submit("x", lambda: 1 / 0)
        d.submit("x", done.set)
        assert done.wait(5)
    finally:
        d.stop(5)


def test_deeply_nested_gossip_is_refused_not_a_crash():
    from milon_app.p2p.gossip import decode_message

    with pytest.raises(ValueError, match="nested deeper"):
        decode_message(b"[" * 60_000)
    with pytest.raises(ValueError, match="nested deeper"):
        decode_message(b'{"a":' * 20 + b"1" + b"}" * 20)
    assert decode_message(b'{"a": {"b": [1, 2]}}') == {"a": {"b": [1, 2]}}
