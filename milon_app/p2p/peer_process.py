"""A standalone peer driven by JSON lines on stdin, for cross-process tests and benchmarks.

``python -m milon_app.p2p.peer_process --store DIR [--bootstrap ADDR ...]``
prints ``{"ready": ..., "peer_id": ..., "addrs": [...]}``, then answers one
JSON line per command: ``{"op": "put", "size": N, "seed": S}``,
``{"op": "fetch", "digest": D, "providers": [...], "kind": K}``,
``{"op": "connect", "addr": A}``, ``{"op": "subscribe", "topic": T}``,
``{"op": "publish", "topic": T, "message": {...}}``, ``{"op": "peers"}``,
``{"op": "quit"}``. Gossip received on subscribed topics is printed as
``{"event": "message", ...}`` with the latency from the message's ``sent`` field.
The key is random unless ``MILON_P2P_KEY`` (hex) is set; it is never printed.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import threading
import time
from typing import Any

from milon_app.errors import MilonError
from milon_app.p2p.host import Libp2pTransport
from milon_app.store.blobs import BlobStore

_out = threading.Lock()


def _say(obj: dict[str, Any]) -> None:
    with _out:
        sys.stdout.write(json.dumps(obj) + "\n")
        sys.stdout.flush()


def _on_message(topic: str) -> Any:
    def handler(sender: str, message: dict[str, Any]) -> None:
        sent = message.get("sent")
        latency = (time.time() - sent) * 1000 if isinstance(sent, float | int) else None
        _say({"event": "message", "topic": topic, "sender": sender, "latency_ms": latency})

    return handler


def _put(peer: Libp2pTransport, size: int, seed: int) -> str:
    rng = random.Random(seed)  # noqa: S311 - test data, not secrets
    chunk = rng.randbytes(1 << 20)

    def chunks() -> Any:
        left = size
        while left > 0:
            yield chunk[: min(left, len(chunk))]
            left -= len(chunk)

    digest = peer.store.put_stream(chunks(), kind="weights")
    peer.provide(digest)
    return digest


def _handle(peer: Libp2pTransport, cmd: dict[str, Any]) -> dict[str, Any]:
    op = cmd.get("op")
    if op == "put":
        return {"digest": _put(peer, int(cmd["size"]), int(cmd.get("seed", 0)))}
    if op == "fetch":
        started = time.perf_counter()
        digest = peer.fetch(
            cmd["digest"],
            kind=cmd.get("kind", "weights"),
            providers=cmd.get("providers", []),
            timeout_s=float(cmd.get("timeout_s", 120)),
        )
        return {"digest": digest, "seconds": time.perf_counter() - started}
    if op == "connect":
        return {"peer_id": peer.connect(cmd["addr"])}
    if op == "subscribe":
        peer.subscribe(cmd["topic"], _on_message(cmd["topic"]))
        return {}
    if op == "publish":
        peer.publish(cmd["topic"], {**cmd.get("message", {}), "sent": time.time()})
        return {}
    if op == "peers":
        return {"peers": peer.peers()}
    raise ValueError(f"unknown op {op!r}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="peer_process")
    parser.add_argument("--store", required=True)
    parser.add_argument("--bootstrap", action="append", default=[])
    args = parser.parse_args(argv)
    key = bytes.fromhex(os.environ["MILON_P2P_KEY"]) if "MILON_P2P_KEY" in os.environ else None
    peer = Libp2pTransport(key or os.urandom(32), BlobStore(args.store), bootstrap=args.bootstrap)
    peer.start()
    try:
        _say({"ready": True, "peer_id": peer.peer_id, "addrs": peer.listen_addrs()})
        for line in sys.stdin:
            cmd = json.loads(line)
            if cmd.get("op") == "quit":
                break
            try:
                _say({"ok": True, **_handle(peer, cmd)})
            except (MilonError, ValueError, KeyError, TimeoutError) as exc:
                _say({"ok": False, "error": str(exc)})
    finally:
        peer.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
