"""Dev-chain controls of a chain client: mine, move time, snapshot and revert.

They work on the embedded EVM (eth-tester) and on anvil (its ``anvil_``/``evm_`` RPC
methods); tests, the demo and simulations use them, a real chain refuses them.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    from web3 import Web3

T = TypeVar("T")
EMBEDDED = "embedded"  # the kind of a client on the in-process EVM


class DevChainControls:
    """Mixed into :class:`~milon_app.chain.client.ChainClient`, which sets the fields."""

    kind: str
    w3: Web3
    _lock: threading.RLock
    _fee_cache: tuple[float, int] | None

    if TYPE_CHECKING:

        def rpc(self, fn: Callable[[], T], what: str = "RPC call") -> T: ...

        def now(self) -> int: ...

        def _forget_reads(self) -> None: ...

        def forget_nonces(self) -> None: ...

    def _tester(self) -> Any:
        return self.w3.provider.ethereum_tester  # type: ignore[attr-defined]

    @property
    def evm_lock(self) -> threading.RLock:
        """Held around every call into the embedded EVM (py-evm is not thread-safe); the
        JSON-RPC server that serves this chain to another process takes it too."""
        return self._lock

    def mine(self, blocks: int = 1) -> None:
        self._forget_reads()  # views that read block.number or timestamp change
        if self.kind == EMBEDDED:
            with self._lock:
                self._tester().mine_blocks(blocks)
        else:
            self.rpc(lambda: self.w3.provider.make_request("anvil_mine", [hex(blocks)]))  # type: ignore[arg-type]

    def increase_time(self, seconds: int) -> None:
        """Move chain time forward and mine a block carrying the new time."""
        self._forget_reads()
        if self.kind == EMBEDDED:
            with self._lock:
                self._tester().time_travel(self.now() + int(seconds) + 1)
        else:
            self.rpc(lambda: self.w3.provider.make_request("evm_increaseTime", [int(seconds)]))  # type: ignore[arg-type]
            self.rpc(lambda: self.w3.provider.make_request("evm_mine", []))  # type: ignore[arg-type]
        self._fee_cache = None

    def snapshot(self) -> Any:
        """Save chain state (dev chains only); pass the id to :meth:`revert`."""
        if self.kind == EMBEDDED:
            with self._lock:
                return self._tester().take_snapshot()
        return self.rpc(lambda: self.w3.provider.make_request("evm_snapshot", []))["result"]  # type: ignore[arg-type]

    def revert(self, snapshot_id: Any) -> None:
        if self.kind == EMBEDDED:
            with self._lock:
                self._tester().revert_to_snapshot(snapshot_id)
        else:
            self.rpc(lambda: self.w3.provider.make_request("evm_revert", [snapshot_id]))  # type: ignore[arg-type]
        self.forget_nonces()
