"""Which OS keyring backend to trust, chosen in code.

keyring's own discovery reads entry-point metadata (lost inside PyInstaller
bundles) and, on a headless machine, silently settles for a plaintext or
prompting file backend. Here only the platform's native secure backends are
accepted; anything else is reported, never used for the wallet password.
"""

from __future__ import annotations

import contextlib
import importlib
import os
import sys
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from keyring.backend import KeyringBackend

# Native backends shipped inside the keyring package itself; nothing else counts as secure.
SECURE_BACKENDS: frozenset[str] = frozenset(
    {
        "keyring.backends.SecretService.Keyring",
        "keyring.backends.libsecret.Keyring",
        "keyring.backends.kwallet.DBusKeyring",
        "keyring.backends.macOS.Keyring",
        "keyring.backends.Windows.WinVaultKeyring",
    }
)


def platform_candidates(platform: str | None = None) -> tuple[str, ...]:
    """Native backends to try, best first, for ``sys.platform``."""
    plat = platform or sys.platform
    if plat == "darwin":
        return ("keyring.backends.macOS.Keyring",)
    if plat == "win32":
        return ("keyring.backends.Windows.WinVaultKeyring",)
    return ("keyring.backends.SecretService.Keyring", "keyring.backends.kwallet.DBusKeyring")


@dataclass(frozen=True)
class OsBackend:
    """What was detected: ``backend`` is set only when it is safe to store secrets in it."""

    name: str
    backend: KeyringBackend | None
    reason: str = ""
    fallbacks: tuple[str, ...] = field(default=())

    @property
    def secure(self) -> bool:
        return self.backend is not None

    def plain(self) -> str:
        """One sentence for people (the wizard); :meth:`describe` is the technical detail."""
        if self.backend is not None:
            return (
                f"This system's password keyring ({friendly_name(self.name)}) can keep the "
                "password safely."
            )
        if self.name in SECURE_BACKENDS or self.name.startswith(
            ("keyring.backends.fail", "keyring.backends.null")
        ):
            return (
                "This system has no password keyring running; MILON can keep the password in "
                "an encrypted file instead."
            )
        return (
            "This system's keyring setting names a store MILON does not trust with a wallet "
            "password; MILON can keep the password in an encrypted file instead."
        )

    def describe(self) -> str:
        if self.backend is not None:
            return f"{self.name} (secure)"
        text = f"{self.name}: not usable ({self.reason})"
        if self.fallbacks:
            text += "; keyring alone would fall back to " + ", ".join(self.fallbacks)
        return text


FRIENDLY_NAMES = {
    "keyring.backends.SecretService.Keyring": "Secret Service, e.g. GNOME Keyring",
    "keyring.backends.libsecret.Keyring": "libsecret, e.g. GNOME Keyring",
    "keyring.backends.kwallet.DBusKeyring": "KWallet",
    "keyring.backends.macOS.Keyring": "macOS Keychain",
    "keyring.backends.Windows.WinVaultKeyring": "Windows Credential Manager",
}


def friendly_name(name: str) -> str:
    return FRIENDLY_NAMES.get(name, name.rsplit(".", 2)[-2] if "." in name else name)


def backend_name(kr: object) -> str:
    cls = type(kr)
    return f"{cls.__module__}.{cls.__qualname__}"


def judge(kr: KeyringBackend) -> OsBackend:
    """Accept ``kr`` only if it is a native secure backend that reports itself usable."""
    name = backend_name(kr)
    if name not in SECURE_BACKENDS:
        if name.startswith("keyring.backends.fail") or name.startswith("keyring.backends.null"):
            why = "no secure backend (keyring's fail/null backend)"
        elif name.startswith("keyring.backends.chainer"):
            why = "a chain of backends can fall through to an insecure one"
        else:
            why = "not a native OS keyring (file-based or third-party backends are never used here)"
        return OsBackend(name, None, why)
    try:
        priority = float(kr.priority)
    except Exception as exc:  # keyring signals "not viable" with RuntimeError and friends
        return OsBackend(name, None, f"unavailable: {exc}")
    if priority < 1:
        return OsBackend(name, None, f"priority {priority} < 1: keyring marks it not recommended")
    return OsBackend(name, kr)


def _load(name: str) -> KeyringBackend | Exception:
    module_name, _, class_name = name.rpartition(".")
    try:
        cls = getattr(importlib.import_module(module_name), class_name)
        kr: KeyringBackend = cls()
    except Exception as exc:
        return exc
    return kr


def _fallbacks() -> tuple[str, ...]:
    """What keyring's own discovery would settle for: the trap we refuse."""
    try:
        from keyring.backend import get_all_keyring
    except ImportError:
        return ()
    names: list[str] = []
    with contextlib.suppress(Exception):
        for kr in sorted(get_all_keyring(), key=lambda k: -float(k.priority)):
            name = backend_name(kr)
            if name not in SECURE_BACKENDS and not name.startswith(
                ("keyring.backends.chainer", "keyring.backends.fail")
            ):
                names.append(name)
    return tuple(names)


def detect_os_backend(platform: str | None = None) -> OsBackend:
    """The OS keyring to use, or why there is none.

    An explicit ``PYTHON_KEYRING_BACKEND`` or keyringrc choice is honoured only
    if it names a secure backend; otherwise the platform's native ones are tried.
    """
    from keyring import core

    explicit = os.environ.get("PYTHON_KEYRING_BACKEND")
    try:
        chosen = core.load_env() or core.load_config()
    except Exception as exc:
        return OsBackend(explicit or "keyringrc.cfg backend", None, f"unavailable: {exc}")
    if chosen is not None:
        return judge(chosen)
    first: OsBackend | None = None
    for name in platform_candidates(platform):
        loaded = _load(name)
        result = (
            OsBackend(name, None, f"unavailable: {loaded}")
            if isinstance(loaded, Exception)
            else judge(loaded)
        )
        if result.secure:
            return result
        first = first or result
    assert first is not None
    return OsBackend(first.name, None, first.reason, _fallbacks())
