"""Retrying JSON-RPC calls: transient failures and provider rate limits.

Public RPC providers answer a burst of requests with HTTP 429 (often with a
``Retry-After`` header) or with a JSON-RPC error saying "rate limit"; a node that
treats that as a hard failure misses deadlines, and one that retries at once makes
it worse. Calls here back off exponentially with jitter (so many nodes behind one
provider do not retry in step), honour ``Retry-After`` up to a bound, and give up
after a bounded number of attempts.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

log = logging.getLogger(__name__)
T = TypeVar("T")

RATE_LIMIT_WORDS = ("rate limit", "too many requests", "exceeded the quota", "request limit")
MAX_RETRY_AFTER_S = 30.0  # a provider asking for longer is treated as down for now


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how patiently a call is retried (``jitter``: the share of each delay
    drawn at random, so that retries of many clients spread out)."""

    attempts: int = 5
    first_delay_s: float = 0.25
    max_delay_s: float = 8.0
    jitter: float = 0.25
    rate_limit_attempts: int = 12  # 429s are expected in bursts: more patience for them

    def delay(self, attempt: int, rng: random.Random | None = None) -> float:
        """Delay before retry ``attempt`` (1-based): exponential, capped, with jitter."""
        base = min(self.max_delay_s, self.first_delay_s * 2.0 ** min(attempt - 1, 30))
        spread = base * self.jitter
        draw = float((rng or random).random())
        return max(0.0, base - spread + draw * 2 * spread)


def is_transient(exc: BaseException) -> bool:
    """A failure of the connection (not of the request): worth the same call again."""
    import requests
    from web3.exceptions import ProviderConnectionError, TimeExhausted

    return isinstance(
        exc,
        (
            ConnectionError,
            TimeoutError,
            requests.exceptions.ConnectionError,
            requests.exceptions.Timeout,
            ProviderConnectionError,
            TimeExhausted,
        ),
    )


def rate_limit_wait(exc: BaseException) -> float | None:
    """The wait a rate-limited answer asks for (0.0: none named), None if it is no rate limit.

    HTTP 429 (with or without ``Retry-After`` in seconds) and JSON-RPC errors whose
    message says so (code -32005 "limit exceeded" on several providers) count."""
    import requests
    from web3.exceptions import Web3RPCError

    if isinstance(exc, requests.exceptions.HTTPError) and exc.response is not None:
        if exc.response.status_code != 429:
            return None
        header = exc.response.headers.get("Retry-After", "")
        try:
            return min(MAX_RETRY_AFTER_S, max(0.0, float(header)))
        except ValueError:
            return 0.0
    if isinstance(exc, Web3RPCError):
        text = rpc_error_message(exc).lower()
        if any(w in text for w in RATE_LIMIT_WORDS):
            return 0.0
    return None


def rpc_error_message(exc: BaseException) -> str:
    """The JSON-RPC error message of ``exc`` (its text if it carries no response)."""
    response = getattr(exc, "rpc_response", None)
    if isinstance(response, dict):
        error = response.get("error")
        if isinstance(error, dict):
            return str(error.get("message", ""))
    return str(exc)


def rpc_error_code(exc: BaseException) -> int | None:
    response = getattr(exc, "rpc_response", None)
    if isinstance(response, dict) and isinstance(response.get("error"), dict):
        code = response["error"].get("code")
        return code if isinstance(code, int) else None
    return None


class RpcGaveUp(Exception):
    """Raised by :func:`call_with_retry` after its last attempt; ``cause`` is the last error."""

    def __init__(self, what: str, attempts: int, cause: BaseException, rate_limited: bool) -> None:
        self.attempts = attempts
        self.cause = cause
        self.rate_limited = rate_limited
        kind = "rate-limited" if rate_limited else "unreachable"
        super().__init__(f"{what}: {kind} after {attempts} attempts ({type(cause).__name__})")


def call_with_retry(
    fn: Callable[[], T],
    policy: RetryPolicy,
    what: str,
    *,
    on_failure: Callable[[BaseException], None] | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> T:
    """Run ``fn``; retry transient failures and rate limits with jittered backoff.

    Other errors propagate at once. ``on_failure`` hears of each transient failure
    (the client marks itself disconnected); a rate limit is no outage."""
    attempt = 0
    limited = 0
    while True:
        try:
            return fn()
        except Exception as exc:
            wait = rate_limit_wait(exc)
            if wait is not None:
                limited += 1
                if limited >= policy.rate_limit_attempts:
                    raise RpcGaveUp(what, limited, exc, True) from exc
                delay = max(wait, policy.delay(limited))
                log.info("%s rate-limited; retry %d in %.2fs", what, limited, delay)
                sleep(delay)
                continue
            if not is_transient(exc):
                raise
            attempt += 1
            if on_failure is not None:
                on_failure(exc)
            if attempt >= policy.attempts:
                raise RpcGaveUp(what, attempt, exc, False) from exc
            delay = policy.delay(attempt)
            log.warning("%s failed (%s); retry %d in %.2fs", what, exc, attempt, delay)
            sleep(delay)
