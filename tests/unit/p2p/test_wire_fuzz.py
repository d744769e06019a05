"""Property tests for everything a peer can put on the wire.

Pure parsers (gossip payloads, blob announcements, multiaddrs, peer IDs) take
arbitrary bytes. The blob stream protocol's framing is fuzzed for real: a
bare libp2p host (tests/unit/p2p/rawpeer.py) sends drawn requests to a
running node, and answers a node's fetches with drawn replies, over Noise on
127.0.0.1. The node answers with a well-formed refusal or the right blob,
fetches end in the blob or a NetworkError, and nothing half-written stays.
"""

from __future__ import annotations

import hashlib
import json
import os
import struct

import pytest
from hypothesis import event, given
from hypothesis import strategies as st
from libp2p.peer.id import ID

from milon_app.errors import BadInputError, NetworkError
from milon_app.p2p.blob_protocol import MAX_REASON, STATUS_NAMES
from milon_app.p2p.discovery import (
    MAX_DIGESTS_PER_HAVE,
    parse_blob_message,
    parse_multiaddr,
    peer_info,
)
from milon_app.p2p.gossip import decode_message
from milon_app.p2p.host import Libp2pTransport
from milon_app.p2p.identity import address_of_id, address_of_peer, peer_id_of_key
from milon_app.p2p.transport import MAX_MESSAGE_BYTES
from milon_app.store.blobs import BlobStore
from tests.unit.fuzz_util import FUZZ, FUZZ_SLOW, bounded_memory, outcome

from .rawpeer import RawPeer

PEER_IDS = [peer_id_of_key(bytes([i]) * 32) for i in (1, 2, 3)]  # real members' peer ids
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=70),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=16,
)
digests = st.sampled_from(
    ["ab" * 32, "AB" * 32, "ab" * 31, "../" * 21 + "a", "", 7, None]
) | st.binary(min_size=32, max_size=32).map(bytes.hex)


# ---------------------------------------------------------------- gossip payloads


@FUZZ
@given(
    st.binary(max_size=400)
    | json_values.map(lambda v: json.dumps(v).encode())
    | st.integers(1, 5000).map(lambda n: b'{"a":[' * n)
    | st.just(b" " * (MAX_MESSAGE_BYTES + 1))
)
def test_gossip_payloads_decode_to_an_object_or_value_error(data):
    """ValueError is the gossip layer's refusal (BadInputError is one); the validator drops it."""
    message = outcome(lambda: decode_message(data), ValueError)
    assert message is None or isinstance(message, dict)


@st.composite
def blob_messages(draw: st.DrawFn) -> dict:
    message = {
        "type": draw(st.sampled_from(["have", "want", "HAVE", "", None])),
        "digests": draw(st.lists(digests, max_size=4) | json_values),
    }
    if draw(st.booleans()):
        message["addrs"] = draw(
            st.lists(st.text(max_size=40) | json_values, max_size=10) | json_values
        )
    if draw(st.integers(0, 9)) == 0:
        message["digests"] = ["ab" * 32] * (MAX_DIGESTS_PER_HAVE + 1)
    return message


@FUZZ
@given(blob_messages())
def test_blob_announcements_parse_to_checked_digests_or_value_error(message):
    parsed = outcome(lambda: parse_blob_message(message), ValueError)
    if parsed is not None:
        kind, checked, addrs = parsed
        assert kind in ("have", "want") and 0 < len(checked) <= MAX_DIGESTS_PER_HAVE
        assert all(len(d) == 64 and d == d.lower() and int(d, 16) >= 0 for d in checked)
        assert all(isinstance(a, str) and len(a) <= 300 for a in addrs)


@FUZZ
@given(
    st.text(max_size=80)
    | st.from_regex(r"\A/ip4/127\.0\.0\.1/tcp/[0-9]{1,6}(/p2p/[1-9A-Za-z]{0,50})?\Z")
    | st.binary(max_size=40).map(lambda b: "/p2p/" + b.hex())
    | st.tuples(st.sampled_from(["", "/ip4/127.0.0.1/tcp/9", "/ip4/10.0.0.1/tcp/065535"]),
                st.sampled_from(PEER_IDS)).map(lambda t: f"{t[0]}/p2p/{t[1]}")
)
def test_multiaddrs_and_peer_ids_parse_or_bad_input(text):
    outcome(lambda: parse_multiaddr(text, need_peer=False), BadInputError)
    info = outcome(lambda: peer_info(text), BadInputError)
    if info is not None:
        # the peer is the one the text names last; the addresses to dial carry no peer part,
        # and the canonical form (ports without leading zeros) parses back to the same peer
        pid = info.peer_id.to_base58()
        assert text.endswith(f"/p2p/{pid}")
        assert all("/p2p/" not in str(a) for a in info.addrs)
        again = peer_info("".join(str(a) for a in info.addrs) + f"/p2p/{pid}")
        assert (again.peer_id, again.addrs) == (info.peer_id, info.addrs)
    address = outcome(lambda: address_of_peer(text.rsplit("/", 1)[-1]), BadInputError)
    assert address is None or (address.startswith("0x") and len(address) == 42)


@FUZZ
@given(
    st.binary(max_size=60)
    | st.tuples(st.integers(0, 40), st.binary(max_size=50)).map(lambda t: bytes([0, t[0]]) + t[1])
)
def test_sender_ids_from_gossip_give_an_address_or_bad_input(raw):
    """A gossip message's from_id is raw bytes; the address comes from the key it embeds."""
    address = outcome(lambda: address_of_id(ID(raw)), BadInputError)
    assert address is None or len(address) == 42


# ---------------------------------------------------------------- blob streams over real libp2p

BLOB = b"a blob the fuzzed peers ask for" * 50
DIGEST = hashlib.sha256(BLOB).hexdigest()


@pytest.fixture(scope="module")
def node(tmp_path_factory):
    """A real node serving BLOB, and a bare libp2p host connected to it."""
    server = Libp2pTransport(os.urandom(32), BlobStore(tmp_path_factory.mktemp("server")))
    server.start()
    raw = None
    try:
        server.store.put(BLOB, "weights")
        raw = RawPeer().start()
        raw.connect(server.listen_addrs()[0])
        yield server, raw
    finally:
        if raw is not None:
            raw.stop()
        server.stop()


@st.composite
def requests(draw: st.DrawFn) -> bytes:
    version = draw(st.sampled_from([1, 1, 0, 2, 255]))
    digest = draw(
        st.sampled_from([bytes.fromhex(DIGEST), b"\0" * 32]) | st.binary(min_size=32, max_size=32)
    )
    kind = draw(
        st.sampled_from([b"weights", b"spec", b"update", b"", b"w" * 40]) | st.binary(max_size=12)
    )
    kind_len = draw(st.sampled_from([len(kind)]) | st.integers(0, 255))
    raw = struct.pack(">B32sB", version, digest, kind_len) + kind
    raw = raw[: draw(st.integers(0, len(raw)))] if draw(st.integers(0, 4)) == 0 else raw
    return raw + draw(st.binary(max_size=16))


def _check_reply(request: bytes, reply: bytes, kinds: set[str]) -> None:
    """The server's answer is framed as the protocol says, and OK only for a real request."""
    event(f"reply status {reply[0] if reply else 'none (reset)'}")
    if not reply:
        return  # the server may reset a stream that never sent a whole request
    status = reply[0]
    if status == 0:
        version, digest, kind_len = struct.unpack(">B32sB", request[:34])
        kind = request[34 : 34 + kind_len]
        assert version == 1 and digest.hex() == DIGEST and len(kind) == kind_len
        assert kind.decode("ascii") in kinds
        (length,) = struct.unpack(">Q", reply[1:9])
        assert length == len(BLOB) and reply[9:] == BLOB
        return
    assert status in STATUS_NAMES, reply[:20]
    (size,) = struct.unpack(">H", reply[1:3])
    assert size <= MAX_REASON and len(reply) == 3 + size
    reply[3:].decode("utf-8")


def test_drawn_requests_get_framed_answers_and_the_node_keeps_serving(node):
    server, raw = node

    @FUZZ_SLOW
    @given(requests())
    def check(request: bytes) -> None:
        reply = raw.open_blob_stream(server.peer_id, request, reply_max=len(BLOB) + 64)
        _check_reply(request, reply, set(server.store.limits))

    with bounded_memory():
        check()
    again = raw.open_blob_stream(
        server.peer_id,
        struct.pack(">B32sB", 1, bytes.fromhex(DIGEST), 7) + b"weights",
        len(BLOB) + 64,
    )
    assert again == struct.pack(">BQ", 0, len(BLOB)) + BLOB


_REPLY: dict[str, bytes] = {}


async def _drawn_reply(stream, _digest):
    await stream.write(_REPLY["bytes"])
    await stream.close()


@st.composite
def replies(draw: st.DrawFn) -> bytes:
    status = draw(st.sampled_from([0, 0, 1, 2, 3, 4, 5, 6, 255]))
    if status != 0:
        reason = draw(st.binary(max_size=40))
        size = draw(st.sampled_from([len(reason)]) | st.integers(0, 65535))
        return struct.pack(">BH", status, size) + reason
    body = draw(
        st.sampled_from([BLOB, BLOB[:-1], BLOB + b"!", b""])
        | st.binary(max_size=64)
        | st.just(bytes(len(BLOB)))
    )
    length = draw(st.sampled_from([len(body), len(BLOB), 0, 1 << 40]) | st.integers(0, 4096))
    reply = struct.pack(">BQ", 0, length) + body
    return reply[: draw(st.integers(0, len(reply)))] if draw(st.integers(0, 5)) == 0 else reply


def test_drawn_replies_end_in_the_right_blob_or_network_error(tmp_path):
    me = Libp2pTransport(os.urandom(32), BlobStore(tmp_path / "me"), want_wait_s=0.1)
    me.start()
    bad = None
    try:
        bad = RawPeer(blob_handler=_drawn_reply).start()
        me.connect(bad.addr())

        @FUZZ_SLOW
        @given(replies())
        def check(reply: bytes) -> None:
            _REPLY["bytes"] = reply
            got = outcome(
                lambda: me.fetch(DIGEST, kind="weights", providers=[bad.peer_id], timeout_s=5),
                NetworkError,
            )
            event("fetched" if got is not None else "network error")
            if got is not None:
                assert me.store.get(DIGEST) == BLOB  # only the real bytes are ever stored
                assert reply.startswith(struct.pack(">BQ", 0, len(BLOB)) + BLOB)
                me.store.delete(DIGEST)
            assert not me.store.has(DIGEST)
            assert not list((me.store.root / "tmp").glob("*"))

        with bounded_memory():
            check()
        _REPLY["bytes"] = struct.pack(">BQ", 0, len(BLOB)) + BLOB  # and an honest reply works
        assert me.fetch(DIGEST, kind="weights", providers=[bad.peer_id], timeout_s=5) == DIGEST
    finally:
        if bad is not None:
            bad.stop()
        me.stop()
