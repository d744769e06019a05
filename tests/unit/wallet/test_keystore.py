"""Keystore v3 files: create, import, load, unlock, export, and every way a file can be bad."""

from __future__ import annotations

import json
import os
import stat

import pytest
from eth_account import Account

from milon_app.errors import BadInputError, NotFoundError, WalletError
from milon_app.exit_codes import ExitCode
from milon_app.wallet import Wallet, parse_private_key
from milon_app.wallet.keystore import check_kdf_n

from .conftest import KDF_N

KEY = "0x4c0883a69102937d6231471b5dbb6204fe5129617082792ae468d01a3f362318"
KEY_ADDR = "0x2c7536E3605D9C16a7a3D7b1898e529396a65c23"
PW = "s3cret-pw"


def _mode(path):
    return stat.S_IMODE(os.stat(path).st_mode)


def _snapshot(path):
    return path.read_bytes(), _mode(path)


def test_create_writes_0600_scrypt_keystore(tmp_path):
    path = tmp_path / "wallet" / "keystore.json"
    w = Wallet.create(path, PW, kdf_n=KDF_N)
    assert _mode(path) == 0o600
    assert _mode(path.parent) == 0o700
    doc = json.loads(path.read_text())
    assert doc["version"] == 3
    assert doc["crypto"]["kdf"] == "scrypt"
    assert doc["crypto"]["kdfparams"]["n"] == KDF_N
    assert (
        w.address.startswith("0x")
        and w.address == Account.from_key(Account.decrypt(doc, PW)).address
    )
    assert [p.name for p in path.parent.iterdir()] == ["keystore.json"]  # no temp files left
    assert Wallet.load(path) == w
    assert w.unlock(PW).address == w.address


def test_default_kdf_n_is_2_pow_18():
    from milon_app.wallet import DEFAULT_KDF_N

    assert DEFAULT_KDF_N == 2**18


@pytest.mark.parametrize("n", [2**13, 2**14 + 1, 3 * 2**14, 2**21, 0, -16384])
def test_bad_kdf_n_refused(tmp_path, n):
    with pytest.raises(BadInputError, match="scrypt n"):
        Wallet.create(tmp_path / "k.json", PW, kdf_n=n)
    assert not (tmp_path / "k.json").exists()
    assert check_kdf_n(2**14) == 2**14


def test_empty_password_refused(tmp_path):
    with pytest.raises(BadInputError, match="must not be empty"):
        Wallet.create(tmp_path / "k.json", "", kdf_n=KDF_N)
    assert not (tmp_path / "k.json").exists()


def test_never_overwrites_without_force(tmp_path):
    path = tmp_path / "k.json"
    first = Wallet.create(path, PW, kdf_n=KDF_N)
    before = _snapshot(path)
    with pytest.raises(WalletError, match="already exists") as err:
        Wallet.create(path, PW, kdf_n=KDF_N)
    assert str(path) in str(err.value) and "--force" in str(err.value)
    assert _snapshot(path) == before
    second = Wallet.create(path, PW, kdf_n=KDF_N, force=True)
    assert second.address != first.address
    backups = sorted(tmp_path.glob("k.json.bak-*"))
    assert len(backups) == 1
    assert backups[0].read_bytes() == before[0]
    assert _mode(backups[0]) == 0o600
    Wallet.create(path, PW, kdf_n=KDF_N, force=True)  # same second: a distinct backup name
    assert len(list(tmp_path.glob("k.json.bak-*"))) == 2


def test_import_key_round_trip(tmp_path):
    w = Wallet.import_key(tmp_path / "k.json", KEY, PW, kdf_n=KDF_N)
    assert w.address == KEY_ADDR
    assert "0x" + bytes(w.unlock(PW).key).hex() == KEY
    w2 = Wallet.import_key(tmp_path / "k2.json", bytes.fromhex(KEY[2:]), PW, kdf_n=KDF_N)
    assert w2.address == KEY_ADDR
    assert parse_private_key("  " + KEY[2:].upper() + "\n") == bytes.fromhex(KEY[2:])


@pytest.mark.parametrize(
    "bad, expect",
    [
        (KEY[:-1], "64 hex digits, got 63"),
        (KEY + "00", "64 hex digits, got 66"),
        ("0x" + "zz" + KEY[4:], "non-hex"),
        ("", "got 0"),
        ("0x" + "00" * 32, "out of range"),
        ("0x" + "ff" * 32, "out of range"),
    ],
)
def test_malformed_private_key_refused_without_echo(tmp_path, bad, expect):
    with pytest.raises(BadInputError, match=expect) as err:
        Wallet.import_key(tmp_path / "k.json", bad, PW, kdf_n=KDF_N)
    body = bad[2:] if bad.startswith("0x") else bad
    if len(body) >= 8:
        assert body[:8].lower() not in str(err.value).lower()
        assert body[-8:].lower() not in str(err.value).lower()
    assert err.value.__cause__ is None and err.value.__context__ is None
    assert not (tmp_path / "k.json").exists()


def test_raw_bytes_key_must_be_32(tmp_path):
    with pytest.raises(BadInputError, match="32 bytes, got 31"):
        Wallet.import_key(tmp_path / "k.json", b"\x01" * 31, PW, kdf_n=KDF_N)


def test_import_keystore_reencrypts_with_scrypt(tmp_path):
    src = tmp_path / "foreign.json"
    src.write_text(json.dumps(Account.encrypt(KEY, "their-pw", kdf="pbkdf2", iterations=1000)))
    w = Wallet.import_keystore(tmp_path / "k.json", src, "their-pw", kdf_n=KDF_N)
    assert w.address == KEY_ADDR
    doc = json.loads((tmp_path / "k.json").read_text())
    assert doc["crypto"]["kdf"] == "scrypt"
    assert w.unlock("their-pw").address == KEY_ADDR
    w2 = Wallet.import_keystore(
        tmp_path / "k2.json", src, "their-pw", new_password="mine", kdf_n=KDF_N
    )
    assert w2.unlock("mine").address == KEY_ADDR


def test_import_keystore_wrong_password(tmp_path):
    src = tmp_path / "foreign.json"
    src.write_text(json.dumps(Account.encrypt(KEY, "their-pw", kdf="scrypt", iterations=KDF_N)))
    with pytest.raises(WalletError, match=f"wrong password for keystore {src}"):
        Wallet.import_keystore(tmp_path / "k.json", src, "nope", kdf_n=KDF_N)
    assert not (tmp_path / "k.json").exists()


def test_wrong_password_leaves_keystore_untouched(tmp_path):
    path = tmp_path / "k.json"
    w = Wallet.create(path, PW, kdf_n=KDF_N)
    before = _snapshot(path)
    with pytest.raises(WalletError) as err:
        w.unlock("not-the-password")
    assert str(err.value) == f"wrong password for keystore {path}"
    assert err.value.exit_code == ExitCode.WALLET == 4
    assert "not-the-password" not in str(err.value)
    assert _snapshot(path) == before


def test_missing_keystore_names_path_and_suggests_create(tmp_path):
    path = tmp_path / "nope" / "keystore.json"
    with pytest.raises(NotFoundError) as err:
        Wallet.load(path)
    assert str(path) in str(err.value)
    assert "milon wallet create" in str(err.value)
    assert err.value.exit_code == ExitCode.NOT_FOUND


def _good_doc():
    return Account.encrypt(KEY, PW, kdf="scrypt", iterations=KDF_N)


def _edit(fn):
    doc = _good_doc()
    fn(doc)
    return json.dumps(doc).encode()


CORRUPT = {
    "empty": (b"", "empty"),
    "truncated": (json.dumps(_good_doc()).encode()[:100], "not valid JSON"),
    "not-json": (b"hello, this is not json\n", "not valid JSON"),
    "binary": (b"\xff\xfe\x00garbage", "not UTF-8"),
    "list": (b"[1, 2, 3]", "expected a JSON object, got list"),
    "version-1": (_edit(lambda d: d.update(version=1)), "version 1; only version 3"),
    "no-version": (_edit(lambda d: d.pop("version")), "version None"),
    "no-crypto": (_edit(lambda d: d.pop("crypto")), "'crypto' section is missing"),
    "bad-cipher": (_edit(lambda d: d["crypto"].update(cipher="aes-256-gcm")), "aes-128-ctr"),
    "bad-iv": (_edit(lambda d: d["crypto"]["cipherparams"].update(iv="zz")), "cipherparams.iv"),
    "short-mac": (_edit(lambda d: d["crypto"].update(mac="abcd")), "'mac'"),
    "bad-ciphertext": (_edit(lambda d: d["crypto"].pop("ciphertext")), "'ciphertext'"),
    "bad-kdf": (_edit(lambda d: d["crypto"].update(kdf="argon2")), "unknown kdf 'argon2'"),
    "huge-n": (_edit(lambda d: d["crypto"]["kdfparams"].update(n=2**30)), "scrypt n=1073741824"),
    "n-not-int": (_edit(lambda d: d["crypto"]["kdfparams"].update(n="16384")), "integers"),
    "bad-dklen": (_edit(lambda d: d["crypto"]["kdfparams"].update(dklen=16)), "dklen"),
    "no-address": (_edit(lambda d: d.pop("address")), "'address' is missing"),
    "bad-address": (_edit(lambda d: d.update(address="0x1234")), "'address'"),
}


@pytest.mark.parametrize("case", sorted(CORRUPT))
def test_corrupted_keystore_named_with_reason(tmp_path, case):
    data, expect = CORRUPT[case]
    path = tmp_path / "keystore.json"
    path.write_bytes(data)
    os.chmod(path, 0o600)
    with pytest.raises(WalletError) as err:
        Wallet.load(path)
    assert str(path) in str(err.value)
    assert expect in str(err.value)
    assert path.read_bytes() == data


def test_address_field_not_matching_key_is_refused(tmp_path):
    path = tmp_path / "k.json"
    path.write_bytes(_edit(lambda d: d.update(address="11" * 20)))
    w = Wallet.load(path)
    with pytest.raises(WalletError, match="inconsistent"):
        w.unlock(PW)


def test_tampered_ciphertext_reads_as_wrong_password(tmp_path):
    path = tmp_path / "k.json"
    path.write_bytes(_edit(lambda d: d["crypto"].update(ciphertext="00" * 32)))
    with pytest.raises(WalletError, match="wrong password"):
        Wallet.load(path).unlock(PW)


def test_oversized_and_non_file_keystores(tmp_path):
    big = tmp_path / "big.json"
    big.write_bytes(b" " * (65 * 1024))
    with pytest.raises(WalletError, match="too large"):
        Wallet.load(big)
    with pytest.raises(WalletError, match="not a regular file"):
        Wallet.load(tmp_path)


def test_export_keystore_copy(tmp_path):
    w = Wallet.import_key(tmp_path / "k.json", KEY, PW, kdf_n=KDF_N)
    dest = w.export_keystore(tmp_path / "out" / "copy.json")
    assert dest.read_bytes() == w.path.read_bytes()
    assert _mode(dest) == 0o600
    before = _snapshot(dest)
    with pytest.raises(WalletError, match="already exists"):
        w.export_keystore(dest)
    assert _snapshot(dest) == before
    w.export_keystore(dest, force=True)
    assert len(list(dest.parent.glob("copy.json.bak-*"))) == 1
    with pytest.raises(BadInputError, match="is the keystore itself"):
        w.export_keystore(w.path, force=True)
