"""Joining from an invite, for every front-end: the chain checks and what gets written.

``milon join`` and the desktop app (the wizard's network page, the Federations
tab) apply the same rules, so they live here, without Qt or argparse. Nothing
in an invite is trusted until the chain agrees (:func:`check_on_chain`); only
then are the manifest and the config's chain/p2p settings written, and a
refusal leaves both exactly as they were. :func:`check_on_chain` blocks (RPC
round trips): front-ends with an event loop call it on a worker.
"""

from __future__ import annotations

import contextlib
import dataclasses
from pathlib import Path
from typing import TYPE_CHECKING, Any

from milon_app.errors import ConfigError, NotFoundError

if TYPE_CHECKING:
    from milon_app.chain.invite import Invite
    from milon_app.chain.manifest import Manifest
    from milon_app.config import Config, Paths
    from milon_app.session.setup import SecretChoice, SetupResult, WalletChoice
    from milon_app.wallet.os_keyring import OsBackend

JOIN_RETRIES = 2  # an invite's RPC that does not answer twice is reported, not waited on


def check_on_chain(invite: Invite) -> int:
    """Every RPC serves the invite's chain, the suite is there (code at every address),
    the federation exists; returns its minimum stake."""
    from milon_app.chain.bindings import Milon
    from milon_app.chain.client import ChainClient, RetryPolicy
    from milon_app.chain.deploy import Suite
    from milon_app.chain.errors import RpcUnavailableError, WrongChainError

    want = invite.manifest.chain_id
    first: ChainClient | None = None  # the suite is checked through the first RPC
    for url in invite.rpc_urls:
        try:
            client = ChainClient.connect(url, retry=RetryPolicy(attempts=JOIN_RETRIES), timeout_s=5)
            got = client.chain_id
        except RpcUnavailableError as exc:
            raise RpcUnavailableError(f"the invite's RPC {url} is unreachable: {exc}") from None
        if got != want:
            raise WrongChainError(
                f"the invite is for chain id {want} but its RPC {url} serves chain id {got}"
            )
        first = first or client
    assert first is not None  # parse_invite refuses an invite without RPC URLs
    m = Milon(Suite.attach(first, invite.manifest))  # code at every address
    count = m.federation_count()
    if invite.federation > count:
        raise NotFoundError(
            f"the invite names federation {invite.federation}, which does not exist on chain "
            f"{want} ({count} federation(s) there)"
        )
    return int(m.federation(invite.federation).min_stake)


def check_same_chain(invite: Invite, current: Manifest) -> None:
    """The invite is for the chain and deployment this node already uses: joining it needs no
    new settings. Switching networks is the wizard's (or ``milon join --force``'s) job."""
    from milon_app.chain.errors import WrongChainError

    want = invite.manifest
    if want.chain_id != current.chain_id:
        raise WrongChainError(
            f"the invite is for chain id {want.chain_id}, this node works on chain id "
            f"{current.chain_id}: switch networks with the setup wizard or `milon join --force`"
        )
    for name, address in sorted(want.contracts.items()):
        mine = current.contracts.get(name, "")
        if address.lower() != mine.lower():
            raise WrongChainError(
                f"the invite's {name} is at {address}, this node's at {mine}: another "
                "deployment (switch networks with the setup wizard or `milon join --force`)"
            )


def manifest_file(data_dir: Path, invite: Invite) -> Path:
    """Where the invite's manifest is kept: named for its chain and registry address."""
    registry = invite.manifest.contracts["FederationRegistry"].lower()
    return data_dir / "deployments" / f"chain-{invite.manifest.chain_id}-{registry[2:10]}.json"


def check_manifest_free(invite: Invite, path: Path, *, force: bool) -> None:
    """A manifest already there with other content is refused unless ``force``."""
    if path.exists() and path.read_text("utf-8") != invite.manifest.to_json() and not force:
        raise ConfigError(f"{path} exists with other content (--force replaces it)")


def configured(cfg: Config, invite: Invite, manifest: Path, *, force: bool) -> Config:
    """The config with the invite's settings; a key already set otherwise is refused."""
    from milon_app.chain.client import EMBEDDED

    chain, p2p = cfg.chain, cfg.p2p
    urls = list(invite.rpc_urls)
    wanted: list[tuple[str, Any, Any, Any]] = [  # key, current, unset value, new
        ("chain.rpc_url", chain.rpc_url, EMBEDDED, urls[0]),
        ("chain.rpc_urls", chain.rpc_urls, [], urls[1:]),
        ("chain.manifest", chain.manifest, "", str(manifest)),
        ("chain.expected_chain_id", chain.expected_chain_id, 0, invite.manifest.chain_id),
    ]
    for key, current, unset, new in wanted:
        if not force and current not in (unset, new):
            raise ConfigError(
                f"config key {key} is {current!r}, the invite wants {new!r}: nothing written "
                "(--force replaces it)"
            )
    extra = [a for a in invite.bootstrap if a not in p2p.bootstrap]
    bootstrap = list(invite.bootstrap) if force else [*p2p.bootstrap, *extra]  # added, not swapped
    return dataclasses.replace(
        cfg,
        chain=dataclasses.replace(
            chain,
            rpc_url=urls[0],
            rpc_urls=urls[1:],
            manifest=str(manifest),
            expected_chain_id=invite.manifest.chain_id,
        ),
        p2p=dataclasses.replace(p2p, bootstrap=bootstrap),
    )


def setup_from_invite(
    paths: Paths,
    wallet: WalletChoice,
    secret: SecretChoice,
    invite: Invite,
    *,
    os_backend: OsBackend | None = None,
    kdf_n: int | None = None,
) -> SetupResult:
    """The first-run setup on the invite's network: the wizard's Finish. Blocking.

    The manifest goes first (the setup loads it), then :func:`setup.apply_setup` writes the
    keystore and a config set as ``milon join --force`` would; when that fails the manifest
    written here is removed again, so nothing is left behind."""
    from milon_app.session import setup
    from milon_app.wallet.keystore import DEFAULT_KDF_N

    path = manifest_file(paths.data_dir, invite)
    check_manifest_free(invite, path, force=False)
    made = [d for d in (path.parent.parent, path.parent) if not d.exists()]
    created = not path.exists()
    invite.manifest.save(path)
    network = setup.NetworkChoice("custom", invite.rpc_urls[0], str(path), invite.bootstrap)
    try:
        return setup.apply_setup(
            paths, wallet, secret, network, os_backend=os_backend,
            kdf_n=kdf_n or DEFAULT_KDF_N,
            adjust=lambda cfg: configured(cfg, invite, path, force=True),
        )  # fmt: skip
    except BaseException:
        if created:
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
            for folder in reversed(made):  # the folders made for it, when still empty
                with contextlib.suppress(OSError):
                    folder.rmdir()
        raise
