"""First-run setup without Qt: checks refuse bad answers, apply writes wallet + store + config."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest

from milon_app.chain.artifacts import CONTRACT_NAMES
from milon_app.chain.manifest import Manifest
from milon_app.config import Config, Paths, load_config, save_config
from milon_app.errors import BadInputError, KeyringUnavailableError, NotFoundError, WalletError
from milon_app.session import setup
from milon_app.session.setup import NetworkChoice, SecretChoice, WalletChoice
from milon_app.wallet.keystore import MIN_KDF_N, Wallet
from milon_app.wallet.os_keyring import OsBackend

PW = "correct horse battery staple"
KEY = "0x" + "4c" * 32  # THROWAWAY test key
PEER = "/ip4/10.0.0.2/tcp/4001/p2p/QmcgpsyWgH8Y8ajJz1Cu72KnS5uo2Aa2LpzU7kinSupNKC"


@pytest.fixture
def paths(tmp_path: Path) -> Paths:
    return Paths.default(tmp_path / "home")


def secret_file(path: Path, text: str, mode: int = 0o600) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text + "\n")
    path.chmod(mode)
    return path


def manifest_file(path: Path) -> Path:
    contracts = {name: "0x" + f"{i + 1:040x}" for i, name in enumerate(CONTRACT_NAMES)}
    m = Manifest(chain_id=31337, contracts=contracts, deployed_block=1, deployer="0x" + "1" * 40,
                 dev=True)
    path.parent.mkdir(parents=True, exist_ok=True)
    m.save(path)
    return path


def source_keystore(tmp_path: Path, password: str = "source-pw") -> Wallet:
    return Wallet.import_key(tmp_path / "src" / "ks.json", KEY, password, kdf_n=MIN_KDF_N)


def written(paths: Paths) -> list[str]:
    if not paths.config_dir.parent.exists():
        return []
    return sorted(str(p.relative_to(paths.config_dir.parent))
                  for p in paths.config_dir.parent.rglob("*") if p.is_file())


# ---------------------------------------------------------------- checks


@pytest.mark.parametrize(
    ("choice", "message"),
    [
        (WalletChoice("create", "", ""), "must not be empty"),
        (WalletChoice("create", "a", "b"), "differ"),
        (WalletChoice("import-key", PW, PW, private_key="0x1234"), "64 hex digits"),
        (WalletChoice("import-key", PW, PW, private_key="zz" * 32), "non-hex"),
        (WalletChoice("import-keystore", "x", source=""), "choose the keystore file"),
        (WalletChoice("nonsense", PW, PW), "unknown wallet option"),
    ],
)
def test_check_wallet_refuses_bad_answers(choice: WalletChoice, message: str) -> None:
    with pytest.raises(BadInputError, match=message):
        setup.check_wallet(choice)


def test_check_wallet_keystore_file_missing_or_malformed(tmp_path: Path) -> None:
    with pytest.raises(NotFoundError, match="does not exist"):
        setup.check_wallet(WalletChoice("import-keystore", "x", source=str(tmp_path / "no.json")))
    bad = tmp_path / "bad.json"
    bad.write_text('{"version": 3, "crypto": ')
    with pytest.raises(WalletError, match="not valid JSON"):
        setup.check_wallet(WalletChoice("import-keystore", "x", source=str(bad)))
    good = source_keystore(tmp_path)
    with pytest.raises(BadInputError, match="password of the keystore file"):
        setup.check_wallet(WalletChoice("import-keystore", "", source=str(good.path)))
    setup.check_wallet(WalletChoice("import-keystore", "anything", source=str(good.path)))


def test_check_secret_never_degrades_a_missing_os_keyring(paths: Paths) -> None:
    none = OsBackend("keyring.backends.SecretService.Keyring", None, "no D-Bus")
    with pytest.raises(KeyringUnavailableError, match="no D-Bus"):
        setup.check_secret(SecretChoice("os-keyring"), PW, paths, none)
    with pytest.raises(KeyringUnavailableError, match="not checked"):
        setup.check_secret(SecretChoice("os-keyring"), PW, paths, None)


def test_check_secret_encrypted_file_and_password_file(paths: Paths, tmp_path: Path) -> None:
    with pytest.raises(BadInputError, match="master password"):
        setup.check_secret(SecretChoice("encrypted-file"), PW, paths, None)
    with pytest.raises(BadInputError, match="master passwords differ"):
        setup.check_secret(SecretChoice("encrypted-file", master_password="m", master_confirm="n"),
                           PW, paths, None)
    with pytest.raises(BadInputError, match="choose the password file"):
        setup.check_secret(SecretChoice("password-file"), PW, paths, None)
    loose = secret_file(tmp_path / "loose.txt", PW, 0o644)
    with pytest.raises(BadInputError, match="0644"):
        setup.check_secret(SecretChoice("password-file", str(loose)), PW, paths, None)
    other = secret_file(tmp_path / "other.txt", "not the same")
    with pytest.raises(BadInputError, match="different password"):
        setup.check_secret(SecretChoice("password-file", str(other)), PW, paths, None)
    ok = secret_file(tmp_path / "ok.txt", PW)
    setup.check_secret(SecretChoice("password-file", str(ok)), PW, paths, None)
    setup.check_secret(SecretChoice("prompt"), PW, paths, None)


@pytest.mark.parametrize(
    "url", ["localhost:8545", "ftp://host", "http://", "http://host:99999", "http://a b", "embedded"]
)
def test_rpc_url_form_is_checked(url: str) -> None:
    with pytest.raises(BadInputError, match="RPC URL"):
        setup.check_rpc_url(url)


def test_rpc_url_accepts_http_and_ws() -> None:
    for url in ("http://127.0.0.1:8545", "https://rpc.example.org/v1", "wss://node:8546"):
        assert setup.check_rpc_url(f" {url} ") == url


def test_bootstrap_needs_full_multiaddrs() -> None:
    assert setup.check_bootstrap((PEER, "  ", "")) == [PEER]
    with pytest.raises(BadInputError, match="not a multiaddr"):
        setup.check_bootstrap(("10.0.0.2:4001",))
    with pytest.raises(BadInputError, match="lacks /p2p"):
        setup.check_bootstrap(("/ip4/10.0.0.2/tcp/4001",))


def test_check_network_kinds(paths: Paths, tmp_path: Path) -> None:
    assert setup.check_network(NetworkChoice("simulated"), paths) == ("embedded", "", [])
    rpc, manifest, _ = setup.check_network(NetworkChoice("devnet"), paths)
    assert rpc == "http://127.0.0.1:8545"
    assert manifest == str(paths.data_dir / "deployments" / "devnet.json")
    assert "milon devnet" in setup.devnet_note(paths)
    missing = NetworkChoice("custom", "http://h:8545", str(tmp_path / "none.json"))
    with pytest.raises(NotFoundError, match="not found"):
        setup.check_network(missing, paths)
    broken = tmp_path / "broken.json"
    broken.write_text("{not json")
    with pytest.raises(BadInputError, match="not valid JSON"):
        setup.check_network(NetworkChoice("custom", "http://h:8545", str(broken)), paths)
    good = manifest_file(tmp_path / "m.json")
    got = setup.check_network(NetworkChoice("custom", "http://h:8545", str(good), (PEER,)), paths)
    assert got == ("http://h:8545", str(good.resolve()), [PEER])


# ---------------------------------------------------------------- apply


def test_create_with_password_file(paths: Paths, tmp_path: Path) -> None:
    pw_file = secret_file(tmp_path / "pw.txt", PW)
    base = Config()
    base.p2p.transport = "inprocess"  # an existing setting survives the wizard
    save_config(base, paths.config_file)
    result = setup.apply_setup(
        paths, WalletChoice("create", PW, PW), SecretChoice("password-file", str(pw_file)),
        NetworkChoice("simulated"), kdf_n=MIN_KDF_N,
    )
    assert result.keystore == paths.data_dir / "wallet" / "keystore.json"
    assert stat.S_IMODE(os.stat(result.keystore).st_mode) == 0o600
    cfg = load_config(paths.config_file)
    assert cfg.wallet.keystore == str(result.keystore)
    assert cfg.wallet.secret_store == "password-file"
    assert cfg.wallet.password_file == str(pw_file.resolve())
    assert cfg.chain.rpc_url == "embedded" and cfg.p2p.transport == "inprocess"
    assert PW not in paths.config_file.read_text()
    assert not setup.needs_setup(cfg, paths)
    got = setup.stored_password(cfg, paths, result.address)
    assert Wallet.load(result.keystore).unlock(got or "").address == result.address


def test_import_key_with_encrypted_file_and_custom_network(paths: Paths, tmp_path: Path) -> None:
    manifest = manifest_file(tmp_path / "deploy.json")
    secret = SecretChoice("encrypted-file", master_password="master-1", master_confirm="master-1")
    network = NetworkChoice("custom", "https://rpc.example.org", str(manifest), (PEER,))
    result = setup.apply_setup(paths, WalletChoice("import-key", PW, PW, private_key=KEY), secret,
                               network, kdf_n=MIN_KDF_N)
    from eth_account import Account

    assert result.address == Account.from_key(KEY).address
    cfg = load_config(paths.config_file)
    assert (cfg.chain.rpc_url, cfg.chain.manifest) == ("https://rpc.example.org",
                                                       str(manifest.resolve()))
    assert cfg.p2p.bootstrap == [PEER] and cfg.wallet.secret_store == "encrypted-file"
    assert cfg.wallet.password_file == ""
    text = paths.config_file.read_text()
    assert PW not in text and "master-1" not in text and KEY[2:] not in text
    assert setup.stored_password(cfg, paths, result.address, master_password="master-1") == PW
    with pytest.raises(WalletError, match="wrong master password"):
        setup.stored_password(cfg, paths, result.address, master_password="nope")
    with pytest.raises(KeyringUnavailableError):
        setup.stored_password(cfg, paths, result.address)


def test_import_keystore_keeps_its_password_and_prompt_stores_nothing(
    paths: Paths, tmp_path: Path
) -> None:
    src = source_keystore(tmp_path)
    before = src.path.read_bytes()
    wrong = WalletChoice("import-keystore", "wrong", source=str(src.path))
    with pytest.raises(WalletError, match="wrong password"):
        setup.apply_setup(paths, wrong, SecretChoice("prompt"), NetworkChoice("devnet"),
                          kdf_n=MIN_KDF_N)
    assert written(paths) == [] and src.path.read_bytes() == before
    ok = WalletChoice("import-keystore", "source-pw", source=str(src.path))
    result = setup.apply_setup(paths, ok, SecretChoice("prompt"), NetworkChoice("devnet"),
                               kdf_n=MIN_KDF_N)
    assert result.address == src.address and src.path.read_bytes() == before
    cfg = load_config(paths.config_file)
    assert cfg.chain.rpc_url == "http://127.0.0.1:8545" and cfg.wallet.secret_store == "prompt"
    assert setup.stored_password(cfg, paths, result.address) is None
    assert Wallet.load(result.keystore).unlock("source-pw").address == src.address


def test_bad_answers_write_nothing(paths: Paths, tmp_path: Path) -> None:
    loose = secret_file(tmp_path / "loose.txt", PW, 0o640)
    cases = [
        (WalletChoice("create", PW, "other"), SecretChoice("prompt"), NetworkChoice()),
        (WalletChoice("create", PW, PW), SecretChoice("password-file", str(loose)), NetworkChoice()),
        (WalletChoice("create", PW, PW), SecretChoice("prompt"),
         NetworkChoice("custom", "not a url", str(tmp_path / "m.json"))),
        (WalletChoice("create", PW, PW), SecretChoice("prompt"),
         NetworkChoice("custom", "http://h:1", str(tmp_path / "missing.json"))),
        (WalletChoice("create", PW, PW), SecretChoice("os-keyring"), NetworkChoice()),
    ]
    for wallet, secret, network in cases:
        backend = OsBackend("none", None, "headless")
        with pytest.raises((BadInputError, NotFoundError, KeyringUnavailableError)):
            setup.apply_setup(paths, wallet, secret, network, os_backend=backend,
                              kdf_n=MIN_KDF_N)
        assert written(paths) == [], (wallet.kind, secret.store, network.kind)


def test_existing_keystore_and_wrong_master_are_refused_untouched(
    paths: Paths, tmp_path: Path
) -> None:
    secret = SecretChoice("encrypted-file", master_password="m1", master_confirm="m1")
    first = setup.apply_setup(paths, WalletChoice("create", PW, PW), secret, NetworkChoice(),
                              kdf_n=MIN_KDF_N)
    data = first.keystore.read_bytes()
    with pytest.raises(WalletError, match="already exists"):
        setup.apply_setup(paths, WalletChoice("create", PW, PW), secret, NetworkChoice(),
                          kdf_n=MIN_KDF_N)
    assert first.keystore.read_bytes() == data
    first.keystore.rename(tmp_path / "moved.json")
    wrong = SecretChoice("encrypted-file", master_password="m2")
    with pytest.raises(WalletError, match="wrong master password"):
        setup.apply_setup(paths, WalletChoice("create", PW, PW), wrong, NetworkChoice(),
                          kdf_n=MIN_KDF_N)
    assert not first.keystore.exists()


def test_config_file_json_has_no_secret_fields(paths: Paths, tmp_path: Path) -> None:
    pw_file = secret_file(tmp_path / "pw.txt", PW)
    setup.apply_setup(paths, WalletChoice("import-key", PW, PW, private_key=KEY),
                      SecretChoice("password-file", str(pw_file)), NetworkChoice(),
                      kdf_n=MIN_KDF_N)
    data = json.loads(paths.config_file.read_text())
    assert set(data["wallet"]) == {"keystore", "secret_store", "password_file"}
    assert KEY[2:] not in paths.config_file.read_text()
