"""Pick the daemon's peer transport from the config (libp2p unless a test says otherwise)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from milon_app.config import Config
from milon_app.errors import ConfigError
from milon_app.store.blobs import BlobStore


def member_authorizer(suite: Any) -> Callable[[str, str], bool]:
    """Serve blobs only to addresses that are active members of some federation.

    Blob digests are not tied to jobs on the provider side, so membership of
    any federation of this deployment is the check; the digest itself is
    unguessable (sha256) and only published to members on chain.
    """
    from web3 import Web3

    registry = suite.registry
    client = suite.client

    def authorize(requester: str, _digest: str) -> bool:
        if not Web3.is_address(requester):
            return False
        who = Web3.to_checksum_address(requester)
        count = int(client.call(registry.functions.federationCount()))
        for fed in range(1, count + 1):
            if client.call(registry.functions.isActive(fed, who)):
                return True
        # job owners are not members but serve and fetch their own job's blobs
        jobs = suite.jobs
        for job_id in range(1, int(client.call(jobs.functions.jobCount())) + 1):
            if client.call(jobs.functions.job(job_id))[0] == who:
                return True
        return False

    return authorize


def peer_resolver(suite: Any) -> Callable[[str], str | None]:
    """An address's dialable multiaddr, from the peer info it registered on chain."""
    client, registry = suite.client, suite.registry

    def resolve(address: str) -> str | None:
        count = int(client.call(registry.functions.federationCount()))
        for fed in range(1, count + 1):
            info = client.call(registry.functions.member(fed, address))
            peer_info = str(info[2])
            for addr in peer_info.split():
                if "/p2p/" in addr:
                    return addr
        return None

    return resolve


def make_transport(
    cfg: Config, private_key: bytes, store: BlobStore, suite: Any
) -> tuple[Any, Callable[[str], str | None]]:
    kind = cfg.p2p.transport
    if kind == "libp2p":
        try:
            from milon_app.p2p.host import Libp2pTransport
        except ModuleNotFoundError as exc:
            raise ConfigError(f"the libp2p transport is unavailable here: {exc}") from exc
        transport = Libp2pTransport(
            bytes(private_key),
            store,
            listen=[cfg.p2p.listen],
            bootstrap=list(cfg.p2p.bootstrap),
            authorize=member_authorizer(suite),
        )
        return transport, peer_resolver(suite)
    raise ConfigError(f"p2p.transport {kind!r}: a daemon needs 'libp2p'")
