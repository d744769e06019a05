"""The node's account on disk: one keystore v3 file (scrypt), written 0600 and atomically.

Blocking and Qt-free: scrypt at the default cost takes most of a second, so the
GUI calls these off its thread. Passwords and keys never appear in messages.
"""

from __future__ import annotations

import json
import logging
import os
import re
import stat
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from milon_app.errors import BadInputError, NotFoundError, WalletError
from milon_app.util.atomic import atomic_write_bytes

if TYPE_CHECKING:
    from eth_account.signers.local import LocalAccount

log = logging.getLogger(__name__)

DEFAULT_KDF_N = 2**18  # geth's "standard" scrypt cost: ~0.7 s per encrypt or decrypt
MIN_KDF_N = 2**14  # the cheapest we write (tests); lower would make a weak keystore
MAX_KDF_N = 2**20  # refuse to read beyond this: 128*n*r bytes of memory per attempt
MAX_KEYSTORE_BYTES = 64 * 1024
MAX_SCRYPT_MEMORY = 1 << 30  # 128*n*r bytes: geth's standard (n=2^18, r=8) needs 256 MiB
_SECP256K1_N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141
_HEX = re.compile(r"[0-9a-fA-F]*")


def check_kdf_n(n: int) -> int:
    """Refuse scrypt costs that are not powers of two or are too weak or too heavy."""
    if n < MIN_KDF_N or n > MAX_KDF_N or n & (n - 1):
        raise BadInputError(
            f"scrypt n must be a power of two between {MIN_KDF_N} and {MAX_KDF_N}, got {n}"
        )
    return n


def parse_private_key(text: str) -> bytes:
    """Hex (with or without 0x) to 32 key bytes; errors never echo the input."""
    raw = text.strip()
    if raw[:2].lower() == "0x":
        raw = raw[2:]
    if len(raw) != 64:
        raise BadInputError(f"private key must be 64 hex digits, got {len(raw)} characters")
    if not _HEX.fullmatch(raw):
        raise BadInputError("private key must be 64 hex digits, found a non-hex character")
    key = bytes.fromhex(raw)
    if not 0 < int.from_bytes(key, "big") < _SECP256K1_N:
        raise BadInputError("private key is out of range for secp256k1 (zero or >= curve order)")
    return key


def _check_password(password: str) -> None:
    if not password:
        raise BadInputError("the keystore password must not be empty")


def _backup_name(path: Path) -> Path:
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    candidate = path.with_name(f"{path.name}.bak-{stamp}")
    i = 1
    while candidate.exists():
        candidate = path.with_name(f"{path.name}.bak-{stamp}-{i}")
        i += 1
    return candidate


def write_keystore_file(path: Path, data: bytes, *, force: bool) -> Path | None:
    """Write ``data`` 0600, atomically; an existing file needs ``force`` and is backed up.

    Returns the backup's path when one was made.
    """
    backup: Path | None = None
    if path.exists() or path.is_symlink():
        if not force:
            raise WalletError(
                f"keystore {path} already exists; refusing to overwrite it "
                "(use --force: the old file is kept as a timestamped backup)"
            )
        if not path.is_file():
            raise WalletError(f"keystore path {path} exists and is not a regular file")
        backup = _backup_name(path)
        atomic_write_bytes(backup, path.read_bytes(), mode=0o600)
        log.info("kept the old keystore as %s", backup)
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    atomic_write_bytes(path, data, mode=0o600)
    return backup


def _encrypt(key: bytes, password: str, kdf_n: int) -> bytes:
    from eth_account import Account

    _check_password(password)
    obj = Account.encrypt(key, password, kdf="scrypt", iterations=check_kdf_n(kdf_n))
    return (json.dumps(obj, indent=2, sort_keys=True) + "\n").encode("utf-8")


def _require(cond: bool, path: Path, what: str) -> None:
    if not cond:
        raise WalletError(f"keystore {path} is corrupted: {what}")


def _is_hex(value: Any, length: int | None = None) -> bool:
    if not isinstance(value, str) or not _HEX.fullmatch(value) or len(value) % 2:
        return False
    return length is None or len(value) == length


def _check_kdf(crypto: dict[str, Any], path: Path) -> None:
    kdf = crypto.get("kdf")
    params = crypto.get("kdfparams")
    _require(isinstance(params, dict), path, "'crypto.kdfparams' is missing or not an object")
    assert isinstance(params, dict)
    _require(_is_hex(params.get("salt")), path, "'kdfparams.salt' is missing or not hex")
    dklen = params.get("dklen")
    _require(dklen == 32, path, f"'kdfparams.dklen' is {dklen!r}, expected 32")
    if kdf == "scrypt":
        n, r, p = params.get("n"), params.get("r"), params.get("p")
        ok = all(isinstance(v, int) and not isinstance(v, bool) for v in (n, r, p))
        _require(ok, path, "scrypt 'n', 'r' and 'p' must be integers")
        assert isinstance(n, int) and isinstance(r, int) and isinstance(p, int)
        n_ok = 2 <= n <= MAX_KDF_N and not n & (n - 1)
        _require(n_ok, path, f"scrypt n={n} is not a power of two in [2, {MAX_KDF_N}]")
        _require(1 <= r <= 16 and 1 <= p <= 16, path, f"scrypt r={r} p={p} out of bounds [1, 16]")
        memory = 128 * n * r
        _require(memory <= MAX_SCRYPT_MEMORY, path, f"scrypt n={n} r={r} needs {memory >> 20} MiB")
    elif kdf == "pbkdf2":
        c = params.get("c")
        _require(isinstance(c, int) and 1 <= c <= 10**7, path, f"pbkdf2 c={c!r} out of bounds")
        _require(params.get("prf") == "hmac-sha256", path, "pbkdf2 'prf' must be hmac-sha256")
    else:
        _require(False, path, f"unknown kdf {kdf!r} (expected 'scrypt' or 'pbkdf2')")


def parse_keystore(data: bytes, path: Path) -> tuple[dict[str, Any], str]:
    """Validate a keystore v3 document; returns it and its checksummed address."""
    from eth_utils.address import to_checksum_address

    if not data.strip():
        raise WalletError(f"keystore {path} is corrupted: the file is empty")
    try:
        obj = json.loads(data.decode("utf-8"))
    except UnicodeDecodeError:
        raise WalletError(f"keystore {path} is corrupted: not UTF-8 text") from None
    except json.JSONDecodeError as exc:
        raise WalletError(
            f"keystore {path} is corrupted: not valid JSON (truncated?): "
            f"{exc.msg} at line {exc.lineno} column {exc.colno}"
        ) from None
    except (RecursionError, ValueError) as exc:  # nesting too deep, a 5000-digit number
        raise WalletError(
            f"keystore {path} is corrupted: not a usable JSON document ({type(exc).__name__})"
        ) from None
    _require(isinstance(obj, dict), path, f"expected a JSON object, got {type(obj).__name__}")
    version = obj.get("version")
    if version != 3:
        raise WalletError(f"keystore {path} has version {version!r}; only version 3 is supported")
    crypto = obj.get("crypto", obj.get("Crypto"))
    _require(isinstance(crypto, dict), path, "the 'crypto' section is missing or not an object")
    cipher = crypto.get("cipher")
    _require(cipher == "aes-128-ctr", path, f"cipher {cipher!r} is not aes-128-ctr")
    cparams = crypto.get("cipherparams")
    iv = cparams.get("iv") if isinstance(cparams, dict) else None
    _require(_is_hex(iv, 32), path, "'cipherparams.iv' is missing or not 16 bytes of hex")
    for name in ("ciphertext", "mac"):
        _require(_is_hex(crypto.get(name), 64), path, f"{name!r} is missing or not 32 bytes of hex")
    _check_kdf(crypto, path)
    address = obj.get("address")
    if isinstance(address, str) and address[:2].lower() == "0x":
        address = address[2:]
    _require(_is_hex(address, 40), path, "'address' is missing or not 20 bytes of hex")
    assert isinstance(address, str)
    return obj, str(to_checksum_address("0x" + address))


@dataclass(frozen=True)
class Wallet:
    """A keystore file and the address it holds; unlocking needs the password."""

    path: Path
    address: str

    @classmethod
    def load(cls, path: Path | str) -> Wallet:
        """Read and validate the keystore; the address is readable without the password."""
        p = Path(path)
        try:
            st = p.stat()
        except FileNotFoundError:
            raise NotFoundError(
                f"no keystore at {p}; create one with `milon wallet create` "
                "or import one with `milon wallet import`"
            ) from None
        if not stat.S_ISREG(st.st_mode):
            raise WalletError(f"keystore path {p} is not a regular file")
        if st.st_size > MAX_KEYSTORE_BYTES:
            raise WalletError(f"keystore {p} is {st.st_size} bytes, too large for a keystore")
        _, address = parse_keystore(p.read_bytes(), p)
        return cls(p, address)

    @classmethod
    def create(
        cls, path: Path | str, password: str, *, kdf_n: int = DEFAULT_KDF_N, force: bool = False
    ) -> Wallet:
        """A new random account, encrypted with ``password``."""
        import secrets

        while True:  # a random 32-byte value is out of range with probability ~2^-128
            key = secrets.token_bytes(32)
            if 0 < int.from_bytes(key, "big") < _SECP256K1_N:
                break
        return cls._store(Path(path), key, password, kdf_n, force)

    @classmethod
    def import_key(
        cls,
        path: Path | str,
        private_key: str | bytes,
        password: str,
        *,
        kdf_n: int = DEFAULT_KDF_N,
        force: bool = False,
    ) -> Wallet:
        """Encrypt an existing private key (hex text or 32 raw bytes)."""
        if isinstance(private_key, bytes):
            if len(private_key) != 32:
                raise BadInputError(f"private key must be 32 bytes, got {len(private_key)}")
            key = parse_private_key(private_key.hex())
        else:
            key = parse_private_key(private_key)
        return cls._store(Path(path), key, password, kdf_n, force)

    @classmethod
    def import_keystore(
        cls,
        path: Path | str,
        source: Path | str,
        password: str,
        *,
        new_password: str | None = None,
        kdf_n: int = DEFAULT_KDF_N,
        force: bool = False,
    ) -> Wallet:
        """Decrypt another keystore v3 file and re-encrypt it with scrypt under ``path``.

        ``new_password`` defaults to the source's ``password``.
        """
        account = cls.load(source).unlock(password)
        return cls._store(Path(path), bytes(account.key), new_password or password, kdf_n, force)

    @classmethod
    def _store(cls, path: Path, key: bytes, password: str, kdf_n: int, force: bool) -> Wallet:
        data = _encrypt(key, password, kdf_n)
        write_keystore_file(path, data, force=force)
        _, address = parse_keystore(data, path)
        log.info("wrote keystore %s for %s", path, address)
        return cls(path, address)

    def unlock(self, password: str) -> LocalAccount:
        """Decrypt the key; a wrong password raises WalletError and leaves the file alone."""
        from eth_account import Account

        obj, address = parse_keystore(self.path.read_bytes(), self.path)
        try:
            key = Account.decrypt(obj, password)
        except ValueError as exc:
            if "MAC mismatch" in str(exc):
                raise WalletError(f"wrong password for keystore {self.path}") from None
            raise WalletError(
                f"keystore {self.path} cannot be decrypted: {type(exc).__name__}"
            ) from None
        except Exception as exc:  # malformed params that passed validation
            raise WalletError(
                f"keystore {self.path} cannot be decrypted: {type(exc).__name__}"
            ) from None
        account: LocalAccount = Account.from_key(key)
        if account.address != address:
            raise WalletError(
                f"keystore {self.path} is inconsistent: its 'address' field says {address} "
                f"but the key belongs to {account.address}"
            )
        return account

    def export_keystore(self, dest: Path | str, *, force: bool = False) -> Path:
        """Copy the keystore (still encrypted) to ``dest``, 0600, atomically."""
        data = self.path.read_bytes()
        parse_keystore(data, self.path)
        target = Path(dest)
        if target.resolve() == self.path.resolve():
            raise BadInputError(f"export destination {target} is the keystore itself")
        write_keystore_file(target, data, force=force)
        return target


def file_mode(path: Path) -> int:
    """Permission bits, for messages and tests."""
    return stat.S_IMODE(os.stat(path).st_mode)
