"""Waiting for the gossip mesh instead of sleeping through heartbeats.

A message published on a topic goes straight to the publisher's mesh peers for
that topic (or, when it does not subscribe, to the peers it knows subscribe);
the mesh forms on GossipSub's one-second heartbeat after peers connect. Tests
wait until the publisher's own view names every receiver, then publish.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any


def wait_for(predicate: Callable[[], Any], timeout: float = 10.0, step: float = 0.05) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(step)
    return False


def wait_for_gossip(publisher: Any, topic: str, *receivers: Any, timeout: float = 10.0) -> None:
    """Until a publish by ``publisher`` on ``topic`` reaches every one of ``receivers``."""
    wanted = {r.peer_id for r in receivers}
    if not wait_for(lambda: wanted <= set(publisher.gossip_peers(topic)), timeout):
        seen = publisher.gossip_peers(topic)
        raise AssertionError(f"{topic}: {publisher.peer_id} reaches {seen}, not all of {wanted}")
