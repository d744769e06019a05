"""A chain client's view of its endpoint's health: listeners and a short-timeout probe.

The client's own calls notice a stopped endpoint only when their (long) timeouts run
out; :meth:`Connectivity.probe` asks once with a short timeout and no retries, so the
node's watch (node/chain_watch.py) reports an outage within seconds. With several
endpoints (rpc_failover.py) the probe fails over between them too.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING

from web3 import Web3

from milon_app.chain.dev_controls import EMBEDDED
from milon_app.chain.errors import RpcUnavailableError
from milon_app.chain.rpc_retry import is_transient as _is_transient

log = logging.getLogger(__name__)


class Connectivity:
    """Mixed into :class:`~milon_app.chain.client.ChainClient`, which sets the fields."""

    kind: str
    rpc_url: str | None
    rpc_urls: list[str]
    connected: bool
    last_block: int
    _status_listeners: list[Callable[[bool, str], None]]
    _probe_w3: Web3 | None

    if TYPE_CHECKING:

        def block_number(self) -> int: ...

    def add_status_listener(self, listener: Callable[[bool, str], None]) -> None:
        """Call ``listener(connected, detail)`` whenever the endpoint goes away or comes back."""
        self._status_listeners.append(listener)

    def remove_status_listener(self, listener: Callable[[bool, str], None]) -> None:
        with contextlib.suppress(ValueError):
            self._status_listeners.remove(listener)

    def _set_connected(self, connected: bool, detail: str = "") -> None:
        if connected == self.connected:
            return
        self.connected = connected
        if connected:
            log.info("RPC %s reachable again", self.rpc_url or self.kind)
        else:
            log.warning("RPC %s unreachable: %s", self.rpc_url or self.kind, detail)
        for listener in list(self._status_listeners):
            try:
                listener(connected, detail)
            except Exception:  # a listener must not break chain calls
                log.exception("chain status listener failed")

    def probe(self, timeout_s: float = 2.0) -> int:
        """One ``eth_blockNumber`` with a short timeout and no retries: a health check.

        A stopped or hung endpoint is noticed within ``timeout_s`` even while
        other calls wait out their longer timeouts. Raises RpcUnavailableError.
        """
        if self.kind == EMBEDDED:
            return self.block_number()
        if self._probe_w3 is None:
            from milon_app.chain.rpc_failover import FailoverProvider

            self._probe_w3 = Web3(FailoverProvider(self.rpc_urls, timeout_s))
        try:
            block = int(self._probe_w3.eth.block_number)
        except Exception as exc:
            if not _is_transient(exc):
                raise
            detail = f"RPC {self.rpc_url} does not answer ({type(exc).__name__})"
            self._set_connected(False, detail)
            raise RpcUnavailableError(detail) from exc
        self.last_block = max(self.last_block, block)
        self._set_connected(True)
        return block
