"""The invite rules every front-end shares: which config an invite makes, when the node's own
chain matches it, and the wizard's setup from an invite, which leaves nothing behind when it
fails. (The chain checks run against served chains in tests/gui/test_invite_gui.py and
against anvil in tests/integration/test_invite.py.)"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from milon_app.chain.errors import WrongChainError
from milon_app.chain.invite import Invite
from milon_app.chain.manifest import Manifest
from milon_app.config import Config, Paths, load_config
from milon_app.errors import ConfigError, WalletError
from milon_app.session import invite_join as J
from milon_app.session.setup import SecretChoice, WalletChoice
from milon_app.wallet.keystore import MIN_KDF_N
from tests.unit.session.test_setup import KEY, PEER, manifest_file

URLS = ("http://127.0.0.1:8545", "http://127.0.0.1:8546")


@pytest.fixture
def invite(tmp_path: Path) -> Invite:
    return Invite(Manifest.load(manifest_file(tmp_path / "m.json")), URLS, 3, (PEER,))


def test_configured_sets_every_chain_key_and_adds_the_peers(invite: Invite, tmp_path: Path):
    base = Config()
    base.p2p.bootstrap = ["/ip4/10.0.0.9/tcp/1/p2p/QmcgpsyWgH8Y8ajJz1Cu72KnS5uo2Aa2LpzU7kinSupNKC"]
    cfg = J.configured(base, invite, tmp_path / "x.json", force=False)
    assert (cfg.chain.rpc_url, cfg.chain.rpc_urls) == (URLS[0], [URLS[1]])
    assert (cfg.chain.manifest, cfg.chain.expected_chain_id) == (str(tmp_path / "x.json"), 31337)
    assert cfg.p2p.bootstrap == [*base.p2p.bootstrap, PEER]  # added, not swapped
    assert J.configured(base, invite, tmp_path / "x.json", force=True).p2p.bootstrap == [PEER]


def test_configured_refuses_a_key_set_otherwise_unless_forced(invite: Invite, tmp_path: Path):
    base = Config()
    base.chain.expected_chain_id = 5
    with pytest.raises(ConfigError, match="chain.expected_chain_id is 5"):
        J.configured(base, invite, tmp_path / "x.json", force=False)
    forced = J.configured(base, invite, tmp_path / "x.json", force=True)
    assert forced.chain.expected_chain_id == 31337


def test_same_chain_is_the_chain_id_and_every_address(invite: Invite):
    J.check_same_chain(invite, invite.manifest)
    other_id = dataclasses.replace(invite.manifest, chain_id=5)
    with pytest.raises(WrongChainError, match="chain id 31337, this node works on chain id 5"):
        J.check_same_chain(invite, other_id)
    moved = dict(invite.manifest.contracts, MilonToken="0x" + "22" * 20)
    with pytest.raises(WrongChainError, match="MilonToken.*another deployment"):
        J.check_same_chain(invite, dataclasses.replace(invite.manifest, contracts=moved))


def test_manifest_with_other_content_is_refused_unless_forced(invite: Invite, tmp_path: Path):
    path = J.manifest_file(tmp_path, invite)
    assert path.name.startswith("chain-31337-") and path.parent == tmp_path / "deployments"
    J.check_manifest_free(invite, path, force=False)  # absent
    invite.manifest.save(path)
    J.check_manifest_free(invite, path, force=False)  # the same
    path.write_text("{}")
    with pytest.raises(ConfigError, match="exists with other content"):
        J.check_manifest_free(invite, path, force=False)
    J.check_manifest_free(invite, path, force=True)


def files(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*")) if root.exists() else []


def test_setup_from_invite_writes_the_config_join_would(invite: Invite, tmp_path: Path):
    paths = Paths.default(tmp_path / "home")
    wallet = WalletChoice("import-key", "pw", "pw", KEY)
    result = J.setup_from_invite(paths, wallet, SecretChoice("prompt"), invite, kdf_n=MIN_KDF_N)
    cfg = load_config(paths.config_file)
    assert cfg == result.config and cfg.wallet.secret_store == "prompt"
    assert (cfg.chain.rpc_url, cfg.chain.rpc_urls, cfg.p2p.bootstrap) == (URLS[0], [URLS[1]],
                                                                           [PEER])
    assert cfg.chain.manifest == str(J.manifest_file(paths.data_dir, invite))
    assert Manifest.load(Path(cfg.chain.manifest)) == invite.manifest


def test_a_failed_setup_from_invite_leaves_nothing(invite: Invite, tmp_path: Path):
    paths = Paths.default(tmp_path / "home")
    keystore = paths.data_dir / "wallet" / "keystore.json"
    keystore.parent.mkdir(parents=True)
    keystore.write_text("{}")  # already there: the setup refuses after the manifest was written
    before = files(tmp_path)
    with pytest.raises(WalletError, match="already exists"):
        J.setup_from_invite(paths, WalletChoice("create", "pw", "pw"), SecretChoice("prompt"),
                            invite, kdf_n=MIN_KDF_N)
    assert files(tmp_path) == before  # the manifest and its folder are gone again
