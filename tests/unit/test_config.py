from __future__ import annotations

import json
import stat

import pytest

from milon_app.config import Config, Paths, config_from_dict, describe, load_config, save_config
from milon_app.errors import ConfigError


def test_defaults_when_missing(tmp_path):
    cfg = load_config(tmp_path / "nope.json")
    assert cfg == Config()
    assert cfg.chain.rpc_url == "embedded"


def test_round_trip_is_atomic_and_typed(tmp_path):
    path = tmp_path / "c" / "config.json"
    cfg = Config()
    cfg.chain.rpc_url = "http://127.0.0.1:8545"
    cfg.p2p.bootstrap = ["/ip4/127.0.0.1/tcp/4001"]
    save_config(cfg, path)
    assert load_config(path) == cfg
    assert not [p for p in path.parent.iterdir() if p.name.endswith(".tmp")]
    assert stat.S_IMODE(path.stat().st_mode) == 0o644


def test_every_setting_has_a_description():
    rows = describe(Config())
    assert len(rows) >= 10
    for key, _value, text in rows:
        assert text, key


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        ("{not json", "not valid JSON"),
        ('{"chain": {"rpc_url": 5}}', "'chain.rpc_url': expected str"),
        ('{"chain": {"nope": 1}}', "unknown config key 'chain.nope'"),
        ('{"bogus": {}}', "unknown config key 'bogus'"),
        ('{"chain": []}', "section 'chain.'"),
        ('{"compute": {"max_threads": true}}', "expected int"),
        ('{"p2p": {"bootstrap": [1]}}', "'p2p.bootstrap[0]'"),
        ("[]", "expected an object"),
    ],
)
def test_bad_config_is_refused_with_the_key_named(tmp_path, payload, message):
    path = tmp_path / "config.json"
    path.write_text(payload)
    with pytest.raises(ConfigError, match=message.replace("[", r"\[").replace("]", r"\]")):
        load_config(path)


def test_int_accepted_for_float(tmp_path):
    path = tmp_path / "config.json"
    path.write_text(json.dumps({"node": {"poll_interval_s": 2}}))
    assert load_config(path).node.poll_interval_s == 2.0


def test_a_retired_key_from_an_older_version_still_loads_and_is_dropped(tmp_path, caplog):
    """chain.poll_interval_s was never read (the node polls the chain once per tick)."""
    path = tmp_path / "config.json"
    path.write_text(json.dumps({"chain": {"poll_interval_s": 5, "rpc_url": "http://x:8545"}}))
    with caplog.at_level("INFO", logger="milon_app.config"):
        cfg = load_config(path)
    assert cfg.chain.rpc_url == "http://x:8545" and not hasattr(cfg.chain, "poll_interval_s")
    assert "config key 'chain.poll_interval_s' is retired" in caplog.text
    save_config(cfg, path)
    assert "poll_interval_s" not in json.loads(path.read_text())["chain"]
    toml = tmp_path / "daemon.toml"
    toml.write_text("[chain]\npoll_interval_s = 0.5\n")
    assert load_config(toml) == Config()
    with pytest.raises(ConfigError, match="unknown config key 'node.retired'"):
        config_from_dict({"node": {"retired": 1}})  # only the listed keys are let through


def test_milon_home_puts_everything_under_one_folder(tmp_path, monkeypatch):
    monkeypatch.setenv("MILON_HOME", str(tmp_path))
    paths = Paths.default()
    assert paths.config_file == tmp_path / "config" / "config.json"
    assert paths.data_dir == tmp_path / "data"


def test_work_hours_become_the_policys_pair_or_a_clear_error():
    from milon_app.config import NodeSettings

    assert NodeSettings().hours() is None
    assert NodeSettings(work_hours=[9, 17]).hours() == (9, 17)
    with pytest.raises(ConfigError, match=r"work_hours must be \[start, end\]"):
        NodeSettings(work_hours=[9]).hours()


def test_unused_settings_name_what_another_setting_makes_unused() -> None:
    from milon_app.config import config_from_dict, unused_settings

    assert unused_settings(config_from_dict({})) == []
    keyring = config_from_dict({"wallet": {"password_file": "/x/pw"}})
    assert unused_settings(keyring) == [
        "wallet.password_file is not used: wallet.secret_store is 'os-keyring' "
        '(secret_store = "password-file" reads the password from that file)'
    ]
    no_file = config_from_dict({"wallet": {"secret_store": "password-file"}})
    assert "wallet.password_file is empty" in unused_settings(no_file)[0]
    inproc = config_from_dict({"p2p": {"transport": "inprocess", "bootstrap": ["/ip4/1.2.3.4"]}})
    assert unused_settings(inproc)[0].startswith("p2p.bootstrap is not used")
    both = config_from_dict({"wallet": {"secret_store": "password-file", "password_file": "/pw"}})
    assert unused_settings(both) == []
