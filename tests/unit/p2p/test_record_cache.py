"""The sender-record cache: a repeat is not verified again, anything else is fully checked."""

from __future__ import annotations

import pytest
from libp2p import new_host
from libp2p.crypto.secp256k1 import create_new_key_pair
from libp2p.peer.envelope import seal_record
from libp2p.peer.id import ID
from libp2p.peer.peer_record import PeerRecord
from libp2p.pubsub.pb.rpc_pb2 import RPC
from multiaddr import Multiaddr

from milon_app.p2p import record_cache


class _Counted:
    def __init__(self) -> None:
        self.calls = 0
        self._real = record_cache._full_check

    def __call__(self, msg, host, peer_id) -> bool:  # type: ignore[no-untyped-def]
        self.calls += 1
        return self._real(msg, host, peer_id)


@pytest.fixture
def full(monkeypatch) -> _Counted:
    counted = _Counted()
    monkeypatch.setattr(record_cache, "_full_check", counted)
    return counted


def _sender(port: int = 4001, seq: int | None = None):  # type: ignore[no-untyped-def]
    pair = create_new_key_pair()
    peer = ID.from_pubkey(pair.public_key)
    return pair, peer, _rpc(pair, peer, port, seq)


def _rpc(pair, peer: ID, port: int, seq: int | None = None) -> RPC:  # type: ignore[no-untyped-def]
    record = PeerRecord(peer, [Multiaddr(f"/ip4/127.0.0.1/tcp/{port}")], seq)
    return RPC(senderRecord=seal_record(record, pair.private_key).marshal_envelope())


def test_a_repeat_is_accepted_without_verifying_again(full: _Counted) -> None:
    host = new_host()
    _, peer, rpc = _sender()
    assert record_cache.consume_sender_record(rpc, host, peer)
    assert record_cache.consume_sender_record(rpc, host, peer)
    assert full.calls == 1
    assert host.get_peerstore().get_peer_record(peer) is not None
    other = new_host()  # another host's cache is its own: it verifies too
    assert record_cache.consume_sender_record(rpc, other, peer)
    assert full.calls == 2


def test_an_rpc_without_a_record_passes(full: _Counted) -> None:
    host = new_host()
    _, peer, _ = _sender()
    assert record_cache.consume_sender_record(RPC(), host, peer)
    assert full.calls == 0


def test_a_tampered_record_is_rejected_after_a_good_one(full: _Counted) -> None:
    host = new_host()
    _, peer, rpc = _sender()
    assert record_cache.consume_sender_record(rpc, host, peer)
    raw = bytearray(rpc.senderRecord)
    raw[-3] ^= 0x01  # inside the signature
    assert not record_cache.consume_sender_record(RPC(senderRecord=bytes(raw)), host, peer)
    assert full.calls == 2


def test_a_cached_record_does_not_pass_for_another_peer(full: _Counted) -> None:
    host = new_host()
    _, peer, rpc = _sender()
    _, other, _ = _sender()
    assert record_cache.consume_sender_record(rpc, host, peer)
    assert not record_cache.consume_sender_record(rpc, host, other)


def test_an_older_record_is_rejected_once_a_newer_is_stored(full: _Counted) -> None:
    host = new_host()
    pair, peer, old = _sender(4001, seq=1)
    assert record_cache.consume_sender_record(old, host, peer)
    assert record_cache.consume_sender_record(_rpc(pair, peer, 4002, seq=2), host, peer)
    assert not record_cache.consume_sender_record(old, host, peer)


def test_a_record_stored_by_another_path_voids_the_cache(full: _Counted) -> None:
    """The peerstore took a newer record (identify, the DHT): the old bytes are checked again."""
    host = new_host()
    pair, peer, old = _sender(4001, seq=1)
    assert record_cache.consume_sender_record(old, host, peer)
    newer = seal_record(PeerRecord(peer, [Multiaddr("/ip4/127.0.0.1/tcp/4003")], 5), pair.private_key)
    assert host.get_peerstore().consume_peer_record(newer, 60)
    assert not record_cache.consume_sender_record(old, host, peer)
    assert full.calls == 2


def test_an_entry_is_verified_again_after_its_time(full: _Counted, monkeypatch) -> None:
    host = new_host()
    _, peer, rpc = _sender()
    assert record_cache.consume_sender_record(rpc, host, peer)
    monkeypatch.setattr(record_cache, "REVERIFY_S", 0.0)
    assert record_cache.consume_sender_record(rpc, host, peer)
    assert full.calls == 2


def test_install_routes_pubsub_through_the_cache() -> None:
    import libp2p.pubsub.gossipsub as gossipsub
    import libp2p.pubsub.pubsub as pubsub

    record_cache.install()
    assert pubsub.maybe_consume_signed_record is record_cache.consume_sender_record  # type: ignore[attr-defined]
    assert gossipsub.maybe_consume_signed_record is record_cache.consume_sender_record  # type: ignore[attr-defined]
