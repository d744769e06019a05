"""Property tests for keystore files, which users import from other wallets.

``Wallet.load`` returns a wallet or raises WalletError; ``unlock`` returns the
account whose address the file claims, or raises WalletError; neither ever
changes the file, and a file's scrypt cost is bounded before any work starts.
The key here is a THROWAWAY generated per run, never a real one.
"""

from __future__ import annotations

import json
import os

from eth_account import Account
from hypothesis import given
from hypothesis import strategies as st

from milon_app.errors import WalletError
from milon_app.wallet import Wallet
from milon_app.wallet.keystore import MAX_KDF_N, MAX_SCRYPT_MEMORY
from tests.unit.fuzz_util import FUZZ, FUZZ_SLOW, bounded_memory, outcome

from .conftest import KDF_N

PASSWORD = "throwaway fuzz password"  # a labelled test password
THROWAWAY_KEY = os.urandom(32)  # fresh each run; never funded, never written outside tmp
GOOD = Account.encrypt(THROWAWAY_KEY, PASSWORD, kdf="scrypt", iterations=KDF_N)
PATHS = [
    ("version",),
    ("address",),
    ("crypto",),
    ("crypto", "cipher"),
    ("crypto", "ciphertext"),
    ("crypto", "mac"),
    ("crypto", "kdf"),
    ("crypto", "cipherparams"),
    ("crypto", "cipherparams", "iv"),
    ("crypto", "kdfparams"),
    ("crypto", "kdfparams", "n"),
    ("crypto", "kdfparams", "r"),
    ("crypto", "kdfparams", "p"),
    ("crypto", "kdfparams", "dklen"),
    ("crypto", "kdfparams", "salt"),
]
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=66),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3)
    ),
    max_leaves=8,
)
hex_text = st.text(alphabet="0123456789abcdefABCDEF", min_size=0, max_size=70)


def _set(doc: dict, path: tuple[str, ...], value: object) -> None:
    for key in path[:-1]:
        if not isinstance(doc.get(key), dict):
            doc[key] = {}
        doc = doc[key]
    doc[path[-1]] = value


def _hex(n: int) -> st.SearchStrategy[str]:
    return st.binary(min_size=n, max_size=n).map(bytes.hex)


PLAUSIBLE = {  # values of the right form, so that files get past the checks to unlock
    ("version",): st.just(3),
    ("address",): _hex(20) | st.just(GOOD["address"]),
    ("crypto", "ciphertext"): _hex(32),
    ("crypto", "mac"): _hex(32),
    ("crypto", "cipherparams", "iv"): _hex(16),
    ("crypto", "kdfparams", "n"): st.sampled_from([2, 4, 1024, KDF_N]),
    ("crypto", "kdfparams", "r"): st.integers(1, 8),
    ("crypto", "kdfparams", "p"): st.integers(1, 2),
    ("crypto", "kdfparams", "salt"): st.integers(0, 40).flatmap(_hex),
}


@st.composite
def keystores(draw: st.DrawFn, values: st.SearchStrategy = json_values | hex_text) -> bytes:
    doc = json.loads(json.dumps(GOOD))
    for _ in range(draw(st.integers(1, 3))):
        path = draw(st.sampled_from(PATHS))
        plausible = PLAUSIBLE.get(path)
        value = draw(plausible if plausible is not None and draw(st.booleans()) else values)
        _set(doc, path, value)
    return json.dumps(doc).encode()


def test_any_file_loads_or_is_refused_and_is_never_changed(tmp_path):
    path = tmp_path / "keystore.json"

    @FUZZ
    @given(keystores() | st.binary(max_size=300) | st.integers(1, 30_000).map(lambda n: b"[" * n))
    def check(data: bytes) -> None:
        path.write_bytes(data)
        wallet = outcome(lambda: Wallet.load(path), WalletError)
        assert path.read_bytes() == data
        if wallet is not None:
            assert wallet.address.startswith("0x") and len(wallet.address) == 42
            params = json.loads(data)["crypto"]["kdfparams"]
            if json.loads(data)["crypto"]["kdf"] == "scrypt":
                assert params["n"] <= MAX_KDF_N
                assert 128 * params["n"] * params["r"] <= MAX_SCRYPT_MEMORY

    with bounded_memory():
        check()


# Unlocking costs a scrypt run, so the cost fields stay cheap here; everything else varies.
cheap = st.one_of(
    hex_text,
    st.sampled_from([2, 4, 1024, KDF_N, 1, 8, 16, 17, 32, "scrypt", "pbkdf2", "aes-128-ctr"]),
    st.integers(-3, 40),
)


def test_unlock_gives_the_claimed_account_or_wallet_error(tmp_path):
    path = tmp_path / "keystore.json"
    expected = Account.from_key(THROWAWAY_KEY).address

    @FUZZ_SLOW
    @given(keystores(cheap), st.sampled_from([PASSWORD, PASSWORD + "x", "", "\u00e9"]))
    def check(data: bytes, password: str) -> None:
        path.write_bytes(data)
        wallet = outcome(lambda: Wallet.load(path), WalletError)
        if wallet is None:
            return
        account = outcome(lambda: wallet.unlock(password), WalletError)
        assert path.read_bytes() == data
        if account is not None:
            assert account.address == wallet.address == expected
            assert password == PASSWORD

    with bounded_memory():
        check()
