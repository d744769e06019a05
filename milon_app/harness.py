"""Nodes that share one process and one chain: the demo's federation and the desktop app's
simulated members are both a :class:`LocalFederation`.

It builds each node (:func:`~milon_app.node.build.build_node`), funds it, starts it, dials
the bootstrap peers, joins it to a federation, and closes every started node together.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from milon_app.errors import MilonError

if TYPE_CHECKING:
    from milon_app.chain.deploy import Suite
    from milon_app.node.build import NodeOptions
    from milon_app.node.bus import EventBus
    from milon_app.node.core import NodeCore
    from milon_app.node.transports import Factory

log = logging.getLogger(__name__)
CLOSE_WORKERS = 8  # more at once starve each host's shutdown of the GIL (a 15 s limit)


def peer_info(node: NodeCore) -> str:
    """What a join publishes for peers to dial: the addresses the node publishes (as its
    peer-info keeper keeps them), or the hub's name."""
    from milon_app.node.peer_info import peer_info_text

    return peer_info_text(node.transport.listen_addrs()) or f"inprocess:{node.address}"


class LocalFederation:
    def __init__(self, suite: Suite, bus: EventBus, make: Factory, workdir: Path) -> None:
        self.suite = suite
        self.bus = bus
        self.make = make
        self.workdir = workdir
        self.nodes: list[NodeCore] = []  # started, in order; close() stops them

    def build(
        self, account: Any, name: str, opts: NodeOptions, bootstrap: Sequence[str] = ()
    ) -> NodeCore:
        from milon_app.node.build import build_node

        return build_node(
            account, self.suite, self.bus, self.workdir / name, self.make, opts,
            bootstrap=bootstrap,
        )  # fmt: skip

    def start(self, node: NodeCore) -> NodeCore:
        node.start()
        self.nodes.append(node)
        return node

    def enrol(
        self,
        node: NodeCore,
        *,
        funder: Any,
        milon: int,
        fed_id: int,
        stake: int,
        capacity: int,
        bootstrap: Sequence[str],
    ) -> None:
        """Fund ``node`` with ``milon`` tokens, start it, dial ``bootstrap`` now (rather than
        racing the background bootstrap) and join federation ``fed_id``."""
        from milon_app.chain.bindings import Milon

        Milon(self.suite).transfer(funder, node.address, milon)
        self.start(node)
        for addr in bootstrap:
            node.transport.connect(addr)
        node.join(fed_id, stake, capacity, peer_info(node))

    def close(self, reason: str = "stopped") -> None:
        """Close every node at once: a libp2p host takes a second or two to shut down, which
        in turn would add up over a big federation."""
        from concurrent.futures import ThreadPoolExecutor

        if self.nodes:
            with ThreadPoolExecutor(min(CLOSE_WORKERS, len(self.nodes)), "milon-close") as pool:
                list(pool.map(lambda node: self._close(node, reason), self.nodes))
        self.nodes.clear()

    @staticmethod
    def _close(node: NodeCore, reason: str) -> None:
        """A host slow to stop (a busy machine) is reported; the others are closed all the
        same, and the federation's results stand."""
        try:
            node.close(reason)
        except MilonError as exc:
            log.warning("node %s did not close cleanly: %s", node.address, exc)
