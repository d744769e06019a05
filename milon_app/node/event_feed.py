"""The suite's chain events for every node of a process that shares one chain client, read and
decoded once.

Each node follows the events from its own next block (every event once, in chain order,
resumable: :class:`~milon_app.chain.events.EventCursor`'s contract). Nodes of one process on one
:class:`~milon_app.chain.client.ChainClient` (the demo, the app's simulated members) each asked
the RPC for the same logs and decoded them again: n nodes x the events of n members, every
round. A :class:`SharedFeed` reads and decodes each block range once; each node's
:class:`FeedCursor` keeps its own position in it. The nodes already share that client's cached
reads, so they trust nothing they did not trust before; a process with one node reads as it
did.
"""

from __future__ import annotations

import bisect
import threading
import weakref
from collections.abc import Mapping
from typing import TYPE_CHECKING

from milon_app.chain.events import ChainEvent, EventCursor

if TYPE_CHECKING:
    from web3.contract import Contract

    from milon_app.chain.client import ChainClient


class SharedFeed:
    """The events of ``contracts`` from ``from_block`` on, held until every cursor is past them."""

    def __init__(
        self,
        client: ChainClient,
        contracts: Mapping[str, Contract],
        from_block: int,
    ) -> None:
        self.client, self.contracts = client, contracts
        self._held_from = from_block  # every event from this block on is held (or not yet read)
        self._cursor = EventCursor(client, contracts, from_block)
        self._events: list[ChainEvent] = []  # in chain order
        self._positions: dict[int, int] = {}  # cursor id -> its next block
        self._lock = threading.Lock()

    def join(self, who: int, block: int) -> bool:
        """Hold the events from ``block`` on for cursor ``who``; False when some of them
        were dropped already (that cursor needs a feed of its own)."""
        with self._lock:
            if block < self._held_from:
                return False
            self._positions[who] = block
            return True

    def read(self, who: int, next_block: int) -> tuple[list[ChainEvent], int]:
        """The events at ``next_block`` and after, and the block to resume from. The logs are
        asked for only when the head the client's reads are pinned to is past what the feed
        read (the client re-reads that head at most every HEAD_FRESH_S, and at once after its
        own writes), so a node sees every event up to the state its reads see."""
        with self._lock:
            if self.client.read_block() >= self._cursor.next_block:
                self._events.extend(self._cursor.poll())
            end = self._cursor.next_block
            start = bisect.bisect_left(self._events, next_block, key=lambda e: e.block)
            out = self._events[start:]
            self._positions[who] = end
            self._trim()
            return out, end

    def leave(self, who: int) -> None:
        with self._lock:
            self._positions.pop(who, None)
            self._trim()

    def _trim(self) -> None:
        """Drop what every cursor has read."""
        low = min(self._positions.values(), default=self._cursor.next_block)
        keep = bisect.bisect_left(self._events, low, key=lambda e: e.block)
        if keep:
            del self._events[:keep]
        self._held_from = max(self._held_from, low)


class FeedCursor:
    """One node's position in a :class:`SharedFeed`: :meth:`poll` and :attr:`next_block` as
    an :class:`EventCursor` has them (made by :func:`cursor_for`)."""

    def __init__(self, feed: SharedFeed, from_block: int) -> None:
        self._feed = feed
        self.next_block = from_block

    def poll(self) -> list[ChainEvent]:
        events, self.next_block = self._feed.read(id(self), self.next_block)
        return events

    def close(self) -> None:
        """Stop holding events for this cursor (the node stopped)."""
        self._feed.leave(id(self))


_feeds: weakref.WeakKeyDictionary[ChainClient, dict[tuple[str, ...], SharedFeed]] = (
    weakref.WeakKeyDictionary()
)
_feeds_lock = threading.Lock()


def cursor_for(
    client: ChainClient, contracts: Mapping[str, Contract], from_block: int
) -> FeedCursor:
    """A cursor from ``from_block`` on the feed this process keeps for ``client`` and
    ``contracts`` (a new feed when none holds that block any more)."""
    key = tuple(sorted(str(c.address) for c in contracts.values()))
    with _feeds_lock:
        by_key = _feeds.setdefault(client, {})
        feed = by_key.get(key)
        if feed is not None:
            cursor = FeedCursor(feed, from_block)
            if feed.join(id(cursor), from_block):
                return cursor
        feed = by_key[key] = SharedFeed(client, contracts, from_block)
        cursor = FeedCursor(feed, from_block)
        feed.join(id(cursor), from_block)
        return cursor
