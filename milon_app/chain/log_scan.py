"""Read event logs over a block range in pages a provider accepts.

Public providers refuse an ``eth_getLogs`` over too many blocks or with too many
results ("block range is too wide", "query returned more than 10000 results", code
-32005 or -32602, wording varies). A scan here asks for at most ``max_blocks`` at a
time, halves the window when a page is refused and grows it back slowly after
pages that pass, so one busy stretch of chain does not slow every later scan. The
window learnt is kept per client (:class:`LogWindow`).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

from milon_app.chain.rpc_retry import rpc_error_code, rpc_error_message
from milon_app.errors import ChainError

log = logging.getLogger(__name__)

DEFAULT_MAX_BLOCKS = 1_000
RANGE_ERROR_WORDS = (
    "block range",
    "range is too",
    "range too",
    "more than",
    "too many results",
    "results limit",
    "response size",
    "exceed",
    "limit",
)
RANGE_ERROR_CODES = (-32005, -32602, -32600, -32000, -32001)


def is_range_error(exc: BaseException) -> bool:
    """Whether a getLogs failure says the query was too large (not that it was wrong)."""
    from web3.exceptions import Web3RPCError

    if not isinstance(exc, Web3RPCError):
        return False
    text = rpc_error_message(exc).lower()
    if "rate limit" in text:
        return False
    code = rpc_error_code(exc)
    return any(w in text for w in RANGE_ERROR_WORDS) and (code is None or code in RANGE_ERROR_CODES)


class LogWindow:
    """The number of blocks one getLogs asks for, learnt from the provider's answers.

    A refused size is remembered; after a page passes, the window grows halfway towards
    the smallest refused size (by a quarter while none was refused), so it settles at the
    provider's limit after a few refusals instead of hitting it again and again."""

    def __init__(self, max_blocks: int = DEFAULT_MAX_BLOCKS) -> None:
        if max_blocks < 1:
            raise ValueError(f"max_blocks must be at least 1, got {max_blocks}")
        self.max_blocks = max_blocks
        self.blocks = max_blocks
        self.refusals = 0  # how many pages providers refused (for tests and status)
        self._good = 0  # the largest size that passed since the last refusal below it
        self._bad: int | None = None  # the smallest size refused
        self._lock = threading.Lock()

    def shrink(self, tried: int) -> int:
        with self._lock:
            self.refusals += 1
            self._bad = tried if self._bad is None else min(self._bad, tried)
            if self._good >= tried:  # the provider's limit went down
                self._good = 0
            self.blocks = max(1, self._good, tried // 2)
            return self.blocks

    def passed(self, size: int) -> None:
        with self._lock:
            self._good = max(self._good, size)
            if self._bad is None:
                grown = size + max(1, size // 4)
            else:
                grown = size + (self._bad - size) // 2
            self.blocks = max(1, min(self.max_blocks, grown))


def scan_logs(
    fetch: Callable[[int, int], list[Any]],
    start: int,
    end: int,
    window: LogWindow,
    *,
    on_page: Callable[[int, list[Any]], None] | None = None,
) -> list[Any]:
    """Every log ``fetch(from_block, to_block)`` returns for ``start..end``, in pages.

    ``on_page(last_block, logs)`` runs after each page, so a caller can persist its
    progress; a window of a single block that is still refused raises ChainError."""
    out: list[Any] = []
    block = start
    while block <= end:
        size = window.blocks
        last = min(end, block + size - 1)
        try:
            logs = list(fetch(block, last))
        except Exception as exc:
            if not is_range_error(exc):
                raise
            if last == block:
                raise ChainError(f"the RPC refuses eth_getLogs even for block {block}") from exc
            smaller = window.shrink(last - block + 1)
            log.info("eth_getLogs %d..%d refused (%s); window %d", block, last, exc, smaller)
            continue
        window.passed(last - block + 1)
        out.extend(logs)
        if on_page is not None:
            on_page(last, logs)
        block = last + 1
    return out
