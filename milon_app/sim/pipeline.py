"""One driver pass on a devnet: members' transactions sent back to back, reads in batches.

On a real node each transaction waits for its receipt before the node goes on, and each
read is one request. The simulation drives N members from one process, so per pass it:

- sends the members' own step transactions (:data:`DEFERRABLE`: their callers never read
  the receipt; they re-read the chain on their next step) without waiting, and fetches
  every receipt in JSON-RPC batches after each cohort's steps. Automining is off meanwhile:
  the cohort's transactions are mined together in one block (``evm_mine``), as a block
  producer would; anvil's cost per block grows with the state (it keeps every block's
  state), so thousands of one-transaction blocks cost more than the transactions. The
  simulation's devnet has a block gas limit big enough for that (:func:`open_chain`).
  A failed one is judged as its
  caller would have judged the revert: "already done" reverts (:data:`DONE`, e.g. a
  confirmation that lands after the round closed) are what the caller ignores too; any
  other raises its named revert and stops the run (the member's state DB already says
  "sent"). Any other transaction first waits for the pending ones.
- reads every round member's assignment in one batch at the pass's head block; a member's
  contributor step gets that view (the driver already hands it the round read once per
  pass) unless the member has sent a transaction since (then it reads as usual).

The embedded chain executes each call in-process: nothing is gained there, so it keeps the
ordinary path.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, cast

from eth_abi.abi import decode, encode
from eth_utils.abi import get_abi_input_types, get_abi_output_types
from web3.types import TxReceipt

from milon_app.chain.bindings import Assignment, _build
from milon_app.chain.client import EMBEDDED, RECEIPT_POLL_DEV_S, ChainClient, SentTx
from milon_app.chain.errors import ContractRevert
from milon_app.errors import ChainError
from milon_app.node.committee import DONE_CONFIRM, DONE_VOTE

if TYPE_CHECKING:
    from milon_app.chain.bindings import Milon

# The members' own step transactions: their callers ignore the receipt.
DEFERRABLE = frozenset({"accept", "decline", "commit", "reveal", "submitVerdict", "confirm"})
# The reverts each caller treats as "already done" (it goes on as if its transaction landed).
DONE = {
    "commit": frozenset({"AlreadyCommitted"}),
    "reveal": frozenset({"AlreadyRevealed"}),
    "submitVerdict": DONE_VOTE,
    "confirm": DONE_CONFIRM,
}
# Set-up transactions a join pass may send without waiting (the owner's gas money and stake
# to each member, the member's approve and join): nobody reads their receipts either.
SETUP = frozenset({"sendEth", "transfer", "approve", "join"})
BATCH = 500  # requests per JSON-RPC batch
MINE_AFTER_S = 0.2  # receipts still missing this long after the pass: mine a block


class PassPipeline:
    """The pending transactions and the preloaded assignments of the current pass."""

    def __init__(self, client: ChainClient) -> None:
        self.client = client
        self.active = False
        self.pending: list[SentTx] = []
        self.deferred = 0  # transactions sent without waiting (for reports and tests)
        self.mined = 0  # blocks mined to pick up transactions left pending
        self._views: dict[str, dict[tuple[str, int, int], Assignment]] = {}  # by member
        self._deferrable = DEFERRABLE
        self.raw: list[bytes] = []  # signed transactions of the pass not yet sent
        self.queueing = False  # the client's _send_raw queues into ``raw`` (milon_app.sim.txs)

    @contextmanager
    def one_pass(self, deferrable: frozenset[str] | None = None) -> Iterator[None]:
        """A pass in which the ``deferrable`` transactions go out without waiting (default
        :data:`DEFERRABLE`, the members' steps; :data:`SETUP` for a cohort's joins)."""
        self.active = self.client.kind != EMBEDDED
        self._deferrable = DEFERRABLE if deferrable is None else deferrable
        try:
            yield
        finally:
            self.active = False
            self._views.clear()
            self.settle()

    def defers(self, name: str) -> bool:
        """Whether a transaction called ``name`` is sent without waiting now."""
        return self.active and name in self._deferrable

    def send(self, fn: Any, sender: Any, **kwargs: Any) -> TxReceipt | None:
        """Send ``fn`` without waiting when it may be (None: send it the ordinary way)."""
        self._views.pop(sender.address, None)  # the member's own view is stale from now on
        if not self.defers(getattr(fn, "fn_name", "")):
            self.settle()  # anything else sees the pending ones mined first
            return None
        # No block is mined before settle (automining is off): cached reads stay true.
        return self.defer(lambda: self.client._send(fn, sender, forget=False, **kwargs))

    def defer(self, send: Callable[[], SentTx]) -> TxReceipt:
        """Send with ``send`` into the pass's block; the receipt holds only the hash."""
        if not self.pending:  # the pass's transactions go into blocks mined at settle
            self._automine(False)
        self.queueing = True
        try:
            sent = send()
        finally:
            self.queueing = False
        self.pending.append(sent)
        self.deferred += 1
        # Only the hash: no caller of these reads the receipt.
        return cast(TxReceipt, {"transactionHash": sent.tx_hash})

    def settle(self) -> None:
        """Wait for every pending receipt (batched), count them, raise the first revert."""
        pending, self.pending = self.pending, []
        if not pending:
            return
        try:
            self._send_queued()
            self.client.mine(1)
            self.mined += 1
            receipts = self._receipts([s.tx_hash for s in pending])
        finally:
            self._automine(True)
        failures: list[Exception] = []
        for sent, receipt in zip(pending, receipts, strict=True):
            try:
                self.client._settle(sent, receipt)
            except ContractRevert as exc:
                if exc.error_name not in DONE.get(sent.name, frozenset()):
                    failures.append(exc)
            except ChainError as exc:
                failures.append(exc)
        self.client._saw_head(max(int(r["blockNumber"]) for r in receipts))
        if failures:
            raise failures[0]

    def _send_queued(self) -> None:
        """Send the pass's signed transactions in batches, in the order they were signed."""
        raws, self.raw = self.raw, []
        calls = [("eth_sendRawTransaction", ["0x" + raw.hex()]) for raw in raws]
        for i in range(0, len(calls), BATCH):
            answers = self._ask(calls[i : i + BATCH])
            refused = [a["error"] for a in answers if "error" in a]
            if refused:
                raise ChainError(f"{len(refused)} transactions refused: {refused[0]!r:.300}")

    def _automine(self, on: bool) -> None:
        """A devnet mines each transaction as it arrives; off, it waits for :meth:`settle`."""
        provider: Any = self.client.w3.provider
        self.client.rpc(lambda: provider.make_request("evm_setAutomine", [on]), "evm_setAutomine")

    def _receipts(self, hashes: Sequence[Any]) -> list[dict[str, Any]]:
        found: dict[int, dict[str, Any]] = {}
        deadline = time.monotonic() + self.client.receipt_timeout_s
        nudge = time.monotonic() + MINE_AFTER_S
        while True:
            todo = [i for i in range(len(hashes)) if i not in found]
            calls = [("eth_getTransactionReceipt", ["0x" + bytes(hashes[i]).hex()]) for i in todo]
            for i, raw in zip(todo, self._batch(calls), strict=True):
                if raw is not None:
                    found[i] = {
                        "status": int(raw["status"], 16),
                        "gasUsed": int(raw["gasUsed"], 16),
                        "blockNumber": int(raw["blockNumber"], 16),
                        "transactionHash": hashes[i],
                    }
            if len(found) == len(hashes):
                return [found[i] for i in range(len(hashes))]
            if time.monotonic() > deadline:
                raise ChainError(f"{len(hashes) - len(found)} transactions were never mined")
            time.sleep(RECEIPT_POLL_DEV_S)
            if time.monotonic() > nudge:
                # Some did not fit in the block (its gas limit counts each transaction's
                # limit, dev_tx_gas): mine another.
                self.client.mine(1)
                self.mined += 1
                nudge = time.monotonic() + MINE_AFTER_S

    def _batch(self, calls: list[tuple[str, list[Any]]]) -> list[Any]:
        """The results of ``calls`` (None for an error or an unknown item), in order."""
        out: list[Any] = []
        for i in range(0, len(calls), BATCH):
            answers = self._ask(calls[i : i + BATCH])
            out.extend(None if "error" in a else a.get("result") for a in answers)  # id order
        return out

    def _ask(self, part: list[tuple[str, list[Any]]]) -> list[dict[str, Any]]:
        """One JSON-RPC batch; its answers in request order."""
        provider: Any = self.client.w3.provider
        answers = self.client.rpc(lambda: provider.make_batch_request(part), "batch request")
        if not isinstance(answers, list) or len(answers) != len(part):
            raise ChainError(f"batch request failed: {answers!r:.200}")
        return answers

    # -- reads ----------------------------------------------------------------------------------
    def preload(self, milon: Milon, job_id: int, r: int, members: Sequence[str]) -> None:
        """Read ``members``' assignments in round ``r`` in batches, at the current head."""
        if not self.active or not members:
            return
        jobs = milon.suite.jobs
        fn0 = jobs.functions.assignment(job_id, r, members[0])
        selector, ins, outs = (
            fn0._encode_transaction_data()[:10],
            get_abi_input_types(fn0.abi),
            get_abi_output_types(fn0.abi),
        )
        block = hex(self.client.block_number())
        calls = [
            (
                "eth_call",
                [{"to": jobs.address, "data": selector + encode(ins, [job_id, r, m]).hex()}, block],
            )
            for m in members
        ]
        for m, result in zip(members, self._batch(calls), strict=True):
            if result is not None:
                (value,) = decode(outs, bytes.fromhex(result[2:]))
                self._views.setdefault(m, {})[(str(jobs.address), job_id, r)] = _build(
                    Assignment, value
                )

    def view(self, jobs: str, job_id: int, r: int, who: str) -> Assignment | None:
        """The preloaded assignment of ``who`` (None: read it)."""
        return self._views.get(who, {}).get((jobs, job_id, r))
