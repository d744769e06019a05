"""The pieces behind provider limits, without a chain: retry waits, the error shapes
providers use, the getLogs window, replacement fees and the config's bounds."""

from __future__ import annotations

import random

import pytest
import requests
from web3.exceptions import Web3RPCError

from milon_app.chain.from_config import client_options
from milon_app.chain.log_scan import LogWindow, is_range_error, scan_logs
from milon_app.chain.resend import auto_resend_after, bumped_fees, poll_cap
from milon_app.chain.rpc_retry import (
    RetryPolicy,
    RpcGaveUp,
    call_with_retry,
    rate_limit_wait,
)
from milon_app.config import ChainSettings
from milon_app.errors import ConfigError


def rpc_error(code: int, message: str) -> Web3RPCError:
    response = {"jsonrpc": "2.0", "id": 1, "error": {"code": code, "message": message}}
    return Web3RPCError(repr(response["error"]), rpc_response=response)  # type: ignore[arg-type]


def http_429(retry_after: str | None) -> requests.exceptions.HTTPError:
    response = requests.Response()
    response.status_code = 429
    if retry_after is not None:
        response.headers["Retry-After"] = retry_after
    return requests.exceptions.HTTPError("429", response=response)


def test_retry_delays_grow_are_capped_and_jittered():
    policy = RetryPolicy(first_delay_s=0.1, max_delay_s=1.0, jitter=0.25)
    rng = random.Random(1)
    draws = [policy.delay(n, rng) for n in range(1, 8)]
    assert all(0.075 <= d <= 1.25 for d in draws) and draws[-1] >= 0.75
    assert len({round(policy.delay(3, rng), 6) for _ in range(5)}) > 1  # not in step


def test_rate_limits_are_recognised_and_retry_after_honoured():
    assert rate_limit_wait(http_429("2")) == 2.0
    assert rate_limit_wait(http_429(None)) == 0.0
    assert rate_limit_wait(http_429("3600")) == 30.0  # bounded
    assert rate_limit_wait(rpc_error(-32005, "daily request limit exceeded")) == 0.0
    assert rate_limit_wait(rpc_error(-32000, "execution reverted")) is None
    slept: list[float] = []
    answers = iter([http_429("0.5"), http_429(None), "ok"])

    def call() -> str:
        item = next(answers)
        if isinstance(item, Exception):
            raise item
        return item

    policy = RetryPolicy(first_delay_s=0.01, max_delay_s=0.02)
    assert call_with_retry(call, policy, "read", sleep=slept.append) == "ok"
    assert slept[0] >= 0.5 and slept[1] < 0.5
    with pytest.raises(RpcGaveUp, match="rate-limited after 3"):
        call_with_retry(
            lambda: (_ for _ in ()).throw(http_429(None)),
            RetryPolicy(rate_limit_attempts=3, first_delay_s=0.001),
            "read",
            sleep=slept.append,
        )


@pytest.mark.parametrize(
    ("code", "message", "refused"),
    [
        (-32005, "query returned more than 10000 results. Try with this block range", True),
        (-32602, "Log response size exceeded. block range is too wide", True),
        (-32000, "block range too large", True),
        (-32602, "invalid argument 0: hex string without 0x prefix", False),
        (-32005, "rate limit exceeded", False),
        (3, "execution reverted", False),
    ],
)
def test_getlogs_range_errors_of_several_providers(code: int, message: str, refused: bool):
    assert is_range_error(rpc_error(code, message)) is refused


def test_the_log_window_settles_at_the_provider_limit():
    limit, asked = 100, []
    window = LogWindow(400)

    def fetch(a: int, b: int) -> list[int]:
        asked.append(b - a + 1)
        if b - a + 1 > limit:
            raise rpc_error(-32005, "query returned more than 10000 results")
        return list(range(a, b + 1))

    assert scan_logs(fetch, 0, 2_999, window) == list(range(3_000))
    assert window.refusals <= 12 and window.blocks <= limit + 1
    assert asked[-5:] == [100] * 4 + [asked[-1]]  # steady at the limit once learnt


def test_replacement_fees_are_at_least_ten_percent_higher_on_both():
    tx = {"maxFeePerGas": 3_000_000_000, "maxPriorityFeePerGas": 1_000_000_000}
    fees = bumped_fees(tx)
    assert fees["maxFeePerGas"] >= 3_300_000_000 and fees["maxPriorityFeePerGas"] >= 1_100_000_000
    tiny = bumped_fees({"maxFeePerGas": 1, "maxPriorityFeePerGas": 0})
    assert tiny["maxFeePerGas"] >= 2 and tiny["maxPriorityFeePerGas"] >= 1
    floor = bumped_fees(tx, {"maxFeePerGas": 9 * 10**9, "maxPriorityFeePerGas": 10**9})
    assert floor["maxFeePerGas"] == 9 * 10**9  # the base fee rose: pay today's price
    assert bumped_fees({"gasPrice": 100})["gasPrice"] >= 110


def test_poll_and_resend_pace_follow_the_block_time():
    assert poll_cap(0.0) == 0.01 and poll_cap(2.0) == 0.5 and poll_cap(60.0) == 3.0
    assert auto_resend_after(12.0) == 48.0 and auto_resend_after(0.0) == 2.0
    assert auto_resend_after(0.0, dev=True) == 0.5 and auto_resend_after(600.0) == 120.0


def test_chain_settings_bounds_and_defaults():
    assert client_options(ChainSettings()) == {
        "confirmations": 0,
        "resend_after_s": 0.0,
        "receipt_timeout_s": 120.0,
        "getlogs_max_blocks": 1_000,
    }
    for bad in (
        {"tx_resend_s": -1.0},
        {"tx_timeout_s": 0.0},
        {"getlogs_max_blocks": 0},
        {"confirmations": -1},
    ):
        with pytest.raises(ConfigError, match="chain."):
            client_options(ChainSettings(**bad))  # type: ignore[arg-type]
