"""Waiting for a transaction to be mined: polled at the chain's pace, re-sent if lost.

A provider may answer ``eth_sendRawTransaction`` with the hash and never pass the
transaction on (a lossy or overloaded provider, a mempool that evicted it). Waiting
for that receipt forever hangs the node; sending the call again with a new nonce can
do it twice (a second payment, a second claim). Here a transaction not mined within
``resend_after_s`` is signed again with the SAME nonce and fees raised as EIP-1559
replacement asks (at least +10% on both the fee cap and the tip), so at most one of
its versions can ever be mined; every version's receipt is looked for, so one mined
in the meantime is the one used.

Receipts are polled at a pace that suits the chain: at once, then with delays that
double from a few milliseconds up to about a quarter of the block time (bounded), so
an instant-mining devnet answers in milliseconds and a 12 s chain is not polled a
hundred times per block.
"""

from __future__ import annotations

import itertools
import logging
import math
import statistics
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from web3 import Web3

from milon_app.chain.rpc_retry import rpc_error_message
from milon_app.errors import ChainError

if TYPE_CHECKING:
    from eth_account.signers.local import LocalAccount

    from milon_app.chain.client import ChainClient

log = logging.getLogger(__name__)

FEE_BUMP = 1.125  # geth and most pools ask for at least +10% on both fee fields
FIRST_POLL_S = 0.002
MIN_POLL_CAP_S = 0.01  # a devnet whose block time is under the timestamps' 1 s resolution
MAX_POLL_CAP_S = 3.0
BLOCK_TIME_SAMPLE = 8  # gaps between blocks the block time is the median of
BLOCK_TIME_FRESH_S = 300.0
MIN_RESEND_S = 2.0
MIN_RESEND_DEV_S = 0.5  # a devnet mines at once or on its own clock: a lost one is lost
MAX_RESEND_S = 120.0


class TxNotMinedError(ChainError):
    """No version of a transaction was mined in time. It may still be: the nonce is kept,
    so the sender's next transaction replaces it rather than adding a second one."""


# What nodes answer a transaction whose nonce another one already used (mined, or pending
# in the pool): geth, anvil, erigon and besu say "nonce too low", Nethermind "OldNonce"; geth
# answers "replacement transaction underpriced" while the other one is still pending.
NONCE_TAKEN = ("nonce too low", "oldnonce", "replacement transaction underpriced")


def nonce_taken(exc: BaseException) -> bool:
    """Whether the node refused a transaction because its nonce is already used."""
    text = str(exc).lower()
    return any(needle in text for needle in NONCE_TAKEN)


class NonceTakenError(ChainError):
    """Another transaction (sent from elsewhere with the same key) used this nonce."""


def bumped_fees(tx: dict[str, Any], floor: dict[str, int] | None = None) -> dict[str, int]:
    """Fees for a replacement of ``tx``: each raised by :data:`FEE_BUMP` (rounded up), and
    at least ``floor`` (the fees a fresh transaction would pay now)."""
    floor = floor or {}
    if "maxFeePerGas" in tx:
        tip = max(
            math.ceil(int(tx["maxPriorityFeePerGas"]) * FEE_BUMP),
            int(tx["maxPriorityFeePerGas"]) + 1,
            floor.get("maxPriorityFeePerGas", 0),
        )
        cap = max(
            math.ceil(int(tx["maxFeePerGas"]) * FEE_BUMP),
            int(tx["maxFeePerGas"]) + 1,
            floor.get("maxFeePerGas", 0),
            tip,
        )
        return {"maxFeePerGas": cap, "maxPriorityFeePerGas": tip}
    price = int(tx["gasPrice"])
    return {"gasPrice": max(math.ceil(price * FEE_BUMP), price + 1, floor.get("gasPrice", 0))}


def poll_cap(block_time_s: float) -> float:
    """The longest wait between two receipt polls: a quarter block, bounded."""
    return min(MAX_POLL_CAP_S, max(MIN_POLL_CAP_S, block_time_s / 4))


def auto_resend_after(block_time_s: float, dev: bool = False) -> float:
    """How long a transaction may stay unmined before it is re-sent: about four blocks
    (each re-send raises the fees by an eighth: not worth doing sooner)."""
    return min(MAX_RESEND_S, max(MIN_RESEND_DEV_S if dev else MIN_RESEND_S, 4 * block_time_s))


@dataclass
class Pending:
    """One transaction's versions, all with the same sender and nonce."""

    account: LocalAccount
    tx: dict[str, Any]  # the fields last signed (nonce, gas, fees, ...)
    hashes: list[Any] = field(default_factory=list)
    what: str = "transaction"

    @property
    def nonce(self) -> int:
        return int(self.tx["nonce"])


class ReceiptWaiter:
    """Owned by a :class:`ChainClient`; knows the chain's block time and the resend policy."""

    def __init__(
        self, client: ChainClient, *, resend_after_s: float = 0.0, timeout_s: float = 120.0
    ) -> None:
        self.client = client
        self.resend_after_s = resend_after_s  # 0: from the block time
        self.timeout_s = timeout_s
        self.resends = 0  # replacements sent (for tests and status)
        self._block_time: tuple[float, float] | None = None  # (monotonic read, seconds)

    def block_time_s(self) -> float:
        """Seconds per block: the median gap over the last blocks (0.0 on an instant-mining
        chain). A median, so a devnet's time jumps (``evm_increaseTime``) do not count."""
        cached = self._block_time
        if cached is not None and time.monotonic() - cached[0] < BLOCK_TIME_FRESH_S:
            return cached[1]
        c = self.client
        head = int(c.rpc(lambda: c.w3.eth.block_number, "eth_blockNumber"))
        stamps = []
        for number in range(max(0, head - BLOCK_TIME_SAMPLE), head + 1):

            def read(n: int = number) -> Any:
                return c.w3.eth.get_block(n)

            stamps.append(int(c.rpc(read, "eth_getBlock")["timestamp"]))
        gaps = [max(0, b - a) for a, b in itertools.pairwise(stamps)]
        seconds = float(statistics.median(gaps)) if gaps else 0.0
        self._block_time = (time.monotonic(), seconds)
        return seconds

    def resend_after(self) -> float:
        return self.resend_after_s or auto_resend_after(self.block_time_s(), self.client.is_dev)

    def wait(self, pending: Pending) -> Any:
        """The receipt of whichever version of ``pending`` is mined; re-sends as needed."""
        cap = poll_cap(self.block_time_s())
        start = time.monotonic()
        deadline = start + self.timeout_s
        resend_after = self.resend_after()
        last_sent = start
        next_resend = start + resend_after
        delay = FIRST_POLL_S
        while True:
            receipt = self._find(pending)
            if receipt is not None:
                return receipt
            now = time.monotonic()
            if now >= deadline:
                raise TxNotMinedError(
                    f"{pending.what}: not mined in {self.timeout_s:.0f}s after "
                    f"{len(pending.hashes)} version(s) with nonce {pending.nonce}; it may "
                    "still be, and the sender's next transaction replaces it"
                )
            if now >= next_resend and self.resend_after_s == 0:
                # The block time was measured up to BLOCK_TIME_FRESH_S ago, maybe over a burst
                # of instant blocks (a devnet's set-up) before the chain mined on a clock:
                # measure again before re-sending, and wait on if this one is not late yet.
                self._block_time = None
                resend_after, cap = self.resend_after(), poll_cap(self.block_time_s())
                next_resend = last_sent + resend_after
            if now >= next_resend:
                if self._nonce_used(pending):
                    receipt = self._find(pending)  # mined between the two reads
                    if receipt is not None:
                        return receipt
                    raise NonceTakenError(
                        f"{pending.what}: nonce {pending.nonce} of {pending.account.address} "
                        "was used by a transaction this node did not send"
                    )
                if self.client.heal_nonce_gap(pending.account.address, below=pending.nonce):
                    last_sent = time.monotonic()  # a reorg dropped nonces below ours: back
                    next_resend = last_sent + resend_after
                    delay = FIRST_POLL_S
                    continue
                self._replace(pending)
                last_sent = time.monotonic()
                next_resend = last_sent + resend_after
                delay = FIRST_POLL_S
            time.sleep(min(delay, max(0.0, deadline - now)))
            delay = min(cap, delay * 2)

    def _find(self, pending: Pending) -> Any:
        """The receipt of a mined version, or None. With several versions the sender's nonce
        is asked first (one request): only once it moved past ours can one be mined."""
        from web3.exceptions import TransactionNotFound

        c = self.client
        if len(pending.hashes) > 1 and not self._nonce_used(pending):
            return None
        for tx_hash in reversed(pending.hashes):

            def ask(h: Any = tx_hash) -> Any:
                return c.w3.eth.get_transaction_receipt(h)

            try:
                receipt = c.rpc(ask, pending.what)
            except TransactionNotFound:
                continue
            if receipt is not None:
                return receipt
        return None

    def _nonce_used(self, pending: Pending) -> bool:
        c = self.client
        address = pending.account.address
        mined = c.rpc(lambda: c.w3.eth.get_transaction_count(address, "latest"), "nonce")
        return int(mined) > pending.nonce

    def _replace(self, pending: Pending) -> None:
        """Sign ``pending`` again with the same nonce and higher fees, and send it."""
        c = self.client
        tx = {**pending.tx, **bumped_fees(pending.tx, c.current_fees())}
        raw = pending.account.sign_transaction(tx).raw_transaction
        pending.tx = tx
        pending.hashes.append(Web3.keccak(raw))
        c.signed.add(pending.account.address, pending.nonce, raw)
        self.resends += 1
        log.warning(
            "%s not mined after %.1fs: re-sent with nonce %d, fee cap %d, tip %d",
            pending.what, self.resend_after(), pending.nonce,
            int(tx.get("maxFeePerGas", tx.get("gasPrice", 0))),
            int(tx.get("maxPriorityFeePerGas", 0)),
        )  # fmt: skip
        try:
            c.rpc(lambda: c.w3.eth.send_raw_transaction(raw), f"re-send {pending.what}")
        except ChainError:
            raise
        except Exception as exc:  # "nonce too low" (mined), "already known", "underpriced"
            log.info("re-send of %s answered: %s", pending.what, rpc_error_message(exc))
