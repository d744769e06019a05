"""Keeps this node's on-chain peer info equal to the addresses it publishes.

Other members dial a member at the peer info it registered. A ``fed join``
without ``--peer-info`` registers nothing, and a node restarted on another
port (or machine) leaves a stale one: either way fetches from it fail with
"no connected peer". So on each tick the node compares, for every federation
it belongs to, the chain's peer info with what its transport publishes now
(:func:`milon_app.p2p.addresses.published`) and sends ``updateMember`` (same
capacity) only when they differ. Gas-aware: the chain is read only when the
addresses changed or a registry event named this node, and a failed update is
retried with backoff, not every tick; one federation is updated at most once
a minute, however often the addresses change, except when the node gained a
relayed address the last update lacked: a node behind a home router publishes
its LAN address at its first tick and gets its relay reservation a moment
later, and until the relayed address is on chain no other member can reach it.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from milon_app.errors import MilonError, NetworkError
from milon_app.node import events as ev
from milon_app.node.chain_watch import backoff_delays
from milon_app.p2p.addresses import fit, is_circuit

if TYPE_CHECKING:
    from milon_app.chain.bindings import Member, Milon

log = logging.getLogger(__name__)
MAX_PEER_INFO = 512  # bytes: FederationRegistry.MAX_PEER_INFO (a longer one reverts)
RETRY_FIRST_S = 15.0
RETRY_MAX_S = 600.0
MIN_UPDATE_S = 60.0  # between two updates of one federation: addresses that flap (observed
# ones come and go with the peers that confirm them) cost at most one transaction a minute


def peer_info_text(addrs: list[str]) -> str:
    """The peer info for ``addrs`` (best first): the whole addresses that fit the registry's
    limit; the rest (loopback ones are ranked last) is left out, and logged."""
    text, left = fit(addrs, MAX_PEER_INFO)
    if left:
        log.warning(
            "peer info: %d address(es) do not fit in %d bytes and are not published: %s",
            len(left),
            MAX_PEER_INFO,
            " ".join(left),
        )
    return text


class PeerInfoKeeper:
    """One per node; :meth:`step` runs on the node's tick, :meth:`touch` on registry events
    that name the node."""

    def __init__(
        self,
        milon: Milon,
        account: Any,
        transport: Any,
        publish: Callable[[ev.Event], None],
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.milon, self.account, self.transport = milon, account, transport
        self.publish = publish
        self.clock = clock
        self._text = ""  # the peer info the node publishes, as last computed
        self._addrs: list[str] = []
        self._todo: set[int] | None = None  # federations to compare; None: every one
        self._retry: dict[int, tuple[float, int]] = {}  # fed -> (not before, failures)
        # (not before: after a failure, its backoff; after an update, MIN_UPDATE_S)
        self._sent: dict[int, str] = {}  # fed -> the peer info this node last put on chain
        self._delay = backoff_delays(RETRY_FIRST_S, RETRY_MAX_S)

    def touch(self, fed_id: int) -> None:
        """Compare ``fed_id`` again on the next step (a join, an update, a slash...)."""
        if self._todo is not None:
            self._todo.add(fed_id)

    def step(self) -> None:
        addrs = self._published()
        if not addrs:
            return  # an in-process peer, or not listening: nothing others could dial
        if addrs != self._addrs:
            self._addrs, self._text, self._todo = addrs, peer_info_text(addrs), None
        if self._todo is None:
            self._todo = set(range(1, self.milon.federation_count() + 1))
        now = self.clock()
        for fed in sorted(self._todo):
            if self._due(fed, now) and self._sync(fed, now):
                self._todo.discard(fed)

    def _due(self, fed: int, now: float) -> bool:
        """Past the federation's wait, or only waiting out the once-a-minute limit with a
        relayed address the last update lacked (a failure's backoff still holds)."""
        not_before, failures = self._retry.get(fed, (0.0, 0))
        if now >= not_before:
            return True
        sent = self._sent.get(fed, "").split()
        return failures == 0 and any(a not in sent for a in _circuits(self._text))

    def _published(self) -> list[str]:
        try:
            return list(self.transport.listen_addrs())
        except NetworkError:
            return []

    def _sync(self, fed: int, now: float) -> bool:
        """True when ``fed`` needs nothing more (equal, updated, or not a member)."""
        mem: Member = self.milon.member(fed, self.account.address)
        if not (mem.active or mem.suspended) or mem.capacity == 0:
            return True  # updateMember would revert: not (or no longer) a member
        if mem.peer_info == self._text:
            self._retry.pop(fed, None)
            return True
        try:
            self.milon.update_member(self.account, fed, mem.capacity, self._text)
        except MilonError as exc:
            failures = self._retry.get(fed, (0.0, 0))[1]
            wait = self._delay(failures)
            self._retry[fed] = (now + wait, failures + 1)
            log.warning("peer info of federation %d not updated (%s); retry in %gs", fed, exc, wait)
            self.publish(ev.NodeError(where="peer info", message=f"federation {fed}: {exc}"))
            return False
        self._retry[fed] = (now + MIN_UPDATE_S, 0)
        self._sent[fed] = self._text
        self.publish(ev.PeerInfoPublished(fed_id=fed, peer_info=self._text, previous=mem.peer_info))
        return True


def _circuits(text: str) -> list[str]:
    return [a for a in text.split() if is_circuit(a)]
