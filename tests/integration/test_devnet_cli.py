"""`milon devnet` and `milon chain info` as a user runs them: real anvil processes on loopback."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys

import pytest

from milon_app.chain.devnet import free_port
from milon_app.exit_codes import ExitCode


def milon(*args, home, **kw):
    return subprocess.Popen(
        [sys.executable, "-m", "milon_app", "--home", str(home), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        **kw,
    )


def port_open(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.2):
            return True
    except OSError:
        return False


def test_devnet_deploys_funds_and_stops_on_sigterm(tmp_path):
    port = free_port()
    proc = milon("--json", "devnet", "--port", str(port), "--accounts", "3", home=tmp_path)
    try:
        out = ""
        while True:  # the JSON document ends with a "}" line at column 0
            line = proc.stdout.readline()
            out += line
            if not line or line == "}\n":
                break
        info = json.loads(out)
        assert info["rpc_url"] == f"http://127.0.0.1:{port}"
        manifest = tmp_path / "data" / "deployments" / "devnet.json"
        assert info["manifest"] == str(manifest)
        assert manifest.exists()
        # the devnet is usable from another process
        res = subprocess.run(
            [sys.executable, "-m", "milon_app", "--json", "chain", "info", "--rpc",
             info["rpc_url"], "--manifest", str(manifest)],
            capture_output=True, text=True, timeout=60,
        )
        assert res.returncode == 0, res.stderr
        data = json.loads(res.stdout)
        assert data["chain_id"] == 31337
        assert data["federations"] == 0
        # MILON for people, wei only under a name that says so (issue 22 item 8)
        supply = data["token_supply_wei"]
        assert supply > 0 and data["token_supply"] == str(supply // 10**18)
        human = subprocess.run(
            [sys.executable, "-m", "milon_app", "chain", "info", "--rpc", info["rpc_url"],
             "--manifest", str(manifest)],
            capture_output=True, text=True, timeout=60,
        )
        assert f"token_supply  {supply // 10**18} MILON" in human.stdout, human.stdout
        assert str(supply) not in human.stdout
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0
    assert not port_open(port), "anvil must be stopped with the devnet"


def test_devnet_no_wait_and_bad_args(tmp_path):
    port = free_port()
    proc = milon("devnet", "--port", str(port), "--accounts", "2", "--no-wait", home=tmp_path)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    assert "RPC URL   http://127.0.0.1:" in out
    assert "THROWAWAY" in out
    assert not port_open(port)
    bad = milon("devnet", "--accounts", "0", home=tmp_path)
    _, err = bad.communicate(timeout=30)
    assert bad.returncode == ExitCode.BAD_INPUT
    assert "--accounts must be in 1..1000" in err


def test_chain_info_reports_unreachable_rpc_and_bad_manifest(tmp_path):
    manifest = tmp_path / "m.json"
    manifest.write_text("{oops")
    proc = milon("chain", "info", "--rpc", "http://127.0.0.1:1", "--manifest", str(manifest),
                 home=tmp_path)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == ExitCode.BAD_INPUT
    assert "not valid JSON" in err


@pytest.mark.skipif(os.name != "posix", reason="signals")
def test_deploy_to_existing_devnet(tmp_path, anvil_node):
    proc = milon("--json", "deploy", "--rpc", anvil_node.url, "--dev-account", "5", "--dev",
                 home=tmp_path)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    data = json.loads(out)
    assert data["chain_id"] == 31337
    # without a devnet key the deployer is the wallet: none exists here
    missing_key = milon("deploy", "--rpc", anvil_node.url, home=tmp_path)
    _, err = missing_key.communicate(timeout=60)
    assert missing_key.returncode == ExitCode.NOT_FOUND
    assert "milon wallet create" in err


def test_deploy_from_the_wallet(tmp_path, anvil_node):
    from milon_app.chain.client import ChainClient
    from milon_app.wallet.keystore import Wallet

    client = ChainClient.connect(anvil_node.url, dev_accounts=8)
    funder = client.dev_accounts[7]
    wallet = Wallet.create(tmp_path / "data" / "wallet" / "keystore.json", "pw-throwaway",
                           kdf_n=2**14)
    client.send_eth(funder, wallet.address, 10 * 10**18)
    pw = tmp_path / "pw"
    pw.write_text("pw-throwaway")
    pw.chmod(0o600)
    proc = milon("--json", "deploy", "--rpc", anvil_node.url, "--secret-store", "password-file",
                 "--password-file", str(pw), home=tmp_path)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    manifest = json.loads((tmp_path / "data" / "deployments" / "31337.json").read_text())
    assert manifest["deployer"] == wallet.address
    assert json.loads(out)["contracts"] == manifest["contracts"]


def test_dev_deploy_is_refused_on_a_foreign_chain_id(tmp_path):
    """A dev deployment (faucet, minutes-long governance) only on anvil's 31337; the refusal
    comes before any key is unlocked, so it reads the same with or without a wallet."""
    from milon_app.chain.devnet import Anvil

    node = Anvil(accounts=2, chain_id=1337).start()
    try:
        for extra in (["--dev-account", "0"], []):
            proc = milon("deploy", "--rpc", node.url, "--dev", *extra, home=tmp_path)
            _, err = proc.communicate(timeout=60)
            assert proc.returncode == ExitCode.CHAIN, err
            assert "--dev is for local devnets only" in err and "chain id 1337" in err
            assert not (tmp_path / "data" / "deployments").exists()
    finally:
        node.stop()
