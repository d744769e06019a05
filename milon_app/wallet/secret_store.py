"""Where the keystore password lives: the OS keyring, or an alternative the user chose.

On a machine without a secure OS keyring nothing falls back silently:
:func:`resolve_secret_store` raises :class:`KeyringUnavailableError` listing the
explicit choices (encrypted-file, prompt, password-file).
"""

from __future__ import annotations

import contextlib
import logging
from abc import ABC, abstractmethod
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from milon_app.errors import BadInputError, ConfigError, KeyringUnavailableError, WalletError
from milon_app.wallet.os_keyring import OsBackend, detect_os_backend
from milon_app.wallet.password_file import read_secret_file

if TYPE_CHECKING:
    from eth_account.signers.local import LocalAccount
    from keyring.backend import KeyringBackend

    from milon_app.wallet.keystore import Wallet

log = logging.getLogger(__name__)

SERVICE = "milon"
CHOICES: tuple[str, ...] = ("os-keyring", "encrypted-file", "prompt", "password-file")
ENCRYPTED_FILE_NAME = "secrets.cryptfile"
# What keyrings.cryptfile raises for a wrong master password (AES-GCM tag, reference entry).
_WRONG_MASTER = ("MAC check failed", "Incorrect Password")

Ask = Callable[[str], str]


class SecretStore(ABC):
    """Keeps one password per account address."""

    choice: str = ""

    @abstractmethod
    def get(self, address: str) -> str | None:
        """The stored password, or None when none is stored."""

    @abstractmethod
    def set(self, address: str, password: str) -> None: ...

    @abstractmethod
    def delete(self, address: str) -> None: ...

    @abstractmethod
    def describe(self) -> str:
        """One line for `milon wallet show`: where the password is kept."""


class OsKeyringStore(SecretStore):
    choice = "os-keyring"

    def __init__(self, backend: KeyringBackend, name: str) -> None:
        self._kr = backend
        self._name = name

    def _call(self, what: str, fn: Callable[[], Any]) -> Any:
        from keyring.errors import KeyringError, PasswordDeleteError

        try:
            return fn()
        except PasswordDeleteError:
            return None
        except (KeyringError, OSError, RuntimeError) as exc:
            # The exception text comes from the backend (D-Bus, Keychain), never from us.
            raise KeyringUnavailableError(
                f"OS keyring {self._name} failed to {what}: {type(exc).__name__}: {exc}"
            ) from None

    def get(self, address: str) -> str | None:
        value = self._call("read the password", lambda: self._kr.get_password(SERVICE, address))
        return value if isinstance(value, str) else None

    def set(self, address: str, password: str) -> None:
        self._call("store the password", lambda: self._kr.set_password(SERVICE, address, password))

    def delete(self, address: str) -> None:
        self._call("delete the password", lambda: self._kr.delete_password(SERVICE, address))

    def describe(self) -> str:
        return f"OS keyring ({self._name}), service {SERVICE!r}"


class EncryptedFileStore(SecretStore):
    """keyrings.cryptfile (Argon2id + AES-GCM) under a master password the user types."""

    choice = "encrypted-file"

    def __init__(
        self,
        path: Path,
        master_password: Callable[[], str],
        *,
        argon_cost: tuple[int, int] | None = None,
    ) -> None:
        """``argon_cost`` (time cost, memory KiB) exists for tests only: files made with
        another cost cannot be read with the default one, which is not stored in the file.
        """
        self.path = path
        self._master = master_password
        self._argon_cost = argon_cost
        self._kr: Any = None

    def _keyring(self) -> Any:
        if self._kr is not None:
            return self._kr
        from keyrings.cryptfile.cryptfile import CryptFileKeyring

        kr = CryptFileKeyring()
        kr.file_path = str(self.path)
        if self._argon_cost is not None:
            kr.time_cost, kr.memory_cost = self._argon_cost
        self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        master = self._master()
        if not master.strip():
            raise BadInputError("the master password of the encrypted secret store is empty")
        try:
            kr.keyring_key = master  # set in code, so the library never prompts itself
        except ValueError as exc:
            if str(exc) in _WRONG_MASTER:
                raise WalletError(
                    f"wrong master password for the encrypted secret store {self.path}"
                ) from None
            raise self._corrupted(exc) from None
        except Exception as exc:
            raise self._corrupted(exc) from None
        self._kr = kr
        return kr

    def _corrupted(self, exc: Exception) -> WalletError:
        return WalletError(
            f"encrypted secret store {self.path} is unreadable ({type(exc).__name__}); "
            "it may be corrupted: move it away and store the password again"
        )

    def get(self, address: str) -> str | None:
        kr = self._keyring()
        try:
            value = kr.get_password(SERVICE, address)
        except Exception as exc:
            raise self._corrupted(exc) from None
        return value if isinstance(value, str) else None

    def set(self, address: str, password: str) -> None:
        self._keyring().set_password(SERVICE, address, password)

    def delete(self, address: str) -> None:
        from keyring.errors import PasswordDeleteError

        with contextlib.suppress(PasswordDeleteError):
            self._keyring().delete_password(SERVICE, address)

    def describe(self) -> str:
        return f"encrypted file {self.path} (keyrings.cryptfile, master password typed at start)"


class PromptStore(SecretStore):
    """Nothing stored: the password is asked for at each start."""

    choice = "prompt"

    def __init__(self, ask: Ask) -> None:
        self._ask = ask

    def get(self, address: str) -> str | None:
        return self._ask(f"Password for the keystore of {address}: ")

    def set(self, address: str, password: str) -> None:
        return None

    def delete(self, address: str) -> None:
        return None

    def describe(self) -> str:
        return "not stored: asked for at each start (prompt)"


class PasswordFileStore(SecretStore):
    """A file the user maintains (mode 0600, owned by them); read-only from here."""

    choice = "password-file"

    def __init__(self, path: Path) -> None:
        self.path = path

    def get(self, address: str) -> str | None:
        return read_secret_file(self.path)

    def set(self, address: str, password: str) -> None:
        if read_secret_file(self.path) != password:
            raise WalletError(
                f"password file {self.path} holds a different password than the keystore's; "
                "MILON never writes it: put the keystore password in it yourself"
            )

    def delete(self, address: str) -> None:
        return None

    def describe(self) -> str:
        return f"password file {self.path}"


def alternatives_hint() -> str:
    return (
        "choose one explicitly with --secret-store or the config key wallet.secret_store: "
        "'encrypted-file' (a file encrypted under a master password you type), "
        "'prompt' (type the keystore password at each start; nothing stored), or "
        "'password-file' (a 0600 file you provide, with --password-file)"
    )


def resolve_secret_store(
    choice: str,
    *,
    data_dir: Path,
    password_file: Path | None = None,
    ask_master: Callable[[], str] | None = None,
    ask_password: Ask | None = None,
    os_backend: OsBackend | None = None,
) -> SecretStore:
    """The store for ``choice``; os-keyring without a secure backend is refused, never degraded."""
    if choice == "os-keyring":
        info = os_backend or detect_os_backend()
        if info.backend is None:
            raise KeyringUnavailableError(
                f"no secure OS keyring to keep the wallet password: {info.describe()}; "
                + alternatives_hint()
            )
        return OsKeyringStore(info.backend, info.name)
    if choice == "encrypted-file":
        if ask_master is None:
            raise KeyringUnavailableError(
                "the encrypted-file secret store needs its master password: run interactively "
                "or set MILON_WALLET_MASTER_PASSWORD_FILE to a 0600 file holding it"
            )
        return EncryptedFileStore(data_dir / "wallet" / ENCRYPTED_FILE_NAME, ask_master)
    if choice == "prompt":
        if ask_password is None:
            raise KeyringUnavailableError(
                "the prompt secret store needs a terminal to ask for the password; "
                "use --password-file or another secret store when not interactive"
            )
        return PromptStore(ask_password)
    if choice == "password-file":
        if password_file is None:
            raise ConfigError(
                "secret store 'password-file' needs a file: set wallet.password_file "
                "in the config or pass --password-file"
            )
        return PasswordFileStore(password_file)
    raise ConfigError(f"wallet.secret_store is {choice!r}; expected one of: {', '.join(CHOICES)}")


def unlock_with_store(wallet: Wallet, store: SecretStore) -> LocalAccount:
    """What the node does at start: the password from ``store``, then the key."""
    password = store.get(wallet.address)
    if password is None:
        raise WalletError(
            f"no password for {wallet.address} in {store.describe()}; store it again with "
            "`milon wallet import --keystore-file` or choose another secret store"
        )
    return wallet.unlock(password)
