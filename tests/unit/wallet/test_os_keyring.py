"""OS keyring detection for real: fail backend, keyrings.alt plaintext, and GNOME Secret Service."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from milon_app.errors import KeyringUnavailableError
from milon_app.exit_codes import ExitCode
from milon_app.wallet import Wallet, detect_os_backend, resolve_secret_store, unlock_with_store
from milon_app.wallet.os_keyring import platform_candidates
from milon_app.wallet.secret_store import SERVICE, OsKeyringStore

from .conftest import KDF_N

ADDR = "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed"
HAS_ALT = importlib.util.find_spec("keyrings.alt") is not None


def _files_under(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file())


def _assert_refused(keyring_env: Path, tmp_path: Path, expect_in_msg: str) -> None:
    before = _files_under(keyring_env)
    with pytest.raises(KeyringUnavailableError) as err:
        resolve_secret_store("os-keyring", data_dir=tmp_path / "data")
    msg = str(err.value)
    assert expect_in_msg in msg
    for alt in ("encrypted-file", "prompt", "password-file"):
        assert alt in msg
    assert err.value.exit_code == ExitCode.KEYRING == 5
    assert _files_under(keyring_env) == before  # nothing written anywhere
    assert not (tmp_path / "data").exists()


def test_fail_backend_is_refused(keyring_env, tmp_path, monkeypatch):
    monkeypatch.setenv("PYTHON_KEYRING_BACKEND", "keyring.backends.fail.Keyring")
    info = detect_os_backend()
    assert not info.secure
    assert info.name == "keyring.backends.fail.Keyring"
    _assert_refused(keyring_env, tmp_path, "keyring.backends.fail.Keyring")


def test_null_backend_is_refused(keyring_env, tmp_path, monkeypatch):
    monkeypatch.setenv("PYTHON_KEYRING_BACKEND", "keyring.backends.null.Keyring")
    _assert_refused(keyring_env, tmp_path, "keyring.backends.null.Keyring")


def test_unloadable_backend_is_refused(keyring_env, tmp_path, monkeypatch):
    monkeypatch.setenv("PYTHON_KEYRING_BACKEND", "no.such.module.Keyring")
    _assert_refused(keyring_env, tmp_path, "no.such.module.Keyring")


@pytest.mark.skipif(not HAS_ALT, reason="keyrings.alt not installed (a test dependency)")
def test_plaintext_backend_named_explicitly_is_refused(keyring_env, tmp_path, monkeypatch):
    monkeypatch.setenv("PYTHON_KEYRING_BACKEND", "keyrings.alt.file.PlaintextKeyring")
    info = detect_os_backend()
    assert info.name == "keyrings.alt.file.PlaintextKeyring" and not info.secure
    _assert_refused(keyring_env, tmp_path, "keyrings.alt.file.PlaintextKeyring")


@pytest.mark.skipif(not HAS_ALT, reason="keyrings.alt not installed (a test dependency)")
def test_plaintext_backend_picked_by_keyring_config_is_refused(keyring_env, tmp_path):
    cfg = keyring_env / "xdg-config" / "python_keyring" / "keyringrc.cfg"
    cfg.parent.mkdir(parents=True)
    cfg.write_text("[backend]\ndefault-keyring=keyrings.alt.file.PlaintextKeyring\n")
    _assert_refused(keyring_env, tmp_path, "keyrings.alt.file.PlaintextKeyring")


@pytest.mark.skipif(not HAS_ALT, reason="keyrings.alt not installed (a test dependency)")
def test_headless_discovery_would_fall_back_silently_but_we_refuse(keyring_env, tmp_path):
    """No env override, no bus: keyring's discovery offers file backends; none is used."""
    from keyring.backend import get_all_keyring

    names = {f"{type(k).__module__}.{type(k).__name__}" for k in get_all_keyring()}
    assert "keyrings.alt.file.PlaintextKeyring" in names  # the trap exists here
    info = detect_os_backend()
    assert not info.secure
    assert info.name == platform_candidates()[0]
    assert "keyrings.alt.file.PlaintextKeyring" in info.fallbacks
    _assert_refused(keyring_env, tmp_path, "keyrings.alt.file.PlaintextKeyring")


def test_platform_candidates_are_native():
    assert platform_candidates("linux")[0] == "keyring.backends.SecretService.Keyring"
    assert platform_candidates("darwin") == ("keyring.backends.macOS.Keyring",)
    assert platform_candidates("win32") == ("keyring.backends.Windows.WinVaultKeyring",)


def test_real_secret_service_round_trip(secret_service, keyring_env, tmp_path):
    from keyring.backends.SecretService import Keyring

    info = detect_os_backend()
    assert info.secure, info.describe()
    assert info.name == "keyring.backends.SecretService.Keyring"
    store = resolve_secret_store("os-keyring", data_dir=tmp_path)
    assert isinstance(store, OsKeyringStore)
    assert store.get(ADDR) is None
    store.set(ADDR, "correct horse battery staple")
    # read back through a fresh backend object, as another process would
    assert Keyring().get_password(SERVICE, ADDR) == "correct horse battery staple"
    assert store.get(ADDR) == "correct horse battery staple"
    store.delete(ADDR)
    assert store.get(ADDR) is None
    store.delete(ADDR)  # deleting what is not there is not an error


def test_real_secret_service_unlocks_wallet(secret_service, keyring_env, tmp_path):
    password = "pw-kept-by-gnome-keyring"
    wallet = Wallet.create(tmp_path / "ks.json", password, kdf_n=KDF_N)
    store = resolve_secret_store("os-keyring", data_dir=tmp_path)
    store.set(wallet.address, password)
    account = unlock_with_store(Wallet.load(wallet.path), store)
    assert account.address == wallet.address
    # gnome-keyring encrypts its file: the password is not in any file in plain text
    for f in _files_under(keyring_env / "xdg-data"):
        assert password.encode() not in f.read_bytes(), f


def test_cli_create_and_unlock_through_real_secret_service(secret_service, tmp_path, capsys):
    import json
    import os

    from milon_app.cli.main import main

    pw = tmp_path / "pw"
    pw.write_text("kept-in-the-os-keyring\n")
    os.chmod(pw, 0o600)
    home = str(tmp_path / "milon")
    n = ["--scrypt-n", str(KDF_N)]
    assert main(["--home", home, "--json", "wallet", "create", "--password-file", str(pw), *n]) == 0
    created = json.loads(capsys.readouterr().out)
    assert created["secret_store"] == "os-keyring"
    assert "keyring.backends.SecretService.Keyring" in created["password_kept_in"]
    assert main(["--home", home, "--json", "wallet", "show"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["os_backend_secure"] is True and shown["address"] == created["address"]
    # no password file now: it comes from the keyring
    assert main(["--home", home, "--json", "wallet", "export", "--private-key", "--yes"]) == 0
    exported = json.loads(capsys.readouterr().out)
    assert exported["address"] == created["address"]
