"""The simulation's chain: the embedded EVM with room for big rounds, or a devnet by URL.

``startRound`` assigns every round member in one transaction, so its gas grows with the
round (about 17M gas at 256 members at the time of writing). The embedded client sends a
fixed 8M-gas cap per transaction and py-evm's genesis block holds 30M; the simulation's
embedded chain raises both (:data:`SIM_BLOCK_GAS`), which only a dev chain may do. A devnet
(anvil) needs ``--gas-limit`` of the same size for rounds of a few hundred members.

Reads of facts that can no longer change are kept for the whole run
(:meth:`SimChainClient.call`): a round's member list and committee (fixed by
``startRound``) and an assignment once revealed, declined or lapsed (final states). In the
simulation every committee member reads every revealed assignment, twice (judge, then
aggregate), between other members' writes, which clear the client's ordinary read cache:
N x K reads of the same final values per round. One process holds every member, so it
keeps one copy. (A real node reads them once each per duty; the chain gives the same
answer either way.)

One step earlier, every member's ``Milon.assignment`` is routed through one process-wide
table of final assignments (:meth:`SimChainClient.share_assignments`): building the web3
call object alone costs about a millisecond (ABI lookup and selector hashing), and the
committees ask for the same final assignments 2 x K times each.

Member accounts are derived from the seed (throwaway keys, never for real funds) and
funded from the chain's first dev account, so any member count works on either chain.
"""

from __future__ import annotations

import copy
from typing import Any

from eth_account import Account
from eth_account.signers.local import LocalAccount
from web3 import Web3
from web3.types import TxReceipt

from milon_app.chain.bindings import Assignment, AssignmentState, Milon
from milon_app.chain.client import EMBEDDED, ChainClient, SentTx
from milon_app.chain.errors import ContractRevert
from milon_app.errors import ChainError
from milon_app.sim.pipeline import PassPipeline
from milon_app.sim.txs import FastCall

SIM_BLOCK_GAS = 200_000_000  # the embedded chain's block gas limit and per-transaction cap
SIM_KEY_DOMAIN = b"milon-sim-member/v1"
DEVNET_TX_GAS = 30_000_000  # anvil's default block: a 128-member startRound fits
ETH_TRANSFER = "sendEth"  # send_eth's name in a pass (milon_app.sim.pipeline.SETUP)
DEVNET_BLOCK_GAS = 2**40  # a devnet block: a few thousand transactions of dev_tx_gas each
# Views whose answer never changes once it is non-empty / in a final state.
_FIXED_LISTS = frozenset({"roundMembers", "committee"})
_ASSIGNMENT_STATE = 3  # position of ``state`` in TrainingJobs.assignment's tuple
_FINAL_STATES = frozenset(
    int(s) for s in (AssignmentState.DECLINED, AssignmentState.REVEALED, AssignmentState.LAPSED)
)


class SimChainClient(ChainClient):
    """A :class:`ChainClient` whose embedded chain takes big transactions, and which keeps
    final facts (see the module docstring)."""

    @classmethod
    def embedded(cls) -> SimChainClient:
        from eth_tester import EthereumTester, PyEVMBackend
        from web3 import EthereumTesterProvider

        genesis = PyEVMBackend.generate_genesis_params(overrides={"gas_limit": SIM_BLOCK_GAS})
        tester = EthereumTester(PyEVMBackend(genesis_parameters=genesis))
        w3 = Web3(EthereumTesterProvider(tester))
        keys = tester.backend.account_keys
        accounts = [Account.from_key(k.to_bytes()) for k in keys]
        return cls(w3, kind=EMBEDDED, dev_accounts=accounts)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._final: dict[tuple[str, str], Any] = {}
        self.final_hits = 0  # reads answered from the final-facts cache (for reports)
        self._assignments: dict[tuple[str, int, int, str], Assignment] = {}
        self.pipeline = PassPipeline(self)  # a driver pass on a devnet (milon_app.sim.pipeline)
        # Gas of mined transactions that reverted: on a devnet (no estimate first) a node also
        # sends the few that an estimate would have stopped, such as a confirmation landing
        # after the round closed; the rounds' gas leaves them out, as before.
        self.failed_gas = 0
        self.failed_txs = 0

    @property
    def gas_ok(self) -> int:
        """Gas of the transactions that succeeded."""
        return self.gas_used_total - self.failed_gas

    def _revert_of(
        self, fn: Any, params: dict[str, Any], block: int, tx_hash: Any, name: str
    ) -> ContractRevert:
        """As :meth:`ChainClient._revert_of`; a pass mines many transactions in one block, so
        one that failed because of another in its block (a confirmation after the one that
        closed the round) is named by replaying it on the block's end state instead."""
        failed = super()._revert_of(fn, params, block, tx_hash, name)
        if failed.error_name != "TransactionFailed":
            return failed
        return super()._revert_of(fn, params, block + 1, tx_hash, name)

    def _settle(self, sent: SentTx, receipt: Any) -> TxReceipt:
        if receipt["status"] != 1:
            self.failed_gas += int(receipt["gasUsed"])
            self.failed_txs += 1
            if sent.fn is None:  # a plain ETH transfer (send_eth): no call to replay
                raise ChainError(f"{sent.name} from {sent.sender} failed")
        return super()._settle(sent, receipt)

    def _send(self, fn: Any, sender: LocalAccount, **kwargs: Any) -> SentTx:
        """As :meth:`ChainClient._send`; on a devnet, encoded by :class:`FastCall`."""
        return super()._send(fn if self.kind == EMBEDDED else FastCall(fn), sender, **kwargs)

    def _send_raw(self, raw: bytes, what: str) -> Any:
        """As :meth:`ChainClient._send_raw`; in a pass, queued for a batch (its hash now)."""
        if not self.pipeline.queueing:
            return super()._send_raw(raw, what)
        self.pipeline.raw.append(bytes(raw))
        return Web3.keccak(raw)

    def send_eth(self, sender: LocalAccount, to: str, amount_wei: int) -> TxReceipt:
        """As :meth:`ChainClient.send_eth`; in a join pass on a devnet, without waiting."""
        if not self.pipeline.defers(ETH_TRANSFER):
            return super().send_eth(sender, to, amount_wei)

        def send() -> SentTx:
            with self._lock:
                tx = {"to": Web3.to_checksum_address(to), "value": amount_wei, "gas": 21_000,
                      "chainId": self.chain_id}  # fmt: skip
                pending = self._send_next(
                    sender, lambda n: {**tx, "nonce": n, **self._fees_for(sender.address, n)},
                    "send ETH",
                )  # fmt: skip
            return SentTx(None, {}, sender.address, ETH_TRANSFER, pending.hashes[0], True, pending)

        return self.pipeline.defer(send)

    def transact(self, fn: Any, sender: LocalAccount, **kwargs: Any) -> TxReceipt:
        """As :meth:`ChainClient.transact`; inside a driver pass on a devnet, a member's step
        transaction is sent without waiting for its receipt (see :mod:`~milon_app.sim.pipeline`)."""
        options = {"value": 0, "gas": None, "min_gas": 0, **kwargs}
        receipt = self.pipeline.send(fn, sender, **options)
        return receipt if receipt is not None else super().transact(fn, sender, **kwargs)

    def preload(self, milon: Milon, job_id: int, r: int, members: list[str]) -> None:
        """Batch-read this pass's view of the assignments not yet known to be final."""
        jobs = str(milon.suite.jobs.address)
        todo = [m for m in members if (jobs, job_id, r, m) not in self._assignments]
        self.pipeline.preload(milon, job_id, r, todo)

    def share_assignments(self, milon: Milon) -> None:
        """Answer ``milon.assignment`` from the process-wide table once an assignment is
        final (see the module docstring); anything else is read as before."""
        read, jobs = milon.assignment, str(milon.suite.jobs.address)

        def assignment(job_id: int, r: int, who: str, block: int | str = "latest") -> Assignment:
            if block != "latest":  # a read at a confirmed block: never from the caches
                return read(job_id, r, who, block)
            key = (jobs, job_id, r, who)
            known = self._assignments.get(key)
            if known is not None:
                self.final_hits += 1
                return known
            viewed = self.pipeline.view(jobs, job_id, r, who)
            if viewed is not None:
                return viewed
            a = read(job_id, r, who)
            if int(a.state) in _FINAL_STATES:
                self._assignments[key] = a  # frozen: safe to share
            return a

        milon.assignment = assignment  # type: ignore[method-assign]

    def call(self, fn: Any, block: int | str = "latest") -> Any:
        name = getattr(fn, "fn_name", "")
        if block != "latest" or (name not in _FIXED_LISTS and name != "assignment"):
            return super().call(fn, block)
        key = (str(fn.address), f"{name}{fn.args!r}")  # cheaper than ABI-encoding the call
        if key in self._final:
            self.final_hits += 1
            return copy.deepcopy(self._final[key])
        result = super().call(fn, block)
        if _final(name, result):
            self._final[key] = copy.deepcopy(result)
        return result

    def _gas_for(self, fn: Any, params: dict[str, Any], name: str) -> int:
        gas = super()._gas_for(fn, params, name)
        return SIM_BLOCK_GAS // 2 if self.kind == EMBEDDED else gas


def open_chain(rpc: str) -> SimChainClient:
    """The embedded chain (``rpc`` "embedded") or a devnet at ``rpc`` with its dev accounts.

    On a devnet (chain id 31337) every transaction is sent with a 30M gas limit (at most
    the block's) instead of an estimate first (:attr:`ChainClient.dev_tx_gas`: one round
    trip less per transaction; reverts are still named), blocks may hold 2^40 gas (a
    driver pass mines a cohort's transactions in one block, :mod:`milon_app.sim.pipeline`),
    and web3's request validation is dropped: it asks the node
    for its chain id before every call and estimate (two of every three requests), to
    check a ``chainId`` field our calls never carry; signed transactions carry the chain id
    the client checked once."""
    if rpc == EMBEDDED:
        return SimChainClient.embedded()
    client = SimChainClient.connect(rpc, dev_accounts=2)
    assert isinstance(client, SimChainClient)
    client.w3.middleware_onion.remove("validation")
    # requests reads proxy settings from the environment on every request (a tenth of a
    # 1,000-member round's client time); the devnet is on loopback, no proxy applies
    provider: Any = client.w3.provider
    provider._request_session_manager.cache_and_return_session(rpc).trust_env = False
    latest = client.rpc(lambda: client.w3.eth.get_block("latest"), "eth_getBlock")
    client.dev_tx_gas = min(int(latest["gasLimit"]), DEVNET_TX_GAS)
    if client.is_dev:  # room for a cohort's pass in one block (milon_app.sim.pipeline)
        client.rpc(lambda: provider.make_request("evm_setBlockGasLimit", [hex(DEVNET_BLOCK_GAS)]))
    return client


def member_accounts(count: int, seed: int) -> list[LocalAccount]:
    """``count`` throwaway accounts derived from ``seed`` (the same on every run)."""
    out = []
    for i in range(count):
        key = Web3.keccak(SIM_KEY_DOMAIN + seed.to_bytes(8, "big") + i.to_bytes(8, "big"))
        out.append(Account.from_key(key))
    return out


def _final(name: str, result: Any) -> bool:
    if name in _FIXED_LISTS:
        return bool(result)
    return int(result[_ASSIGNMENT_STATE]) in _FINAL_STATES
