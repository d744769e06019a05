"""Plumbing shared by the chain commands (``fed``, ``job``, ``gov``, ``rewards``).

One place decides which RPC, which deployment manifest and which key a
command uses, so every command refuses the same mistakes with the same
message: the embedded chain (it cannot outlive one process), a manifest for
another chain, devnet keys on a real network. Amounts are MILON as decimal
strings of whole tokens; the chain sees wei.
"""

from __future__ import annotations

import argparse
import io
import re
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from milon_app.cli.context import Context
from milon_app.errors import BadInputError, NotFoundError
from milon_app.units import check_address as check_address  # re-exported for the commands
from milon_app.units import duration as duration
from milon_app.units import format_amount as format_amount
from milon_app.units import parse_amount as parse_amount
from milon_app.units import relative as relative
from milon_app.units import utc as utc

if TYPE_CHECKING:
    from eth_account.signers.local import LocalAccount

    from milon_app.chain.client import ChainClient
    from milon_app.chain.deploy import Suite

DECIMALS = 18
WEI = 10**18
DEVNET_CHAIN_ID = 31337  # anvil/hardhat default: the only chain where dev keys are accepted
MAX_DEV_ACCOUNT = 999


def positive_int(text: str, what: str, *, maximum: int | None = None, minimum: int = 1) -> int:
    try:
        value = int(text)
    except (TypeError, ValueError):
        raise BadInputError(f"{what} must be a whole number, got {text!r}") from None
    if value < minimum or (maximum is not None and value > maximum):
        top = f"..{maximum}" if maximum is not None else " or more"
        raise BadInputError(f"{what} must be {minimum}{top}, got {value}")
    return value


def parse_hash(text: str, what: str = "hash") -> bytes:
    """A 32-byte hash as 64 hex digits, with or without 0x."""
    raw = text[2:] if text.lower().startswith("0x") else text
    if not re.fullmatch(r"[0-9a-fA-F]{64}", raw):
        raise BadInputError(f"{what} {text!r} is not 32 bytes of hex (64 hex digits)")
    return bytes.fromhex(raw)


# ---------------------------------------------------------------- rendering


def table(title: str, columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    """A rich table as plain text (no colour codes: output may be piped)."""
    from rich.console import Console
    from rich.table import Table

    buf = io.StringIO()
    console = Console(file=buf, width=140, no_color=True, highlight=False)
    t = Table(title=title)
    for col in columns:
        t.add_column(col)
    for row in rows:
        t.add_row(*("-" if v is None or v == "" else str(v) for v in row))
    console.print(t)
    return buf.getvalue()


def pairs(items: Iterable[tuple[str, Any]]) -> str:
    rows = list(items)
    width = max((len(k) for k, _ in rows), default=0)
    return "\n".join(f"{k:<{width}}  {v}" for k, v in rows)


# ---------------------------------------------------------------- arguments


def add_chain_args(p: argparse.ArgumentParser, *, account: str = "sign") -> None:
    """``--rpc`` and ``--manifest``; with ``account`` "read" or "sign" also the key flags.

    "read" identifies the account (no password needed), "sign" unlocks it.
    """
    g = p.add_argument_group("chain")
    g.add_argument("--rpc", metavar="URL", help="JSON-RPC URL (default: config chain.rpc_url)")
    g.add_argument(
        "--manifest",
        type=Path,
        metavar="PATH",
        help="deployment manifest (default: config chain.manifest, else "
        "<data>/deployments/devnet.json written by `milon devnet`)",
    )
    if account == "none":
        return
    add_account_args(p, sign=account == "sign")


def add_account_args(p: argparse.ArgumentParser, *, sign: bool = True) -> None:
    """``--dev-account`` / ``--keystore`` (and with ``sign`` the secret-store flags)."""
    w = p.add_argument_group("account")
    w.add_argument(
        "--dev-account",
        type=int,
        metavar="N",
        help="use THROWAWAY dev account N of the public test mnemonic instead of the wallet "
        "(devnets only)",
    )
    w.add_argument(
        "--keystore",
        metavar="PATH",
        help="keystore file (default: config wallet.keystore, else <data>/wallet/keystore.json)",
    )
    if not sign:
        return
    from milon_app.wallet.secret_store import CHOICES

    w.add_argument(
        "--secret-store",
        choices=CHOICES,
        help="where the keystore password is kept (default: config wallet.secret_store)",
    )
    w.add_argument(
        "--password-file",
        metavar="PATH",
        help="read the keystore password from this 0600 file (also $MILON_WALLET_PASSWORD_FILE)",
    )


def manifest_path(ctx: Context, args: argparse.Namespace) -> Path:
    if args.manifest:
        return Path(args.manifest).expanduser()
    if ctx.config.chain.manifest:
        return Path(ctx.config.chain.manifest).expanduser()
    default = ctx.data_dir / "deployments" / "devnet.json"
    if default.exists():
        return default
    raise NotFoundError(
        "no deployment manifest: pass --manifest PATH, set config chain.manifest, "
        f"or start `milon devnet` (it writes {default})"
    )


def rpc_url(ctx: Context, args: argparse.Namespace, manifest_rpc: str) -> str:
    """--rpc, else the config, else the URL the manifest was deployed through."""
    from milon_app.chain.client import EMBEDDED

    url = str(args.rpc or "")
    if not url:
        configured = ctx.config.chain.rpc_url
        url = manifest_rpc if configured == EMBEDDED and manifest_rpc else configured
    if url == EMBEDDED:
        raise BadInputError(
            "the embedded chain lives only inside one process: start `milon devnet` and pass "
            "--rpc (or set config chain.rpc_url)"
        )
    return url


def open_chain(ctx: Context, args: argparse.Namespace) -> tuple[ChainClient, Suite]:
    """Connect and attach to the deployment; refuses the wrong chain or missing contracts."""
    from milon_app.chain.client import ChainClient, RetryPolicy
    from milon_app.chain.deploy import Suite
    from milon_app.chain.from_config import client_options
    from milon_app.chain.manifest import Manifest

    manifest = Manifest.load(manifest_path(ctx, args))
    url = rpc_url(ctx, args, manifest.rpc_url)
    dev: int | None = getattr(args, "dev_account", None)
    if dev is not None and not 0 <= dev <= MAX_DEV_ACCOUNT:
        raise BadInputError(f"--dev-account must be in 0..{MAX_DEV_ACCOUNT}, got {dev}")
    client = ChainClient.connect(
        url,
        expected_chain_id=ctx.config.chain.expected_chain_id or None,
        dev_accounts=0 if dev is None else dev + 1,
        retry=RetryPolicy(attempts=3),
        **client_options(ctx.config.chain),  # the daemon's re-send and getLogs limits
    )
    return client, Suite.attach(client, manifest)


def _check_devnet(client: ChainClient) -> None:
    if client.chain_id != DEVNET_CHAIN_ID:
        raise BadInputError(
            f"--dev-account uses the PUBLIC test mnemonic: refused on chain {client.chain_id} "
            f"(devnets only, chain id {DEVNET_CHAIN_ID}); sign with the wallet instead"
        )


def account_address(ctx: Context, args: argparse.Namespace, client: ChainClient) -> str:
    """Whose account a read-only view is about; no password needed."""
    if args.dev_account is not None:
        _check_devnet(client)
        return str(client.dev_accounts[args.dev_account].address)
    from milon_app.cli.cmd_wallet import keystore_path
    from milon_app.wallet.keystore import Wallet

    return str(Wallet.load(keystore_path(args, ctx)).address)


def signer(ctx: Context, args: argparse.Namespace, client: ChainClient) -> LocalAccount:
    """The dev account, or the wallet unlocked the way ``milon wallet`` does it."""
    if args.dev_account is not None:
        _check_devnet(client)
        dev: LocalAccount = client.dev_accounts[args.dev_account]
        return dev
    return unlock_wallet(ctx, args)


def unlock_wallet(ctx: Context, args: argparse.Namespace) -> LocalAccount:
    """Password from --password-file/env, else the secret store, else the terminal."""
    from milon_app.cli.cmd_wallet import (
        NO_PASSWORD,
        input_password_file,
        keystore_path,
        secret_store_for,
        working,
    )
    from milon_app.wallet.keystore import Wallet
    from milon_app.wallet.password_file import read_secret_file
    from milon_app.wallet.passwords import getpass_ask

    wallet = Wallet.load(keystore_path(args, ctx))
    given = input_password_file(args)
    secret = read_secret_file(given) if given else secret_store_for(args, ctx).get(wallet.address)
    if secret is None and ctx.interactive:
        secret = getpass_ask(f"Password of the keystore {wallet.path}: ")
    if secret is None:
        raise BadInputError(NO_PASSWORD)
    with working(ctx, "Decrypting the keystore (scrypt)..."):
        account: LocalAccount = wallet.unlock(secret)
    return account
