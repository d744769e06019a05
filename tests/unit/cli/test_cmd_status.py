"""`milon status` shows MILON amounts as MILON (issue 22 item 8): it printed claimable as
14000000000000000000 while `milon rewards` said 14 MILON. The JSON keeps the exact wei under
names that say so (`claimable_wei`)."""

from __future__ import annotations

import json
from types import SimpleNamespace

from milon_app.cli.main import main
from milon_app.config import Config
from milon_app.daemon.control import ControlServer
from milon_app.daemon.runner import Daemon

ME = "0x" + "1" * 40


def _daemon(tmp_path, claimable):
    d = Daemon(Config(), tmp_path)
    client = SimpleNamespace(connected=True, chain_id=31337, last_block=9)
    transport = SimpleNamespace(peer_id="16Uiu2", listen_addrs=lambda: ["/ip4/127.0.0.1/tcp/1"],
                                peers=lambda: ["16Uiu2peer"])  # fmt: skip
    state = SimpleNamespace(jobs=lambda: [], total_rewards=lambda: 14 * 10**18)
    d.node = SimpleNamespace(suite=SimpleNamespace(client=client), transport=transport,
                             address=ME, device="cpu", state=state)  # fmt: skip
    d._claimable = claimable
    return d


def _status(tmp_path, capsys, claimable, *flags):
    server = ControlServer(tmp_path, _daemon(tmp_path, claimable).status)
    server.start({"address": ME})
    try:
        assert main(["status", "--data-dir", str(tmp_path), *flags]) == 0
    finally:
        server.stop()
    return capsys.readouterr().out


def test_status_shows_milon_for_people_and_wei_only_in_wei_fields(tmp_path, capsys):
    text = _status(tmp_path, capsys, 14 * 10**18)
    assert "claimable         14 MILON" in text
    assert "rewards_credited  14 MILON" in text
    assert "14000000000000000000" not in text and "_wei" not in text
    data = json.loads(_status(tmp_path, capsys, 14 * 10**18, "--json"))
    assert data["claimable"] == "14" and data["claimable_wei"] == 14 * 10**18
    assert data["rewards_credited"] == "14" and data["rewards_credited_wei"] == 14 * 10**18


def test_claimable_not_read_yet_says_so(tmp_path, capsys):
    assert "claimable         unknown" in _status(tmp_path, capsys, None)


def test_status_finds_the_daemon_of_the_config_given_after_the_command(tmp_path, capsys):
    """`milon status --config node.toml` asks the daemon that runs on that file (its
    node.data_dir), as `milon --daemon --config node.toml` resolves it."""
    data = tmp_path / "daemon-data"
    toml = tmp_path / "node.toml"
    toml.write_text(f'[node]\ndata_dir = "{data}"\n')
    server = ControlServer(data, _daemon(data, 0).status)
    server.start({"address": ME})
    try:
        assert main(["status", "--config", str(toml), "--home", str(tmp_path / "home")]) == 0
    finally:
        server.stop()
    assert f"address           {ME}" in capsys.readouterr().out


def test_status_prints_a_bootstrap_line_to_paste_into_node_toml(tmp_path, capsys):
    """Issue 22 item 4: nothing said where a bootstrap multiaddr comes from."""
    import tomllib

    text = _status(tmp_path, capsys, 0)
    line = next(x.strip() for x in text.splitlines() if x.strip().startswith("bootstrap = "))
    assert tomllib.loads(line) == {"bootstrap": ["/ip4/127.0.0.1/tcp/1"]}
    data = json.loads(_status(tmp_path, capsys, 0, "--json"))
    assert data["bootstrap"] == ["/ip4/127.0.0.1/tcp/1"]
    assert tomllib.loads(data["bootstrap_line"]) == {"bootstrap": data["bootstrap"]}
    assert _status(tmp_path, capsys, 0, "--bootstrap-line") == data["bootstrap_line"] + "\n"
