"""Several RPC endpoints for one chain: checked against each other, then used with failover.

One provider is one point of failure, and a wrong one (another chain, a stale or forked
node) is trusted blindly. With several URLs the node first asks each for its chain id
and head, refuses to start if they serve different chains or disagree on the hash of a
recent block every one of them has (a few blocks below the lowest head, so propagation
delay is no disagreement), leaves out one that agrees but lags far behind, and then sends each
request to the first endpoint that answers: a connection failure, a timeout or a 429
moves on to the next one. A JSON-RPC error (a revert) is an answer, not a failure.

Reads are still trusted from whichever endpoint answers: agreement is checked when the
node connects, not for every read (docs/threat-model.md).
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from web3 import Web3
from web3.providers import JSONBaseProvider
from web3.providers.rpc import HTTPProvider
from web3.types import RPCEndpoint, RPCResponse

from milon_app.chain.errors import RpcUnavailableError, WrongChainError
from milon_app.chain.rpc_retry import is_transient, rate_limit_wait

log = logging.getLogger(__name__)

AGREE_DEPTH = 2  # blocks below the lowest head whose hash every endpoint must agree on
MAX_LAG_BLOCKS = 64  # an endpoint further behind the highest head is left out


def _http(url: str, timeout_s: float) -> HTTPProvider:
    return HTTPProvider(
        url, request_kwargs={"timeout": timeout_s}, exception_retry_configuration=None
    )


def _fails_over(exc: BaseException) -> bool:
    return is_transient(exc) or rate_limit_wait(exc) is not None


class FailoverProvider(JSONBaseProvider):
    """Send each request to the endpoint that answered last, then to the others in order."""

    def __init__(self, urls: list[str], timeout_s: float = 10.0) -> None:
        if not urls:
            raise ValueError("FailoverProvider needs at least one URL")
        super().__init__()
        self.urls = list(urls)
        self._providers = [_http(u, timeout_s) for u in urls]
        self.active = 0
        self.switches = 0  # how often a request moved to another endpoint (tests, status)
        self._lock = threading.Lock()

    @property
    def endpoint_uri(self) -> str:
        return self.urls[self.active]

    def _each(self, call: Any) -> Any:
        first = self.active
        last: BaseException | None = None
        for k in range(len(self._providers)):
            i = (first + k) % len(self._providers)
            try:
                result = call(self._providers[i])
            except Exception as exc:
                if not _fails_over(exc):
                    raise
                last = exc
                continue
            if i != self.active:
                with self._lock:
                    self.active = i
                    self.switches += 1
                log.warning(
                    "RPC %s failed (%s); now using %s", self.urls[first], last, self.urls[i]
                )
            return result
        assert last is not None
        raise last

    def make_request(self, method: RPCEndpoint, params: Any) -> RPCResponse:
        return self._each(lambda p: p.make_request(method, params))  # type: ignore[no-any-return]

    def make_batch_request(self, requests: list[tuple[RPCEndpoint, Any]]) -> Any:
        return self._each(lambda p: p.make_batch_request(requests))

    def is_connected(self, show_traceback: bool = False) -> bool:
        return any(p.is_connected(show_traceback) for p in self._providers)


def agreeing_endpoints(
    urls: list[str], *, expected_chain_id: int | None = None, timeout_s: float = 5.0
) -> list[str]:
    """The endpoints of ``urls`` fit to be trusted together, in the given order.

    Unreachable ones, and agreeing ones lagging over :data:`MAX_LAG_BLOCKS` behind, are
    left out (logged); raises WrongChainError if the others serve different chains (or not the
    expected one) or disagree on a recent block's hash, RpcUnavailableError if none
    answers."""
    heads: dict[str, tuple[Web3, int, int]] = {}  # url -> (w3, chain id, head)
    for url in urls:
        w3 = Web3(_http(url, timeout_s))
        try:
            heads[url] = (w3, int(w3.eth.chain_id), int(w3.eth.block_number))
        except Exception as exc:
            if not _fails_over(exc):
                raise
            log.warning("RPC %s does not answer (%s): left out for now", url, type(exc).__name__)
    if not heads:
        raise RpcUnavailableError(f"none of the RPC endpoints answers: {', '.join(urls)}")
    ids = {url: cid for url, (_w3, cid, _h) in heads.items()}
    if len(set(ids.values())) > 1 or (expected_chain_id and expected_chain_id not in ids.values()):
        shown = ", ".join(f"{u} -> {c}" for u, c in ids.items())
        want = f" (expected {expected_chain_id})" if expected_chain_id else ""
        raise WrongChainError(f"the RPC endpoints serve different chain ids{want}: {shown}")
    height = max(0, min(h for _w3, _c, h in heads.values()) - AGREE_DEPTH)
    hashes = {
        url: bytes(w3.eth.get_block(height)["hash"]).hex() for url, (w3, _c, _h) in heads.items()
    }
    if len(set(hashes.values())) > 1:
        shown = ", ".join(f"{u} -> 0x{h[:16]}…" for u, h in hashes.items())
        raise WrongChainError(f"the RPC endpoints disagree on block {height}'s hash: {shown}")
    top = max(h for _w3, _c, h in heads.values())
    for url in [u for u, (_w3, _c, h) in heads.items() if top - h > MAX_LAG_BLOCKS]:
        log.warning("RPC %s is %d blocks behind: left out", url, top - heads[url][2])
        del heads[url]
    return [u for u in urls if u in heads]
