"""Misbehaving peers, written with libp2p directly: nothing they send crashes us or
lands in the store, every rejection has a logged reason, and the fetch moves on."""

from __future__ import annotations

import hashlib
import json
import logging
import os
import struct
import time
import tracemalloc

import pytest
import trio

from milon_app.errors import NetworkError
from milon_app.p2p.transport import MAX_MESSAGE_BYTES

from .gossip_wait import wait_for, wait_for_gossip
from .rawpeer import RawPeer, ok_header

BLOB = os.urandom(300_000)
DIGEST = hashlib.sha256(BLOB).hexdigest()


async def wrong_bytes(stream, _digest):
    await stream.write(ok_header(len(BLOB)) + os.urandom(len(BLOB)))
    await stream.close()


async def oversized(stream, _digest):
    await stream.write(ok_header(1 << 40))
    with trio.move_on_after(5):
        while True:  # would stream forever if the fetcher kept reading
            await stream.write(b"\0" * 65536)


async def truncated(stream, _digest):
    await stream.write(ok_header(len(BLOB)) + BLOB[: len(BLOB) // 2])
    await stream.close()  # a peer that dies mid-transfer looks like this: a clean EOF


async def too_many(stream, _digest):
    await stream.write(ok_header(len(BLOB)) + BLOB + b"extra bytes")
    await stream.close()


async def garbage_status(stream, _digest):
    await stream.write(b"\xff" + os.urandom(200))
    await stream.close()


async def huge_reason(stream, _digest):
    await stream.write(struct.pack(">BH", 1, 60000) + b"x" * 100)
    await stream.close()


async def silent(stream, _digest):
    await trio.sleep(30)


CASES = {
    "wrong_bytes": (wrong_bytes, "does not match|hash"),
    "oversized": (oversized, "announced 1099511627776 bytes, over the weights limit"),
    "truncated": (truncated, "stream ended"),
    "too_many": (too_many, "sent more bytes than the announced length"),
    "garbage_status": (garbage_status, "unknown status 255"),
    "huge_reason": (huge_reason, "60000-byte error reason"),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_bad_provider_is_skipped_and_next_one_serves(case, make_peer, caplog):
    handler, reason = CASES[case]
    honest, me = make_peer("honest"), make_peer("me", limits={"weights": 1 << 30})
    honest.store.put(BLOB, "weights")
    bad = RawPeer(blob_handler=handler).start()
    try:
        with caplog.at_level(logging.WARNING, logger="milon_app.p2p.fetch"):
            me.fetch(DIGEST, kind="weights", providers=[bad.addr(), honest.listen_addrs()[0]])
        assert me.store.get(DIGEST) == BLOB
        assert any(bad.peer_id in r.getMessage() or bad.addr() in r.getMessage() for r in caplog.records)
        import re

        assert re.search(reason, caplog.text), caplog.text
        assert not list((me.store.root / "tmp").iterdir())  # no half-written leftovers
    finally:
        bad.stop()


@pytest.mark.parametrize("case", sorted(CASES))
def test_bad_provider_alone_gives_network_error(case, make_peer):
    handler, reason = CASES[case]
    me = make_peer("me", limits={"weights": 1 << 30})
    bad = RawPeer(blob_handler=handler).start()
    try:
        with pytest.raises(NetworkError, match=reason):
            me.fetch(DIGEST, kind="weights", providers=[bad.addr()])
        assert not me.store.has(DIGEST)
    finally:
        bad.stop()


def test_silent_provider_times_out(make_peer):
    me = make_peer("me")
    bad = RawPeer(blob_handler=silent).start()
    try:
        started = time.monotonic()
        with pytest.raises(NetworkError, match=DIGEST):
            me.fetch(DIGEST, kind="weights", providers=[bad.addr()], timeout_s=1.5)
        assert time.monotonic() - started < 8
    finally:
        bad.stop()


def test_fetch_memory_stays_bounded(make_peer):
    """A 16 MB transfer never holds the blob in memory (chunks of <= 1 MiB in flight)."""
    a, b = make_peer("a"), make_peer("b")
    blob = os.urandom(16 << 20)
    digest = a.store.put(blob, "weights")
    del blob
    b.connect(a.listen_addrs()[0])
    tracemalloc.start()
    try:
        b.fetch(digest, kind="weights", providers=[a.peer_id])
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert b.store.has(digest)
    assert peak < 8 << 20, f"peak {peak / 1e6:.1f} MB during a 16 MB fetch"


@pytest.mark.parametrize(
    "raw",
    [
        b"",  # nothing, then reset
        b"\x07" + b"\0" * 40,  # unknown version
        b"\x01" + b"\0" * 32 + b"\xff" + b"k" * 255,  # kind too long
        b"\x01" + b"\0" * 32 + b"\x05movie",  # unknown kind
        os.urandom(5000),  # noise
    ],
)
def test_garbage_requests_do_not_hurt_the_server(raw, make_peer, caplog):
    server = make_peer("server")
    blob = b"still served afterwards"
    digest = server.store.put(blob, "weights")
    bad = RawPeer().start()
    try:
        bad.connect(server.listen_addrs()[0])
        reply = bad.open_blob_stream(server.peer_id, raw)
        assert not reply.startswith(b"\x00")  # never an OK
    finally:
        bad.stop()
    other = make_peer("other")
    assert other.fetch(digest, kind="weights", providers=[server.listen_addrs()[0]]) == digest


def test_gossip_flood_is_rate_limited_and_others_still_heard(make_peer):
    slow_calls = []

    def slow_handler(sender, message):
        slow_calls.append(sender)
        time.sleep(0.01)

    me, honest = make_peer("me"), make_peer("honest")
    me.subscribe("t", slow_handler)
    flooder = RawPeer().start()
    try:
        flooder.subscribe("t")
        flooder.connect(me.listen_addrs()[0])
        honest.connect(me.listen_addrs()[0])
        wait_for_gossip(flooder, "t", me)
        wait_for_gossip(honest, "t", me)
        payloads = [json.dumps({"n": i}).encode() for i in range(600)]
        flooder.publish_many("t", payloads, gap_s=0.002)  # ~400 msgs/s
        honest.publish("t", {"from": "honest"})
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and honest.address not in slow_calls:
            time.sleep(0.05)
        assert honest.address in slow_calls  # not starved by the flood
        stats = me.stats()
        assert stats["gossip_rate_limited"] + stats["gossip_queue_full"] > 0
        assert stats["gossip_rate_limited"] > 300
        assert len(slow_calls) < 300
        # and the node still serves blobs
        digest = me.store.put(b"still alive", "weights")
        assert honest.fetch(digest, kind="weights", providers=[me.peer_id]) == digest
    finally:
        flooder.stop()


def test_malformed_gossip_is_dropped_with_reason(make_peer, caplog):
    got = []
    me = make_peer("me")
    me.subscribe("t", lambda s, m: got.append(m))
    flooder = RawPeer().start()
    try:
        flooder.subscribe("t")
        flooder.connect(me.listen_addrs()[0])
        wait_for_gossip(flooder, "t", me)
        with caplog.at_level(logging.WARNING, logger="milon_app.p2p.gossip"):
            flooder.publish_many(
                "t",
                [
                    b"\xff\xfe not utf8",
                    b"not json",
                    b"[1, 2, 3]",
                    json.dumps({"pad": "x" * MAX_MESSAGE_BYTES}).encode(),
                    json.dumps({"ok": True}).encode(),
                ],
            )
            deadline = time.monotonic() + 5
            while time.monotonic() < deadline and not got:
                time.sleep(0.05)
        assert got == [{"ok": True}]
        assert me.stats()["gossip_malformed"] == 4
        assert "not valid JSON" in caplog.text or "not UTF-8" in caplog.text
        assert "not an object" in caplog.text
        assert f"over {MAX_MESSAGE_BYTES}" in caplog.text
    finally:
        flooder.stop()


def test_bogus_blob_announcements_are_ignored(make_peer):
    me = make_peer("me")
    flooder = RawPeer().start()
    try:
        flooder.subscribe("milon/blobs")
        flooder.connect(me.listen_addrs()[0])
        wait_for_gossip(flooder, "milon/blobs", me)
        flooder.publish_many(
            "milon/blobs",
            [
                json.dumps({"type": "have", "digests": ["../../etc/passwd"]}).encode(),
                json.dumps({"type": "have", "digests": []}).encode(),
                json.dumps({"type": "nuke"}).encode(),
                json.dumps({"type": "have", "digests": [DIGEST], "addrs": ["/bad"]}).encode(),
            ],
        )
        assert wait_for(lambda: me.have.providers(DIGEST))  # the last (good) one arrived
        assert me.stats()["gossip_malformed"] == 3
        assert [p.to_base58() for p in me.have.providers(DIGEST)] == [flooder.peer_id]
    finally:
        flooder.stop()
