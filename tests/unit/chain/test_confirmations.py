"""When a step's receipt counts as done: deep enough and still canonical (confirmations.py)."""

from __future__ import annotations

import pytest

from milon_app.chain.confirmations import Landed, Receipts, Status, confirmed_block, status


class Blocks:
    """A chain's block hashes by height, as an RPC node answers them; ``reorg`` replaces
    the newest ones, as a reorganisation does."""

    def __init__(self, height: int) -> None:
        self.hashes = [bytes([0, i]) for i in range(height + 1)]

    def block_number(self) -> int:
        return len(self.hashes) - 1

    def block_hash(self, number: int) -> bytes | None:
        return self.hashes[number] if number < len(self.hashes) else None

    def mine(self, n: int = 1) -> None:
        self.hashes += [bytes([0, len(self.hashes)]) for _ in range(n)]

    def reorg(self, depth: int, new_height: int | None = None) -> None:
        keep = len(self.hashes) - depth
        height = len(self.hashes) - 1 if new_height is None else new_height
        self.hashes = self.hashes[:keep] + [bytes([1, i]) for i in range(keep, height + 1)]


def receipt(chain: Blocks, number: int) -> dict[str, object]:
    return {"blockNumber": number, "blockHash": chain.block_hash(number)}


@pytest.mark.parametrize("depth", [0, 1, 3, 12])
def test_final_exactly_at_depth(depth: int) -> None:
    chain = Blocks(10)
    landed = Landed.of(receipt(chain, 10))
    for _ in range(depth):
        assert status(chain, landed, depth) is Status.PENDING
        chain.mine()
    assert status(chain, landed, depth) is Status.FINAL
    assert confirmed_block(chain, depth) == 10


def test_a_replaced_block_is_dropped_even_when_deep_enough_by_height() -> None:
    chain = Blocks(10)
    landed = Landed.of(receipt(chain, 8))
    chain.reorg(3)  # blocks 8-10 replaced, the height stays
    assert status(chain, landed, 0) is Status.DROPPED
    chain.mine(20)
    assert status(chain, landed, 2) is Status.DROPPED


def test_a_block_beyond_a_shorter_chain_is_dropped() -> None:
    chain = Blocks(10)
    landed = Landed.of(receipt(chain, 10))
    chain.reorg(2, new_height=9)
    assert status(chain, landed, 0) is Status.DROPPED


def test_a_reorg_below_the_receipt_drops_it_too() -> None:
    chain = Blocks(10)
    landed = Landed.of(receipt(chain, 9))
    chain.reorg(5)  # replaces 6..10: the receipt's block among them
    assert status(chain, landed, 0) is Status.DROPPED
    untouched = Landed.of(receipt(chain, 5))
    assert status(chain, untouched, 5) is Status.FINAL


def test_receipts_by_key_forget_a_dropped_step() -> None:
    chain = Blocks(4)
    steps = Receipts(chain, 2)
    assert steps.status(("commit", 1, 1)) is None  # unknown: the caller reads the chain
    steps.note(("commit", 1, 1), receipt(chain, 4))
    assert steps.status(("commit", 1, 1)) is Status.PENDING
    chain.mine(2)
    assert steps.status(("commit", 1, 1)) is Status.FINAL
    chain.reorg(3)
    assert steps.status(("commit", 1, 1)) is Status.DROPPED
    assert steps.status(("commit", 1, 1)) is None


def test_negative_depth_is_refused() -> None:
    chain = Blocks(1)
    with pytest.raises(ValueError, match="confirmations"):
        status(chain, Landed.of(receipt(chain, 1)), -1)
    assert confirmed_block(chain, 5) == 0
