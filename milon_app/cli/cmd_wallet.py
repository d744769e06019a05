"""``milon wallet create|import|show|export``: the node's account and where its password lives.

Passwords come from the terminal (hidden), from a 0600 file (``--password-file``
or ``MILON_WALLET_PASSWORD_FILE``) or from the secret store; never from argv.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from milon_app.cli.context import Context
from milon_app.cli.registry import REGISTRY
from milon_app.errors import BadInputError, NotFoundError, WalletError
from milon_app.wallet.keystore import DEFAULT_KDF_N, Wallet, check_kdf_n, file_mode
from milon_app.wallet.os_keyring import detect_os_backend
from milon_app.wallet.password_file import read_secret_file
from milon_app.wallet.passwords import ask_new_password, getpass_ask
from milon_app.wallet.secret_store import (
    CHOICES,
    ENCRYPTED_FILE_NAME,
    PasswordFileStore,
    SecretStore,
    resolve_secret_store,
)

PASSWORD_FILE_ENV = "MILON_WALLET_PASSWORD_FILE"  # noqa: S105 (a variable name)
MASTER_FILE_ENV = "MILON_WALLET_MASTER_PASSWORD_FILE"

REGISTRY.group(("wallet",), "create, import, show and export the node's account")


# ---------------------------------------------------------------- options


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--keystore",
        metavar="PATH",
        help="keystore file (default: config wallet.keystore, else <data>/wallet/keystore.json)",
    )
    p.add_argument(
        "--secret-store",
        choices=CHOICES,
        help="where the keystore password is kept (default: config wallet.secret_store)",
    )
    p.add_argument(
        "--password-file",
        metavar="PATH",
        help=f"read the keystore password from this 0600 file (also ${PASSWORD_FILE_ENV}); "
        "with --secret-store password-file, the file the password is kept in",
    )


def _writing(p: argparse.ArgumentParser) -> None:
    _common(p)
    p.add_argument(
        "--force",
        action="store_true",
        help="replace an existing keystore (the old one is kept as a timestamped backup)",
    )
    p.add_argument(
        "--scrypt-n",
        type=int,
        default=DEFAULT_KDF_N,
        metavar="N",
        help=f"scrypt cost, a power of two (default {DEFAULT_KDF_N}); lower is faster and weaker",
    )


def _configure_import(p: argparse.ArgumentParser) -> None:
    _writing(p)
    src = p.add_mutually_exclusive_group()
    src.add_argument(
        "--key-file",
        metavar="PATH",
        help="a 0600 file holding the private key in hex ('-': read stdin); "
        "with neither --key-file nor --keystore-file the key is asked for (hidden)",
    )
    src.add_argument(
        "--keystore-file",
        metavar="PATH",
        help="a keystore v3 JSON file to import; it keeps its password",
    )


def _configure_export(p: argparse.ArgumentParser) -> None:
    _common(p)
    what = p.add_mutually_exclusive_group(required=True)
    what.add_argument(
        "--out", metavar="PATH", help="write a copy of the encrypted keystore here (0600)"
    )
    what.add_argument(
        "--private-key",
        action="store_true",
        help="print the raw private key (asks for confirmation)",
    )
    p.add_argument(
        "--force",
        action="store_true",
        help="replace an existing --out file (the old one is kept as a backup)",
    )
    p.add_argument("--yes", action="store_true", help="print the private key without asking")


# ---------------------------------------------------------------- helpers


def keystore_path(args: argparse.Namespace, ctx: Context) -> Path:
    chosen = args.keystore or ctx.config.wallet.keystore
    if chosen:
        return Path(chosen).expanduser()
    return ctx.data_dir / "wallet" / "keystore.json"


def _choice(args: argparse.Namespace, ctx: Context) -> str:
    return str(args.secret_store or ctx.config.wallet.secret_store)


def input_password_file(args: argparse.Namespace) -> Path | None:
    given = args.password_file or os.environ.get(PASSWORD_FILE_ENV)
    return Path(given).expanduser() if given else None


def _store_password_file(args: argparse.Namespace, ctx: Context) -> Path | None:
    given = input_password_file(args) or ctx.config.wallet.password_file
    return Path(given).expanduser() if given else None


def _ask(ctx: Context) -> Callable[[str], str] | None:
    return getpass_ask if ctx.interactive else None


def _master(ctx: Context) -> Callable[[], str] | None:
    env = os.environ.get(MASTER_FILE_ENV)
    if env:
        return lambda: read_secret_file(Path(env).expanduser(), what="master password file")
    if not ctx.interactive:
        return None
    store_file = ctx.data_dir / "wallet" / ENCRYPTED_FILE_NAME

    def ask() -> str:
        if store_file.exists():
            return getpass_ask(f"Master password of the encrypted secret store {store_file}: ")
        return ask_new_password(getpass_ask, f"master password for {store_file}")

    return ask


def secret_store_for(args: argparse.Namespace, ctx: Context) -> SecretStore:
    return resolve_secret_store(
        _choice(args, ctx),
        data_dir=ctx.data_dir,
        password_file=_store_password_file(args, ctx),
        ask_master=_master(ctx),
        ask_password=_ask(ctx),
    )


NO_PASSWORD = (
    "no password given and no terminal to ask on: pass --password-file PATH "
    f"or set {PASSWORD_FILE_ENV} (a file of mode 0600)"
)


def _password(
    args: argparse.Namespace, ctx: Context, store: SecretStore | None, prompt: str, *, new: bool
) -> str:
    """From --password-file/env, else the password-file store, else the terminal."""
    given = input_password_file(args)
    if given is not None:
        return read_secret_file(given)
    if isinstance(store, PasswordFileStore):
        return read_secret_file(store.path)
    if ctx.interactive:
        return ask_new_password(getpass_ask, "keystore password") if new else getpass_ask(prompt)
    raise BadInputError(NO_PASSWORD)


@contextlib.contextmanager
def working(ctx: Context, message: str) -> Iterator[None]:
    """A spinner on stderr for the second or so scrypt takes."""
    if not ctx.err.isatty():
        yield
        return
    from rich.console import Console
    from rich.progress import Progress, SpinnerColumn, TextColumn

    with Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        console=Console(file=ctx.err),
        transient=True,
    ) as progress:
        progress.add_task(message, total=None)
        yield


def _check_can_write(path: Path, force: bool) -> None:
    if (path.exists() or path.is_symlink()) and not force:
        raise WalletError(
            f"keystore {path} already exists; refusing to overwrite it "
            "(use --force: the old file is kept as a timestamped backup)"
        )


def _save_password(store: SecretStore, wallet: Wallet, password: str, existed: bool) -> None:
    """Store the password; if that fails a fresh keystore is removed so none is orphaned."""
    try:
        store.set(wallet.address, password)
    except BaseException:
        if not existed:
            with contextlib.suppress(FileNotFoundError):
                wallet.path.unlink()
        raise


def _result(wallet: Wallet, store: SecretStore, choice: str) -> dict[str, Any]:
    return {
        "address": wallet.address,
        "keystore": str(wallet.path),
        "keystore_mode": f"{file_mode(wallet.path):04o}",
        "secret_store": choice,
        "password_kept_in": store.describe(),
    }


def _human_created(verb: str) -> Callable[[Any], str]:
    def fmt(d: Any) -> str:
        return (
            f"{verb} account {d['address']}\n"
            f"keystore: {d['keystore']} (mode {d['keystore_mode']})\n"
            f"password kept in: {d['password_kept_in']}"
        )

    return fmt


# ---------------------------------------------------------------- commands


@REGISTRY.command(
    "wallet", "create", summary="create a new account (keystore v3, scrypt)", configure=_writing
)
def _create(args: argparse.Namespace, ctx: Context) -> int:
    path = keystore_path(args, ctx)
    kdf_n = check_kdf_n(args.scrypt_n)
    _check_can_write(path, args.force)
    existed = path.exists()
    store = secret_store_for(args, ctx)  # refuses before anything is written
    password = _password(args, ctx, store, "", new=True)
    with working(ctx, "Encrypting the keystore (scrypt)..."):
        wallet = Wallet.create(path, password, kdf_n=kdf_n, force=args.force)
    _save_password(store, wallet, password, existed)
    ctx.emit(_result(wallet, store, _choice(args, ctx)), _human_created("created"))
    return 0


@REGISTRY.command(
    "wallet",
    "import",
    summary="import a private key or a keystore v3 file",
    configure=_configure_import,
)
def _import(args: argparse.Namespace, ctx: Context) -> int:
    path = keystore_path(args, ctx)
    kdf_n = check_kdf_n(args.scrypt_n)
    _check_can_write(path, args.force)
    existed = path.exists()
    store = secret_store_for(args, ctx)
    if args.keystore_file:
        source = Path(args.keystore_file).expanduser()
        if not source.exists():
            raise NotFoundError(f"keystore file to import {source} does not exist")
        Wallet.load(source)  # a clear error for a bad file before asking anything
        password = _password(args, ctx, store, f"Password of the keystore {source}: ", new=False)
        with working(ctx, "Decrypting and re-encrypting the keystore (scrypt)..."):
            wallet = Wallet.import_keystore(path, source, password, kdf_n=kdf_n, force=args.force)
    else:
        key = _read_key(args, ctx)
        password = _password(args, ctx, store, "", new=True)
        with working(ctx, "Encrypting the keystore (scrypt)..."):
            wallet = Wallet.import_key(path, key, password, kdf_n=kdf_n, force=args.force)
    _save_password(store, wallet, password, existed)
    ctx.emit(_result(wallet, store, _choice(args, ctx)), _human_created("imported"))
    return 0


def _read_key(args: argparse.Namespace, ctx: Context) -> str:
    if args.key_file == "-":
        return sys.stdin.read()
    if args.key_file:
        return read_secret_file(Path(args.key_file).expanduser(), what="private key file")
    if ctx.interactive:
        return getpass_ask("Private key (hex, input hidden): ")
    raise BadInputError("no private key given: pass --key-file PATH (0600) or '-' for stdin")


@REGISTRY.command(
    "wallet", "show", summary="print the address, keystore path and secret store", configure=_common
)
def _show(args: argparse.Namespace, ctx: Context) -> int:
    wallet = Wallet.load(keystore_path(args, ctx))
    choice = _choice(args, ctx)
    os_backend = detect_os_backend()
    if choice == "os-keyring":
        detail = os_backend.describe()
    elif choice == "encrypted-file":
        detail = f"encrypted file {ctx.data_dir / 'wallet' / ENCRYPTED_FILE_NAME}"
    elif choice == "password-file":
        detail = f"password file {_store_password_file(args, ctx) or '(not set)'}"
    else:
        detail = "not stored: asked for at each start"
    data = {
        "address": wallet.address,
        "keystore": str(wallet.path),
        "keystore_mode": f"{file_mode(wallet.path):04o}",
        "secret_store": choice,
        "secret_store_detail": detail,
        "os_backend": os_backend.name,
        "os_backend_secure": os_backend.secure,
        "os_backend_detail": os_backend.describe(),
    }

    def human(d: Any) -> str:
        return (
            f"address:      {d['address']}\n"
            f"keystore:     {d['keystore']} (mode {d['keystore_mode']})\n"
            f"secret store: {d['secret_store']}: {d['secret_store_detail']}\n"
            f"OS keyring:   {d['os_backend_detail']}"
        )

    ctx.emit(data, human)
    return 0


@REGISTRY.command(
    "wallet",
    "export",
    summary="copy the keystore, or print the private key",
    configure=_configure_export,
)
def _export(args: argparse.Namespace, ctx: Context) -> int:
    wallet = Wallet.load(keystore_path(args, ctx))
    if args.out:
        dest = wallet.export_keystore(Path(args.out).expanduser(), force=args.force)
        data = {
            "address": wallet.address,
            "exported_to": str(dest),
            "mode": f"{file_mode(dest):04o}",
        }
        ctx.emit(
            data,
            lambda d: f"exported the encrypted keystore of {d['address']} to {d['exported_to']}",
        )
        return 0
    _confirm_key_export(args, ctx, wallet)
    password = input_password_file(args)
    secret = (
        read_secret_file(password) if password else secret_store_for(args, ctx).get(wallet.address)
    )
    if secret is None and ctx.interactive:
        secret = getpass_ask(f"Password of the keystore {wallet.path}: ")
    if secret is None:
        raise BadInputError(NO_PASSWORD)
    with working(ctx, "Decrypting the keystore (scrypt)..."):
        account = wallet.unlock(secret)
    ctx.emit(
        {"address": wallet.address, "private_key": "0x" + bytes(account.key).hex()},
        lambda d: str(d["private_key"]),
    )
    return 0


def _confirm_key_export(args: argparse.Namespace, ctx: Context, wallet: Wallet) -> None:
    if args.yes:
        return
    if not ctx.interactive:
        raise BadInputError("refusing to print the private key without confirmation: pass --yes")
    ctx.info(
        f"The private key of {wallet.address} gives full control of the account "
        "to anyone who sees it."
    )
    try:
        answer = input("Print it to this terminal? Type 'yes': ")
    except EOFError:
        answer = ""
    if answer.strip().lower() != "yes":
        raise BadInputError("private key export cancelled (not confirmed)")
