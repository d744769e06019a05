"""A chain client built from the ``chain`` section of the config, limits checked first.

One place turns the settings into client options, so the daemon, the desktop session
and the CLI treat a provider the same way (re-sends, give-up time, getLogs window).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from milon_app.errors import ConfigError

if TYPE_CHECKING:
    from milon_app.chain.client import ChainClient
    from milon_app.config import ChainSettings


def client_options(chain: ChainSettings) -> dict[str, Any]:
    """The constructor options of :class:`ChainClient` the settings ask for."""
    if chain.tx_resend_s < 0:
        raise ConfigError(f"chain.tx_resend_s must be 0 (auto) or more, got {chain.tx_resend_s}")
    if chain.tx_timeout_s <= 0:
        raise ConfigError(f"chain.tx_timeout_s must be more than 0, got {chain.tx_timeout_s}")
    if chain.getlogs_max_blocks < 1:
        raise ConfigError(
            f"chain.getlogs_max_blocks must be at least 1, got {chain.getlogs_max_blocks}"
        )
    if chain.confirmations < 0:
        raise ConfigError(f"chain.confirmations must be 0 or more, got {chain.confirmations}")
    return {
        "confirmations": int(chain.confirmations),
        "resend_after_s": float(chain.tx_resend_s),
        "receipt_timeout_s": float(chain.tx_timeout_s),
        "getlogs_max_blocks": int(chain.getlogs_max_blocks),
    }


def connect_from_settings(chain: ChainSettings, **kwargs: Any) -> ChainClient:
    """A client for ``chain.rpc_url`` (and ``chain.rpc_urls``, checked to agree, with
    failover) with the settings' limits and chain id."""
    from milon_app.chain.client import ChainClient

    options = client_options(chain)
    if chain.rpc_url == "embedded":
        return ChainClient.embedded()
    expected = chain.expected_chain_id or None
    extra = [u for u in chain.rpc_urls if u and u != chain.rpc_url]
    if extra:
        return connect_failover([chain.rpc_url, *extra], expected_chain_id=expected, **options)
    return ChainClient.connect(chain.rpc_url, expected_chain_id=expected, **options, **kwargs)


def connect_failover(
    urls: list[str],
    *,
    expected_chain_id: int | None = None,
    timeout_s: float = 10.0,
    **options: Any,
) -> ChainClient:
    """A client over every endpoint of ``urls`` that agrees with the others (same chain id,
    same recent block hash), failing over between them in order."""
    from web3 import Web3

    from milon_app.chain.client import ChainClient
    from milon_app.chain.rpc_failover import FailoverProvider, agreeing_endpoints

    for url in urls:
        if not url.startswith(("http://", "https://")):
            raise ConfigError(f"unsupported RPC URL {url!r}: expected http(s)://host:port")
    good = agreeing_endpoints(urls, expected_chain_id=expected_chain_id)
    w3 = Web3(FailoverProvider(good, timeout_s))
    return ChainClient(w3, kind="rpc", rpc_url=good[0], rpc_urls=good, **options)
