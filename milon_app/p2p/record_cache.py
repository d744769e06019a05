"""Verify a peer's signed peer record once, not on every gossip RPC it sends.

py-libp2p's pubsub attaches the sender's signed peer record (``senderRecord``)
to every RPC, control messages included, and checks it twice per RPC (once in
``Pubsub``'s reader, once in ``GossipSub.handle_rpc``): an envelope parse, a
secp256k1 verify and a peerstore rewrite each time. With n hosts the gossip
after an announcement grows ~n², and so did this work.

The check is kept; only its repetition goes. Per host, the digest of the last
record accepted from each peer is remembered; an RPC from that peer carrying
the very same bytes, while the peerstore still holds that record's sequence
number, is accepted without verifying again. Anything else (a new or changed
record, an older one, one from another peer, one the peerstore has replaced)
goes through libp2p's full check. Entries are re-verified after
``REVERIFY_S`` so the record's addresses (TTL two hours) are still refreshed.
"""

from __future__ import annotations

import hashlib
import threading
import time
import weakref
from typing import Any

import libp2p.pubsub.gossipsub as _gossipsub
import libp2p.pubsub.pubsub as _pubsub
from libp2p.abc import IHost
from libp2p.peer.id import ID
from libp2p.pubsub.pb.rpc_pb2 import RPC
from libp2p.pubsub.utils import maybe_consume_signed_record as _full_check

REVERIFY_S = 600.0
_MAX_PEERS = 4096  # per host; past it the cache starts afresh rather than grow

_Entry = tuple[bytes, int, float]  # (digest of the envelope bytes, record seq, accepted at)
_accepted: weakref.WeakKeyDictionary[Any, dict[ID, _Entry]] = weakref.WeakKeyDictionary()
_lock = threading.Lock()
_installed = False


def _stored_seq(host: IHost, peer_id: ID) -> int | None:
    state = getattr(host.get_peerstore(), "peer_record_map", {}).get(peer_id)
    return None if state is None else int(state.seq)


def consume_sender_record(msg: RPC, host: IHost, peer_id: ID) -> bool:
    """libp2p's ``maybe_consume_signed_record``, skipping a repeat of an accepted record."""
    if not msg.HasField("senderRecord"):
        return True
    digest = hashlib.sha256(msg.senderRecord).digest()
    now = time.monotonic()
    with _lock:
        per_host = _accepted.get(host)
        entry = per_host.get(peer_id) if per_host is not None else None
    if (
        entry is not None
        and entry[0] == digest
        and now - entry[2] < REVERIFY_S
        and _stored_seq(host, peer_id) == entry[1]
    ):
        return True
    if not _full_check(msg, host, peer_id):
        return False
    seq = _stored_seq(host, peer_id)
    if seq is not None:
        with _lock:
            per_host = _accepted.setdefault(host, {})
            if len(per_host) >= _MAX_PEERS:
                per_host.clear()
            per_host[peer_id] = (digest, seq, now)
    return True


def install() -> None:
    """Route pubsub's and gossipsub's sender-record check through the cache (idempotent)."""
    global _installed
    if _installed:
        return
    _pubsub.maybe_consume_signed_record = consume_sender_record  # type: ignore[attr-defined]
    _gossipsub.maybe_consume_signed_record = consume_sender_record  # type: ignore[attr-defined]
    _installed = True
