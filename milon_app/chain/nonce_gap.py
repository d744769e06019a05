"""Nonces after a reorganisation: the transactions it dropped are sent again, byte for byte.

A reorganisation can drop mined transactions, and a provider may not put them back in its
pool (anvil's ``anvil_reorg`` does not; geth does). The sender's nonce on chain then falls
below the one this client counts on, and every new transaction waits behind the gap for
good. The client keeps the last signed bytes of each recent nonce; when the chain's nonce
is behind, those are sent again in order: the same content with the same nonce, so a
dropped step comes back as it was and nothing can be mined twice. A nonce whose bytes are
unknown (sent by another process) cannot be filled: the count is reset to the chain's.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from functools import partial
from typing import TYPE_CHECKING

from hexbytes import HexBytes
from web3 import Web3
from web3.exceptions import TimeExhausted

from milon_app.chain.resend import poll_cap
from milon_app.chain.rpc_retry import rpc_error_message
from milon_app.errors import ChainError

if TYPE_CHECKING:
    from milon_app.chain.client import ChainClient

log = logging.getLogger(__name__)
KEEP = 64  # recent nonces per sender whose signed bytes are kept


class SignedTxs:
    """The last signed bytes of each of a sender's recent nonces (newest version wins)."""

    def __init__(self, keep: int = KEEP) -> None:
        self.keep = keep
        self._raw: dict[str, OrderedDict[int, bytes]] = {}

    def add(self, sender: str, nonce: int, raw: bytes) -> None:
        recent = self._raw.setdefault(sender, OrderedDict())
        recent[nonce] = bytes(raw)
        recent.move_to_end(nonce)
        while len(recent) > self.keep:
            recent.popitem(last=False)

    def get(self, sender: str, nonce: int) -> bytes | None:
        return self._raw.get(sender, OrderedDict()).get(nonce)


def heal(client: ChainClient, sender: str, below: int | None = None) -> int:
    """Send again the transactions of ``sender`` a reorganisation dropped (see the module
    docstring); returns how many were sent. Nothing when the chain is not behind.
    ``below``: only nonces under this one (a waiter's own transaction is not in the gap:
    a lossy provider may have dropped it, and it is re-sent with higher fees instead).

    Waits (outside the client's lock) until the last one is mined: reads after a heal must
    see it, or a node acts for a short while on the state without it (anvil answers
    ``eth_sendRawTransaction`` before its automine has built the block)."""
    if client.kind == "embedded":
        return 0
    with client._lock:
        sent = _send_again(client, sender, below)
    if sent:
        client._forget_reads()
        _await_mined(client, sent[-1])
    return len(sent)


def _send_again(client: ChainClient, sender: str, below: int | None) -> list[bytes]:
    """The re-sending itself, under the client's lock; the hashes of what was sent."""
    address = Web3.to_checksum_address(sender)
    counted = client._nonces.get(sender)
    if counted is None:
        return []
    counted = counted if below is None else min(counted, below)
    chain = int(
        client.rpc(lambda: client.w3.eth.get_transaction_count(address, "pending"), "nonce")
    )
    if chain >= counted:
        return []
    sent: list[bytes] = []
    for nonce in range(chain, counted):
        raw = client.signed.get(sender, nonce)
        if raw is None:
            log.warning(
                "nonce %d of %s was dropped by a reorganisation and is not ours to send "
                "again: counting from the chain's nonce %d", nonce, sender, chain,
            )  # fmt: skip
            client._nonces.pop(sender, None)
            return sent
        try:
            client.rpc(partial(client.w3.eth.send_raw_transaction, raw), "re-send dropped")
        except ChainError:
            raise
        except Exception as exc:  # "already known", "nonce too low": it is in the pool
            log.info("re-send of dropped nonce %d answered: %s", nonce, rpc_error_message(exc))
        sent.append(bytes(Web3.keccak(raw)))
    log.warning(
        "a reorganisation dropped %d transaction(s) of %s (nonces %d-%d): sent again",
        len(sent), sender, chain, counted - 1,
    )  # fmt: skip
    return sent


def _await_mined(client: ChainClient, tx_hash: bytes) -> None:
    """Wait for ``tx_hash``'s receipt, up to the client's receipt timeout; the head moves
    to its block. Not mined by then: it stays in the pool, and :func:`unmined` says so."""
    poll = poll_cap(client.waiter.block_time_s())
    try:
        receipt = client.rpc(
            lambda: client.w3.eth.wait_for_transaction_receipt(
                HexBytes(tx_hash), timeout=client.waiter.timeout_s, poll_latency=poll
            ),
            "receipt of a re-sent transaction",
        )
    except TimeExhausted:
        log.info("a re-sent transaction is not mined yet: %s", tx_hash.hex())
        return
    client._saw_head(int(receipt["blockNumber"]))


def unmined(client: ChainClient, sender: str) -> int:
    """How many of ``sender``'s transactions this client sent are not mined yet."""
    counted = client._nonces.get(sender)
    if counted is None or client.kind == "embedded":
        return 0
    address = Web3.to_checksum_address(sender)
    mined = int(client.rpc(lambda: client.w3.eth.get_transaction_count(address, "latest"), "nonce"))
    return max(0, counted - mined)


def dropped_came_back(client: ChainClient, sender: str) -> bool:
    """For a step the state DB has as sent but the chain shows undone (a reorganisation):
    send again, byte for byte, what it dropped of ``sender``'s transactions. True when that
    happened or some are still pending (the step is on its way); False when every one is
    mined and none was missing, so the step itself must be sent again (the same content)."""
    return heal(client, sender, None) > 0 or unmined(client, sender) > 0
