"""Batched commits and openings: many members' commit or reveal in one transaction.

A member's own ``commit`` and ``reveal`` each pay a 21,000 gas base fee and read the round's
cold slots; a batch pays them once. Anyone may send a batch. A commit entry carries the
member's EIP-712 signature (domain "MILON TrainingJobs" version "2" on this chain and
contract; type ``Commit(uint256 jobId,uint256 roundId,bytes32 commitment)``), so only the
member decides what is committed in its name. An opening needs none: it opens only its
member's commitment, whose salt is derived from that member's key. The contract runs each
entry through the member's own checks and skips a failing one (``BatchEntrySkipped``), so
one entry cannot sink the others. Nodes hand their entries to a batcher over gossip and fall
back to their own transaction (:mod:`milon_app.node.batching`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from eth_account import Account
from eth_account.messages import encode_typed_data
from eth_utils.address import is_address, to_checksum_address
from web3.logs import DISCARD

from milon_app.chain.errors import error_name

if TYPE_CHECKING:
    from eth_account.signers.local import LocalAccount
    from web3.types import TxReceipt

    from milon_app.chain.bindings import Milon

DOMAIN_NAME = "MILON TrainingJobs"
DOMAIN_VERSION = "2"
_TYPES = {
    "Commit": [
        {"name": "jobId", "type": "uint256"},
        {"name": "roundId", "type": "uint256"},
        {"name": "commitment", "type": "bytes32"},
    ]
}
# Per entry: what a landed entry can cost at most (a first commit that also accepts), and a
# margin for the call itself; the embedded chain's fixed 8M per call is too little for 256.
GAS_PER_ENTRY = 90_000
GAS_BASE = 100_000


@dataclass(frozen=True)
class SignedCommit:
    member: str
    commitment: bytes
    signature: bytes  # 65 bytes: r || s || v


@dataclass(frozen=True)
class Opening:
    member: str
    update_hash: bytes
    num_samples: int
    salt: bytes


@dataclass(frozen=True)
class BatchOutcome:
    receipt: TxReceipt
    landed: tuple[str, ...]
    skipped: dict[str, str] = field(default_factory=dict)  # member -> the error it hit


def _typed(milon: Milon, job_id: int, r: int, commitment: bytes) -> Any:
    domain = {
        "name": DOMAIN_NAME,
        "version": DOMAIN_VERSION,
        "chainId": milon.suite.client.chain_id,
        "verifyingContract": milon.suite.jobs.address,
    }
    message = {"jobId": job_id, "roundId": r, "commitment": commitment}
    return encode_typed_data(domain_data=domain, message_types=_TYPES, message_data=message)


def sign_commit(
    milon: Milon, account: LocalAccount, job_id: int, r: int, commitment: bytes
) -> SignedCommit:
    signed = account.sign_message(_typed(milon, job_id, r, commitment))
    return SignedCommit(account.address, bytes(commitment), bytes(signed.signature))


def commit_signer(milon: Milon, job_id: int, r: int, entry: SignedCommit) -> str | None:
    """Who signed ``entry`` (recovered here, no RPC); None for a malformed signature."""
    if len(entry.signature) != 65 or len(entry.commitment) != 32:
        return None
    try:
        return str(
            Account.recover_message(
                _typed(milon, job_id, r, entry.commitment), signature=entry.signature
            )
        )
    except Exception:  # eth_keys raises several types for a bad signature
        return None


def _compact(signature: bytes) -> tuple[bytes, bytes]:
    """EIP-2098: (r, yParity << 255 | s) from a 65-byte r || s || v signature."""
    r, s, v = signature[:32], int.from_bytes(signature[32:64], "big"), signature[64]
    parity = v - 27 if v >= 27 else v
    return r, (s | (parity << 255)).to_bytes(32, "big")


def commit_batch(
    milon: Milon, sender: LocalAccount, job_id: int, r: int, entries: Sequence[SignedCommit]
) -> BatchOutcome:
    args = [(e.commitment, *_compact(e.signature)) for e in entries]
    fn = milon.suite.jobs.functions.commitBatch(job_id, r, args)
    return _outcome(milon, _send(milon, fn, sender, len(entries)), "UpdateCommitted")


def reveal_batch(
    milon: Milon, sender: LocalAccount, job_id: int, r: int, entries: Sequence[Opening]
) -> BatchOutcome:
    args = [(o.member, o.update_hash, o.num_samples, o.salt) for o in entries]
    fn = milon.suite.jobs.functions.revealBatch(job_id, r, args)
    return _outcome(milon, _send(milon, fn, sender, len(entries)), "UpdateRevealed")


def _send(milon: Milon, fn: Any, sender: LocalAccount, n: int) -> TxReceipt:
    return milon.suite.client.transact(fn, sender, min_gas=GAS_BASE + GAS_PER_ENTRY * n)


def _outcome(milon: Milon, receipt: TxReceipt, landed_event: str) -> BatchOutcome:
    events = milon.suite.jobs.events
    landed = tuple(
        str(e["args"]["member"])
        for e in getattr(events, landed_event)().process_receipt(receipt, errors=DISCARD)
    )
    skipped = {
        str(e["args"]["member"]): error_name(bytes(e["args"]["reason"]))
        for e in events.BatchEntrySkipped().process_receipt(receipt, errors=DISCARD)
    }
    return BatchOutcome(receipt, landed, skipped)


# -- gossip messages ---------------------------------------------------------------------------
def commit_message(job_id: int, r: int, e: SignedCommit) -> dict[str, Any]:
    return {"type": "commit", "job": job_id, "round": r, "member": e.member,
            "commitment": e.commitment.hex(), "sig": e.signature.hex()}  # fmt: skip


def opening_message(job_id: int, r: int, o: Opening) -> dict[str, Any]:
    return {"type": "opening", "job": job_id, "round": r, "member": o.member,
            "update_hash": o.update_hash.hex(), "samples": o.num_samples,
            "salt": o.salt.hex()}  # fmt: skip


def parse_batch_message(msg: dict[str, Any]) -> tuple[int, int, SignedCommit | Opening]:
    """The entry in a ``milon/batch`` gossip message; ValueError naming what is wrong."""
    kind = msg.get("type")
    job, r = _uint(msg, "job", 2**64), _uint(msg, "round", 2**32)
    member = msg.get("member")
    if not isinstance(member, str) or not is_address(member):
        raise ValueError(f"member {member!r:.60}: not an address")
    member = to_checksum_address(member)
    if kind == "commit":
        return job, r, SignedCommit(member, _hex(msg, "commitment", 32), _hex(msg, "sig", 65))
    if kind == "opening":
        samples = _uint(msg, "samples", 2**64)
        return job, r, Opening(member, _hex(msg, "update_hash", 32), samples, _hex(msg, "salt", 32))
    raise ValueError(f"type {kind!r:.40}: expected commit or opening")


def _uint(msg: dict[str, Any], key: str, bound: int) -> int:
    value = msg.get(key)
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value < bound:
        raise ValueError(f"{key} {value!r:.40}: expected an integer in 0..{bound - 1}")
    return value


def _hex(msg: dict[str, Any], key: str, size: int) -> bytes:
    value = msg.get(key)
    try:
        raw = bytes.fromhex(value) if isinstance(value, str) else b""
    except ValueError:
        raw = b""
    if len(raw) != size:
        raise ValueError(f"{key}: expected {size} bytes as hex")
    return raw
