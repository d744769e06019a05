"""One config for every command (issue 22 item 1), and `milon job wait`, on a real anvil.

A daemon's ``node.toml`` given with ``--config`` is the config of every command: its
wallet settings, its chain and its ``node.data_dir`` (where the wallet, the blobs and the
daemon's state live), so a wallet made with that config is the one its daemon unlocks.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from milon_app.cli.main import main
from milon_app.exit_codes import ExitCode
from tests.integration.cli_chain_helpers import ETHER, job_create_args, start_devnet

PASSWORD = "throwaway-test-password"  # a THROWAWAY test keystore password


@pytest.fixture(scope="module")
def devnet(tmp_path_factory):
    net = start_devnet(tmp_path_factory.mktemp("devnet"), accounts=4)  # dev account 3 makes jobs
    yield net
    net.node.stop()


def node_toml(folder: Path, devnet, extra: str = "") -> Path:
    """A contributor's node.toml as docs/one-machine.md writes it: a password file and a data
    folder of its own, the devnet's RPC and manifest."""
    folder.mkdir(parents=True, exist_ok=True)
    pw = folder / "password"
    pw.write_text(PASSWORD)
    pw.chmod(0o600)
    toml = folder / "node.toml"
    toml.write_text(
        f'[chain]\nrpc_url = "{devnet.url}"\nmanifest = "{devnet.manifest}"\n\n'
        f'[wallet]\nsecret_store = "password-file"\npassword_file = "{pw}"\n\n'
        f'[node]\ndata_dir = "{folder / "data"}"\n{extra}'
    )
    return toml


@pytest.fixture
def run(tmp_path, capsys):
    """``milon --home <empty> ARGS``: nothing but the given --config can matter."""

    def go(*args: object) -> tuple[int, str, str]:
        capsys.readouterr()
        code = main(["--home", str(tmp_path / "home"), *map(str, args)])
        out, err = capsys.readouterr()
        return code, out, err

    return go


def test_a_node_toml_serves_wallet_fund_and_chain_commands(tmp_path, devnet, run):
    toml = node_toml(tmp_path / "alice", devnet)
    code, out, err = run("--config", toml, "--json", "wallet", "create", "--scrypt-n", 2**14)
    assert code == 0, err
    made = json.loads(out)
    assert Path(made["keystore"]) == tmp_path / "alice" / "data" / "wallet" / "keystore.json"
    code, out, err = run("--config", toml, "--json", "wallet", "show")
    assert code == 0, err
    assert json.loads(out)["address"] == made["address"]
    assert "password-file" in json.loads(out)["secret_store"]

    code, out, err = run("--config", toml, "--json", "devnet", "fund", "--milon", "300")
    assert code == 0, err
    assert json.loads(out)["address"] == made["address"]
    assert json.loads(out)["milon_wei"] == 300 * ETHER

    # a signing command unlocks that wallet with the config's password file
    code, out, err = run("--config", toml, "--json", "fed", "create", "lab", "--min-stake", "10")
    assert code == 0, err
    fed = json.loads(out)["id"]
    code, out, err = run(
        "--config", toml, "--json", "fed", "join", fed, "--stake", "20", "--capacity", "1000"
    )
    assert code == 0, err
    code, out, err = run("--config", toml, "--json", "fed", "show", fed)
    assert code == 0, err
    assert [m["address"] for m in json.loads(out)["member_list"]] == [made["address"]]


def test_verbose_says_which_config_and_unused_settings_are_warned(tmp_path, devnet, run, caplog):
    toml = node_toml(tmp_path / "bob", devnet)
    toml.write_text(toml.read_text().replace('"password-file"', '"os-keyring"'))
    with caplog.at_level(logging.INFO, logger="milon_app.cli.context"):
        code, _out, err = run("-v", "--config", toml, "fed", "list")
    assert code == 0, err
    assert f"config {toml}" in caplog.text
    assert "wallet.password_file is not used: wallet.secret_store is 'os-keyring'" in err


def test_an_unknown_key_is_named_and_nothing_runs(tmp_path, devnet, run):
    toml = node_toml(tmp_path / "carol", devnet, extra='acept_mode = "auto"\n')
    code, _out, err = run("--config", toml, "fed", "list")
    assert code == ExitCode.CONFIG
    assert "unknown config key 'node.acept_mode'" in err


def test_the_window_refuses_a_config_it_would_ignore(tmp_path, run):
    code, _out, err = run("--config", tmp_path / "node.toml")
    assert code == ExitCode.USAGE
    assert "--config is for commands and --daemon" in err


def test_job_wait_times_out_on_an_open_job_and_names_an_unknown_one(tmp_path, devnet, run):
    cfg = ["--rpc", devnet.url, "--manifest", devnet.manifest]
    ensure_federation(devnet)
    code, out, err = run("--json", *job_create_args(*cfg))
    assert code == 0, err
    job = json.loads(out)["id"]
    code, _out, err = run("job", "wait", job, "--timeout", "0.5", "--poll", "0.1", *cfg)
    assert code == ExitCode.TIMEOUT
    assert f"job {job} is still open after" in err
    code, _out, err = run("job", "wait", 999, *cfg)
    assert code == ExitCode.NOT_FOUND
    code, _out, err = run("job", "wait", job, "--poll", "0", *cfg)
    assert code == ExitCode.BAD_INPUT and "--poll must be" in err


def ensure_federation(devnet) -> None:
    """Federation 1 on this devnet (the first test may have made it already)."""
    from milon_app.chain.bindings import Milon

    m = Milon(devnet.suite)
    devnet.client.note_external_write()
    if m.federation_count() == 0:
        m.create_federation(devnet.dev(1), "jobs", b"\0" * 32, 10 * ETHER)
