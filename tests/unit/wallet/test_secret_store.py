"""The explicit alternatives to the OS keyring: encrypted file, prompt, password file."""

from __future__ import annotations

import os

import pytest

from milon_app.errors import ConfigError, KeyringUnavailableError, WalletError
from milon_app.wallet import (
    EncryptedFileStore,
    PasswordFileStore,
    PromptStore,
    Wallet,
    resolve_secret_store,
    unlock_with_store,
)

from .conftest import KDF_N

ADDR = "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed"
ADDR2 = "0xfB6916095ca1df60bB79Ce92cE3Ea74c37c5d359"
CHEAP = (1, 1024)  # Argon2 time cost, memory KiB: tests only (default ~0.5 s per operation)


def test_encrypted_file_default_cost_round_trip_and_wrong_master(tmp_path, keyring_env):
    """At the real Argon2 cost: what a user's file goes through (~5 Argon2 runs)."""
    store = resolve_secret_store("encrypted-file", data_dir=tmp_path, ask_master=lambda: "master-1")
    assert isinstance(store, EncryptedFileStore)
    assert store.path == tmp_path / "wallet" / "secrets.cryptfile"
    store.set(ADDR, "keystore-pw-A")
    assert oct(os.stat(store.path).st_mode & 0o777) == "0o600"
    assert oct(os.stat(store.path.parent).st_mode & 0o777) == "0o700"
    raw = store.path.read_bytes()
    assert b"keystore-pw-A" not in raw and b"master-1" not in raw

    again = EncryptedFileStore(store.path, lambda: "master-1")  # a later start
    assert again.get(ADDR) == "keystore-pw-A"

    wrong = EncryptedFileStore(store.path, lambda: "master-2")
    with pytest.raises(WalletError) as err:
        wrong.get(ADDR)
    assert str(err.value) == f"wrong master password for the encrypted secret store {store.path}"
    assert "master-2" not in str(err.value)
    assert store.path.read_bytes() == raw


def test_encrypted_file_several_accounts_and_delete(tmp_path):
    path = tmp_path / "s.cryptfile"
    store = EncryptedFileStore(path, lambda: "m", argon_cost=CHEAP)
    store.set(ADDR, "pw-A")
    store.set(ADDR2, "pw-B")
    again = EncryptedFileStore(path, lambda: "m", argon_cost=CHEAP)
    assert (again.get(ADDR), again.get(ADDR2)) == ("pw-A", "pw-B")
    assert again.get("0x" + "00" * 20) is None
    again.delete(ADDR2)
    again.delete(ADDR2)  # deleting what is not there is not an error
    assert again.get(ADDR2) is None
    assert again.get(ADDR) == "pw-A"


def test_encrypted_file_empty_master_refused(tmp_path):
    store = EncryptedFileStore(tmp_path / "s.cryptfile", lambda: "  ", argon_cost=CHEAP)
    with pytest.raises(Exception, match="master password .* is empty"):
        store.set(ADDR, "pw")
    assert not (tmp_path / "s.cryptfile").exists()


def test_encrypted_file_needs_a_master_password(tmp_path):
    with pytest.raises(KeyringUnavailableError, match="MILON_WALLET_MASTER_PASSWORD_FILE"):
        resolve_secret_store("encrypted-file", data_dir=tmp_path)


def test_encrypted_file_store_unlocks_wallet(tmp_path):
    wallet = Wallet.create(tmp_path / "k.json", "pw", kdf_n=KDF_N)
    store = EncryptedFileStore(tmp_path / "s.cryptfile", lambda: "m", argon_cost=CHEAP)
    store.set(wallet.address, "pw")
    later = EncryptedFileStore(tmp_path / "s.cryptfile", lambda: "m", argon_cost=CHEAP)
    assert unlock_with_store(wallet, later).address == wallet.address


def test_prompt_store_asks_each_time_and_stores_nothing(tmp_path, keyring_env):
    asked: list[str] = []

    def ask(prompt: str) -> str:
        asked.append(prompt)
        return "typed-pw"

    store = resolve_secret_store("prompt", data_dir=tmp_path, ask_password=ask)
    assert isinstance(store, PromptStore)
    store.set(ADDR, "typed-pw")
    assert store.get(ADDR) == "typed-pw"
    assert store.get(ADDR) == "typed-pw"
    assert len(asked) == 2 and ADDR in asked[0]
    assert not any(p.is_file() for p in tmp_path.rglob("*"))
    with pytest.raises(KeyringUnavailableError, match="needs a terminal"):
        resolve_secret_store("prompt", data_dir=tmp_path)


def test_password_file_store(tmp_path):
    pw = tmp_path / "pw"
    pw.write_text("file-pw\n")
    os.chmod(pw, 0o600)
    store = resolve_secret_store("password-file", data_dir=tmp_path, password_file=pw)
    assert isinstance(store, PasswordFileStore)
    assert store.get(ADDR) == "file-pw"
    store.set(ADDR, "file-pw")  # same password: nothing to do
    with pytest.raises(WalletError, match="holds a different password"):
        store.set(ADDR, "other")
    assert pw.read_text() == "file-pw\n"
    os.chmod(pw, 0o644)
    with pytest.raises(Exception, match="mode 0644"):
        store.get(ADDR)
    with pytest.raises(ConfigError, match="wallet.password_file"):
        resolve_secret_store("password-file", data_dir=tmp_path)


def test_unknown_choice_and_missing_password(tmp_path):
    with pytest.raises(ConfigError, match="'plaintext'.*os-keyring, encrypted-file"):
        resolve_secret_store("plaintext", data_dir=tmp_path)
    wallet = Wallet.create(tmp_path / "k.json", "pw", kdf_n=KDF_N)
    empty = EncryptedFileStore(tmp_path / "s.cryptfile", lambda: "m", argon_cost=CHEAP)
    with pytest.raises(WalletError, match=f"no password for {wallet.address}"):
        unlock_with_store(wallet, empty)


@pytest.mark.parametrize(
    "content",
    [
        b"\x00\x01 not an ini file",
        b"[keyring_2Dsetting]\npassword_20reference = bm90IGpzb24=\n"
        b"scheme = [Argon2] AES128.GCM\nversion = 1.3.9\n",
    ],
)
def test_encrypted_file_corrupted(tmp_path, content):
    path = tmp_path / "s.cryptfile"
    path.write_bytes(content)
    store = EncryptedFileStore(path, lambda: "m", argon_cost=CHEAP)
    with pytest.raises(WalletError, match=f"encrypted secret store {path} is unreadable"):
        store.get(ADDR)
    assert path.read_bytes() == content
