"""Watch the RPC endpoint's health on a thread of its own, with bounded backoff.

The node's own calls only notice a stopped endpoint when their (long)
timeouts run out, and a training node may make no calls for a while. This
watch probes ``eth_blockNumber`` with a short timeout, so the node reports
"disconnected" within seconds of an outage and "connected" as soon as the
endpoint answers again; while it is down the probe backs off exponentially
(bounded), so a dead endpoint is not hammered. Transitions reach the bus as
``ChainStatus`` events through the client's status listeners (NodeCore
publishes them); front-ends read ``client.connected`` and ``client.last_block``
without ever blocking on the chain.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING

from milon_app.errors import MilonError

if TYPE_CHECKING:
    from milon_app.chain.client import ChainClient

log = logging.getLogger(__name__)


def backoff_delays(first_s: float, max_s: float) -> Callable[[int], float]:
    """Delay before retry ``n`` (0-based): first_s, 2x, 4x, ... capped at max_s."""
    if first_s <= 0 or max_s < first_s:
        raise ValueError(f"backoff needs 0 < first_s <= max_s, got {first_s}, {max_s}")

    def delay(n: int) -> float:
        return float(min(max_s, first_s * (2 ** min(n, 30))))

    return delay


class ChainWatch:
    """Probe every ``interval_s`` while connected; back off up to ``max_backoff_s`` while not.

    ``while_connected`` runs after each good probe (the daemon refreshes the
    figures its status shows there, so a status request never waits on the chain).
    """

    def __init__(
        self,
        client: ChainClient,
        *,
        interval_s: float = 2.0,
        probe_timeout_s: float = 2.0,
        max_backoff_s: float = 15.0,
        while_connected: Callable[[], None] | None = None,
    ) -> None:
        self.client = client
        self.interval_s = interval_s
        self.probe_timeout_s = probe_timeout_s
        self._delay = backoff_delays(min(1.0, interval_s), max(max_backoff_s, interval_s))
        self.while_connected = while_connected
        self.failures = 0  # consecutive failed probes (0 while connected)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> ChainWatch:
        self._thread = threading.Thread(target=self._loop, name="milon-chain-watch", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=self.probe_timeout_s + 5)

    def check(self) -> bool:
        """One probe; returns whether the endpoint answered."""
        try:
            self.client.probe(self.probe_timeout_s)
        except MilonError as exc:
            self.failures += 1
            log.debug("chain probe %d failed: %s", self.failures, exc)
            return False
        self.failures = 0
        if self.while_connected is not None:
            try:
                self.while_connected()
            except MilonError as exc:
                log.debug("refresh after probe failed: %s", exc)
        return True

    def next_wait(self) -> float:
        return self.interval_s if self.failures == 0 else self._delay(self.failures - 1)

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                self.check()
            except Exception:  # the watch must outlive any surprise
                log.exception("chain watch probe failed")
                self.failures += 1
            self._stop.wait(self.next_wait())
