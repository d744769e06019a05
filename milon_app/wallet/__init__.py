"""The node's account: keystore v3 file plus a secret store for its password.

Qt-free and blocking (scrypt takes most of a second): front-ends call it off
their UI thread.
"""

from __future__ import annotations

from milon_app.wallet.keystore import DEFAULT_KDF_N, MIN_KDF_N, Wallet, parse_private_key
from milon_app.wallet.os_keyring import OsBackend, detect_os_backend
from milon_app.wallet.password_file import read_secret_file
from milon_app.wallet.secret_store import (
    CHOICES,
    SERVICE,
    EncryptedFileStore,
    OsKeyringStore,
    PasswordFileStore,
    PromptStore,
    SecretStore,
    resolve_secret_store,
    unlock_with_store,
)

__all__ = [
    "CHOICES",
    "DEFAULT_KDF_N",
    "MIN_KDF_N",
    "SERVICE",
    "EncryptedFileStore",
    "OsBackend",
    "OsKeyringStore",
    "PasswordFileStore",
    "PromptStore",
    "SecretStore",
    "Wallet",
    "detect_os_backend",
    "parse_private_key",
    "read_secret_file",
    "resolve_secret_store",
    "unlock_with_store",
]
