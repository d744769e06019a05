"""One MILON host for the relay test, run inside a network namespace by
``ip netns exec NS python tests/netns/relay_peer.py ...``.

It prints ``{"ready": true, "peer_id": ..., "addrs": [...]}`` once listening, then answers
one JSON command per stdin line with one JSON line: ``{"cmd": "reach"}`` (how it is
reached), ``{"cmd": "put", "bytes": N}`` (a random blob it provides: its digest),
``{"cmd": "fetch", "digest": D, "providers": [...]}`` (seconds taken, or the error),
``{"cmd": "conns", "peer": P}`` (whether each connection to P is relayed). It stops its
host and exits when stdin closes.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from typing import Any

from libp2p.peer.id import ID

from milon_app.errors import MilonError
from milon_app.p2p.host import Libp2pTransport
from milon_app.p2p.relay import is_relayed
from milon_app.store.blobs import BlobStore


async def _conns(peer: Libp2pTransport, other: str) -> list[bool]:
    net = peer._host.get_network()  # type: ignore[union-attr]
    return [is_relayed(c) for c in net.get_connections(ID.from_base58(other))]


def _answer(peer: Libp2pTransport, cmd: dict[str, Any]) -> dict[str, Any]:
    what = cmd.get("cmd")
    if what == "reach":
        return {"reach": peer.reach().as_dict(), "addrs": peer.listen_addrs()}
    if what == "put":
        digest = peer.store.put(os.urandom(int(cmd["bytes"])), "weights")
        peer.provide(digest)
        return {"digest": digest}
    if what == "fetch":
        started = time.monotonic()
        try:
            peer.fetch(cmd["digest"], kind="weights", providers=cmd["providers"], timeout_s=20)
        except (MilonError, TimeoutError) as exc:
            return {"error": str(exc)}
        return {"seconds": time.monotonic() - started}
    if what == "conns":
        return {"relayed": peer.call(_conns, peer, cmd["peer"])}
    return {"error": f"unknown command {what!r}"}


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--store", required=True)
    parser.add_argument("--listen", required=True)
    parser.add_argument("--reachability", default="auto")
    parser.add_argument("--relay", default="auto")
    parser.add_argument("--bootstrap", nargs="*", default=[])
    args = parser.parse_args()
    peer = Libp2pTransport(
        os.urandom(32),
        BlobStore(args.store),
        listen=[args.listen],
        bootstrap=args.bootstrap,
        reachability=args.reachability,
        relay=args.relay,
    )
    with peer:
        say({"ready": True, "peer_id": peer.peer_id, "addrs": peer.listen_addrs()})
        for line in sys.stdin:
            say(_answer(peer, json.loads(line)))
    return 0


def say(obj: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


if __name__ == "__main__":
    sys.exit(main())
