"""First-run setup without Qt: check the user's choices, write the wallet, save the config.

The wizard only collects answers; everything that decides whether they are
valid, and everything that writes to disk, lives here so it is unit-tested
and behaves exactly like ``milon wallet create|import``. Cheap checks
(``check_*``) may run anywhere; :func:`apply_setup` and :func:`stored_password`
block (scrypt, Argon2, keyring) and belong on a worker thread. On any error
nothing is left behind: a fresh keystore is removed again, the config is
written last.
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from milon_app.config import Config, Paths, config_from_dict, load_config, save_config
from milon_app.errors import BadInputError, KeyringUnavailableError, NotFoundError, WalletError
from milon_app.wallet.keystore import DEFAULT_KDF_N, Wallet, parse_private_key
from milon_app.wallet.os_keyring import OsBackend
from milon_app.wallet.password_file import read_secret_file
from milon_app.wallet.secret_store import (
    CHOICES,
    ENCRYPTED_FILE_NAME,
    SecretStore,
    resolve_secret_store,
)

WALLET_KINDS: tuple[str, ...] = ("create", "import-key", "import-keystore")
NETWORK_KINDS: tuple[str, ...] = ("simulated", "devnet", "custom")
EMBEDDED = "embedded"
DEVNET_RPC = "http://127.0.0.1:8545"  # what `milon devnet` listens on
MIN_PASSWORD_LEN = 1  # the keystore module refuses only empty passwords
RPC_SCHEMES = ("http", "https", "ws", "wss")


@dataclass(frozen=True)
class WalletChoice:
    """Create a new account, import a hex key, or import a keystore v3 file.

    For ``import-keystore`` ``password`` is the source file's password, which
    the new keystore keeps (as ``milon wallet import --keystore-file`` does).
    """

    kind: str = "create"
    password: str = field(default="", repr=False)
    confirm: str = field(default="", repr=False)
    private_key: str = field(default="", repr=False)
    source: str = ""


@dataclass(frozen=True)
class SecretChoice:
    store: str = "encrypted-file"
    password_file: str = ""
    master_password: str = field(default="", repr=False)
    master_confirm: str = field(default="", repr=False)


@dataclass(frozen=True)
class NetworkChoice:
    kind: str = "simulated"
    rpc_url: str = ""
    manifest: str = ""
    bootstrap: tuple[str, ...] = ()


@dataclass(frozen=True)
class SetupResult:
    address: str
    keystore: Path
    password_kept_in: str
    config_file: Path
    config: Config


# ---------------------------------------------------------------- paths


def default_keystore(paths: Paths) -> Path:
    return paths.data_dir / "wallet" / "keystore.json"


def devnet_manifest(paths: Paths) -> Path:
    return paths.data_dir / "deployments" / "devnet.json"


def encrypted_store_file(paths: Paths) -> Path:
    return paths.data_dir / "wallet" / ENCRYPTED_FILE_NAME


def keystore_for(cfg: Config, paths: Paths) -> Path:
    """config wallet.keystore, else <data>/wallet/keystore.json (as the CLI decides)."""
    if cfg.wallet.keystore:
        return Path(cfg.wallet.keystore).expanduser()
    return default_keystore(paths)


def needs_setup(cfg: Config, paths: Paths) -> bool:
    """The wizard runs when there is no keystore yet."""
    path = keystore_for(cfg, paths)
    return not (path.exists() or path.is_symlink())


# ---------------------------------------------------------------- checks (cheap)


def check_wallet(choice: WalletChoice) -> None:
    """Refuse bad wallet answers before anything is written; never echoes secrets."""
    if choice.kind not in WALLET_KINDS:
        raise BadInputError(f"unknown wallet option {choice.kind!r}")
    if choice.kind == "import-keystore":
        if not choice.source.strip():
            raise BadInputError("choose the keystore file to import")
        source = Path(choice.source).expanduser()
        if not source.exists():
            raise NotFoundError(f"keystore file to import {source} does not exist")
        Wallet.load(source)  # malformed files fail here with the reason
        if not choice.password:
            raise BadInputError("type the password of the keystore file you import")
        return
    if choice.kind == "import-key":
        parse_private_key(choice.private_key)
    if len(choice.password) < MIN_PASSWORD_LEN:
        raise BadInputError("the keystore password must not be empty")
    if choice.password != choice.confirm:
        raise BadInputError("the two keystore passwords differ")


def check_secret(
    choice: SecretChoice, keystore_password: str, paths: Paths, os_backend: OsBackend | None
) -> None:
    """Refuse a store that cannot keep the password: no silent downgrade to plaintext."""
    store = choice.store
    if store not in CHOICES:
        raise BadInputError(f"unknown secret store {store!r}; expected one of {', '.join(CHOICES)}")
    if store == "os-keyring":
        if os_backend is None or not os_backend.secure:
            why = os_backend.describe() if os_backend else "not checked yet"
            raise KeyringUnavailableError(
                f"no secure OS keyring here ({why}); choose another store"
            )
    elif store == "encrypted-file":
        if not choice.master_password.strip():
            raise BadInputError("type a master password for the encrypted secret store")
        exists = encrypted_store_file(paths).exists()
        if not exists and choice.master_password != choice.master_confirm:
            raise BadInputError("the two master passwords differ")
    elif store == "password-file":
        if not choice.password_file.strip():
            raise BadInputError("choose the password file (mode 0600) that holds the password")
        held = read_secret_file(Path(choice.password_file).expanduser())
        if held != keystore_password:
            raise BadInputError(
                f"password file {choice.password_file} holds a different password than the "
                "keystore's; MILON never writes it: put the keystore password in it yourself"
            )


def check_rpc_url(url: str) -> str:
    text = url.strip()
    parts = urlsplit(text)
    if parts.scheme not in RPC_SCHEMES or not parts.hostname or any(c.isspace() for c in text):
        raise BadInputError(
            f"RPC URL {text!r:.120} is not a URL like http://host:8545 "
            f"(schemes: {', '.join(RPC_SCHEMES)})"
        )
    try:
        parts.port  # noqa: B018 - raises on a bad port
    except ValueError as exc:
        raise BadInputError(f"RPC URL {text!r:.120} has a bad port: {exc}") from None
    return text


def check_bootstrap(lines: tuple[str, ...]) -> list[str]:
    """Full multiaddrs with a peer id: ``/ip4/1.2.3.4/tcp/4001/p2p/<id>``."""
    import multiaddr

    out: list[str] = []
    for raw in lines:
        text = raw.strip()
        if not text:
            continue
        try:
            addr = multiaddr.Multiaddr(text)
        except Exception as exc:  # multiaddr raises several types
            raise BadInputError(
                f"bootstrap peer {text!r:.120} is not a multiaddr ({exc})"
            ) from None
        if "p2p" not in [p.name for p in addr.protocols()]:
            raise BadInputError(f"bootstrap peer {text!r:.120} lacks /p2p/<peer id>")
        out.append(text)
    return out


def check_network(choice: NetworkChoice, paths: Paths) -> tuple[str, str, list[str]]:
    """(rpc_url, manifest, bootstrap) for the config; a custom manifest must load."""
    from milon_app.chain.manifest import Manifest

    if choice.kind == "simulated":
        return EMBEDDED, "", []
    if choice.kind == "devnet":
        return DEVNET_RPC, str(devnet_manifest(paths)), []
    if choice.kind != "custom":
        raise BadInputError(f"unknown network option {choice.kind!r}")
    url = check_rpc_url(choice.rpc_url)
    if not choice.manifest.strip():
        raise BadInputError("choose the deployment manifest (JSON) of the network")
    manifest = Path(choice.manifest.strip()).expanduser()
    Manifest.load(manifest)
    return url, str(manifest.resolve()), check_bootstrap(choice.bootstrap)


def devnet_note(paths: Paths) -> str:
    """Said on the network page: the devnet's manifest exists only once it ran."""
    path = devnet_manifest(paths)
    if path.exists():
        return f"Found the devnet manifest {path}."
    return f"No devnet manifest yet at {path}: run `milon devnet` before MILON starts."


# ---------------------------------------------------------------- config


def build_config(
    base: Config, keystore: Path, secret: SecretChoice, network: tuple[str, str, list[str]]
) -> Config:
    """``base`` with the wizard's answers; no secret ever goes into it."""
    cfg = config_from_dict(dataclasses.asdict(base))  # a deep, validated copy
    rpc_url, manifest, bootstrap = network
    cfg.chain.rpc_url, cfg.chain.manifest = rpc_url, manifest
    cfg.p2p.bootstrap = list(bootstrap)
    cfg.wallet.keystore = str(keystore)
    cfg.wallet.secret_store = secret.store
    cfg.wallet.password_file = (
        str(Path(secret.password_file).expanduser().resolve())
        if secret.store == "password-file"
        else ""
    )
    return cfg


def open_store(
    choice: str,
    paths: Paths,
    *,
    password_file: str = "",
    master_password: str | None = None,
    os_backend: OsBackend | None = None,
) -> SecretStore:
    """The secret store, as the CLI resolves it; ``prompt`` is asked by the caller instead."""

    def no_terminal(_prompt: str) -> str:
        raise WalletError("the prompt store keeps nothing: the app asks for the password")

    master = master_password
    return resolve_secret_store(
        choice,
        data_dir=paths.data_dir,
        password_file=Path(password_file).expanduser() if password_file else None,
        ask_master=(lambda: master) if master is not None else None,
        ask_password=no_terminal,
        os_backend=os_backend,
    )


def apply_setup(
    paths: Paths,
    wallet: WalletChoice,
    secret: SecretChoice,
    network: NetworkChoice,
    *,
    os_backend: OsBackend | None = None,
    kdf_n: int = DEFAULT_KDF_N,
    adjust: Callable[[Config], Config] | None = None,
) -> SetupResult:
    """Write the keystore (0600), store its password, save the config. Blocking.

    ``adjust`` changes the config before anything is written (an invite's settings)."""
    base = load_config(paths.config_file)
    if secret.store == "os-keyring" and os_backend is None:
        from milon_app.wallet.os_keyring import detect_os_backend

        os_backend = detect_os_backend()
    check_wallet(wallet)
    check_secret(secret, wallet.password, paths, os_backend)
    net = check_network(network, paths)
    path = keystore_for(base, paths)
    if path.exists() or path.is_symlink():
        raise WalletError(f"keystore {path} already exists; MILON will not overwrite it")
    store = open_store(
        secret.store,
        paths,
        password_file=secret.password_file,
        master_password=secret.master_password,
        os_backend=os_backend,
    )
    if secret.store == "encrypted-file" and encrypted_store_file(paths).exists():
        store.get("0x0")  # a wrong master password fails here, before the keystore exists
    cfg = build_config(base, path, secret, net)
    if adjust is not None:
        cfg = adjust(cfg)
    if wallet.kind == "create":
        made = Wallet.create(path, wallet.password, kdf_n=kdf_n)
    elif wallet.kind == "import-key":
        made = Wallet.import_key(path, wallet.private_key, wallet.password, kdf_n=kdf_n)
    else:
        source = Path(wallet.source).expanduser()
        made = Wallet.import_keystore(path, source, wallet.password, kdf_n=kdf_n)
    try:
        store.set(made.address, wallet.password)
        save_config(cfg, paths.config_file)
    except BaseException:
        with contextlib.suppress(Exception):
            store.delete(made.address)
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
        raise
    return SetupResult(made.address, path, store.describe(), paths.config_file, cfg)


# ---------------------------------------------------------------- unlocking at start


def stored_password(
    cfg: Config,
    paths: Paths,
    address: str,
    *,
    master_password: str | None = None,
    os_backend: OsBackend | None = None,
) -> str | None:
    """The password the configured store keeps; None when it keeps none (prompt, empty)."""
    choice = cfg.wallet.secret_store
    if choice == "prompt":
        return None
    if choice == "encrypted-file" and master_password is None:
        raise KeyringUnavailableError("the encrypted secret store needs its master password")
    store = open_store(
        choice,
        paths,
        password_file=cfg.wallet.password_file,
        master_password=master_password,
        os_backend=os_backend,
    )
    return store.get(address)
