"""One MILON host for the mDNS test, run inside a network namespace by
``ip netns exec NS python tests/netns/mdns_peer.py ...``.

It prints JSON lines: ``{"ready": ..., "peer_id": ..., "digest": ...}`` once listening
(``digest``: a random blob it provides, with ``--serve-bytes``), ``{"event":
"peer_connected", "peer_id": ..., "seconds": ...}`` as peers connect, and, with ``--find
PEER``, ``{"found": bool, "seconds": ...}`` once that peer connected or ``--within``
seconds passed, then ``{"fetched": digest, "sha256_ok": bool}`` for ``--digest``. It
stops its host and exits when stdin closes.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
import threading
import time
from typing import Any

from milon_app.p2p.host import Libp2pTransport
from milon_app.store.blobs import BlobStore

_lock = threading.Lock()
_started = time.monotonic()


def say(**obj: Any) -> None:
    with _lock:
        sys.stdout.write(json.dumps(obj) + "\n")
        sys.stdout.flush()


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--store", required=True)
    parser.add_argument("--listen", required=True)
    parser.add_argument("--mdns", choices=["on", "off"], required=True)
    parser.add_argument("--serve-bytes", type=int, default=0)
    parser.add_argument("--find", default="")
    parser.add_argument("--digest", default="")
    parser.add_argument("--within", type=float, default=20.0)
    args = parser.parse_args()
    arrived: dict[str, threading.Event] = {}
    if args.find:
        arrived[args.find] = threading.Event()

    def on_event(kind: str, data: dict[str, Any]) -> None:
        if kind == "peer_connected":
            say(event=kind, peer_id=data["peer_id"], seconds=time.monotonic() - _started)
            if data["peer_id"] in arrived:
                arrived[data["peer_id"]].set()

    store = BlobStore(args.store)
    peer = Libp2pTransport(
        os.urandom(32), store, listen=[args.listen], mdns=args.mdns == "on", on_event=on_event
    )
    peer.start()
    try:
        digest = ""
        if args.serve_bytes:
            digest = store.put(os.urandom(args.serve_bytes), kind="weights")
            peer.provide(digest)
        say(ready=True, peer_id=peer.peer_id, addrs=peer.listen_addrs(), digest=digest)
        if args.find:
            begun = time.monotonic()
            found = arrived[args.find].wait(args.within)
            say(found=found, seconds=time.monotonic() - begun)
            if found and args.digest:
                peer.fetch(args.digest, kind="weights", providers=[args.find], timeout_s=15)
                ok = hashlib.sha256(store.get(args.digest)).hexdigest() == args.digest
                say(fetched=args.digest, sha256_ok=ok)
        sys.stdin.read()  # until the test closes our stdin
    finally:
        peer.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
