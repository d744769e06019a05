"""When a mined transaction counts as done: ``confirmations`` blocks deep and still canonical.

A block near the head can be replaced (a reorganisation): the transactions in it vanish, or
come back in another block. A node that took its commit, reveal or vote as done the moment
its receipt arrived would never send it again. Here a step's receipt is remembered by its
block's number and hash; it is *final* once the chain's head is ``depth`` blocks past it and
the block at that height still has that hash, *dropped* once it has another (or none), and
*pending* in between. ``depth`` 0 (devnets) makes a canonical receipt final at once.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from collections.abc import Hashable


class Chain(Protocol):
    """What the checks read (a :class:`~milon_app.chain.client.ChainClient` has it)."""

    def block_number(self) -> int: ...

    def block_hash(self, number: int) -> bytes | None: ...


class Status(Enum):
    PENDING = "pending"  # canonical, not yet ``depth`` deep
    FINAL = "final"  # canonical and ``depth`` deep
    DROPPED = "dropped"  # its block is no longer on the chain


@dataclass(frozen=True)
class Landed:
    """Where a transaction was mined: the block's number and hash."""

    block: int
    block_hash: bytes

    @classmethod
    def of(cls, receipt: Any) -> Landed:
        return cls(int(receipt["blockNumber"]), bytes(receipt["blockHash"]))


def status(chain: Chain, landed: Landed, depth: int) -> Status:
    """Whether ``landed`` is final, still pending or dropped by a reorganisation."""
    if depth < 0:
        raise ValueError(f"confirmations must be 0 or more, got {depth}")
    head = chain.block_number()
    if head < landed.block or chain.block_hash(landed.block) != landed.block_hash:
        return Status.DROPPED
    return Status.FINAL if head - landed.block >= depth else Status.PENDING


class Receipts:
    """The receipts of a role's steps (commit, reveal, vote, ...), kept in memory by key.

    A step whose receipt is unknown (sent before a restart, or by the node's other half)
    has no status here: the caller decides from a read at the confirmed block instead."""

    def __init__(self, chain: Chain, depth: int) -> None:
        self.chain = chain
        self.depth = depth
        self._landed: dict[Hashable, Landed] = {}

    def note(self, key: Hashable, receipt: Any) -> None:
        self._landed[key] = Landed.of(receipt)

    def status(self, key: Hashable) -> Status | None:
        """The step's status; a dropped one is forgotten (the chain decides what next)."""
        landed = self._landed.get(key)
        if landed is None:
            return None
        found = status(self.chain, landed, self.depth)
        if found is Status.DROPPED:
            del self._landed[key]
        return found


def confirmed_block(chain: Chain, depth: int) -> int:
    """The newest block that is ``depth`` deep: reads that decide a step are made there."""
    return max(0, chain.block_number() - depth)
