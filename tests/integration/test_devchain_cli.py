"""`milon chain mine|warp` and `milon devnet fund` (issue 22 items 2-3), and a devnet whose
idle chain still moves: real anvil processes on loopback."""

from __future__ import annotations

import json
import time

import pytest
from eth_account import Account

from milon_app.cli.main import main
from milon_app.exit_codes import ExitCode
from tests.integration.cli_chain_helpers import ETHER, start_devnet, write_config


@pytest.fixture(scope="module")
def devnet(tmp_path_factory):
    net = start_devnet(tmp_path_factory.mktemp("devnet"), accounts=3)
    yield net
    net.node.stop()


@pytest.fixture
def milon(tmp_path, devnet, capsys):
    home = tmp_path / "home"
    write_config(home, rpc_url=devnet.url, manifest=str(devnet.manifest))

    def run(*args):
        capsys.readouterr()
        code = main(["--home", str(home), "--json", *map(str, args)])
        out, err = capsys.readouterr()
        return code, (json.loads(out) if code == 0 else out), err

    return run


def test_mine_adds_blocks_and_warp_moves_time(milon, devnet):
    code, out, err = milon("chain", "mine", 3)
    assert code == 0, err
    devnet.client.note_external_write()
    assert out["block"] == out["block_before"] + 3 == devnet.client.block_number()
    code, out, err = milon("chain", "warp", 3600)
    assert code == 0, err
    assert out["time"] >= out["time_before"] + 3600


def test_fund_gives_a_new_wallet_gas_and_milon(milon, devnet):
    from milon_app.chain.bindings import Milon

    newcomer = Account.create().address  # THROWAWAY test account
    code, out, err = milon("devnet", "fund", newcomer, "--eth", "2", "--milon", "500")
    assert code == 0, err
    assert out["eth_wei"] == 2 * ETHER and out["milon_wei"] == 500 * ETHER
    devnet.client.note_external_write()  # its reads are pinned to a head it read just before
    assert Milon(devnet.suite).balance(newcomer) == 500 * ETHER


@pytest.mark.parametrize(("args", "needle"), [
    (("chain", "mine", 0), "blocks must be 1..100000"),
    (("chain", "warp", "soon"), "seconds must be a whole number"),
    (("devnet", "fund", "0x123"), "address"),
    (("devnet", "fund", "0x" + "11" * 20, "--eth", "0", "--milon", "0"), "nothing to send"),
    (("devnet", "fund", "0x" + "11" * 20, "--milon", "1e30"), "--milon"),
])  # fmt: skip
def test_bad_input_names_what_is_wrong(milon, args, needle):
    code, _out, err = milon(*args)
    assert code == ExitCode.BAD_INPUT and needle in err, err


def test_every_dev_control_is_refused_on_another_chain(tmp_path, capsys):
    foreign = start_devnet(tmp_path, chain_id=1337, accounts=2)
    try:
        home = tmp_path / "home"
        write_config(home, rpc_url=foreign.url, manifest=str(foreign.manifest))
        block = foreign.client.block_number()
        for args in (["chain", "mine", "2"], ["chain", "warp", "60"],
                     ["devnet", "fund", "0x" + "22" * 20]):
            code = main(["--home", str(home), *args])
            err = capsys.readouterr().err
            assert code == ExitCode.BAD_INPUT and "local devnets only" in err, err
            assert "chain id 1337" in err
        assert foreign.client.block_number() == block  # nothing mined, nothing sent
    finally:
        foreign.node.stop()


def test_an_idle_devnet_mines_on_its_own_and_transactions_are_not_delayed():
    from milon_app.chain.client import ChainClient
    from milon_app.chain.devnet import Anvil

    with Anvil(accounts=2, block_time_s=0.5) as node:
        client = ChainClient.connect(node.url, dev_accounts=2)
        start = client.block_number()
        deadline = time.monotonic() + 10
        while client.block_number() < start + 3 and time.monotonic() < deadline:
            time.sleep(0.1)
        assert client.block_number() >= start + 3  # nobody sent anything
    # an hour between idle blocks: a transaction is mined anyway (interval mining alone would
    # leave it pending until the next tick and the receipt wait would time out)
    with Anvil(accounts=2, block_time_s=3600) as node:
        client = ChainClient.connect(node.url, dev_accounts=2)
        client.receipt_timeout_s = 20
        receipt = client.send_eth(client.dev_accounts[0], client.dev_accounts[1].address, 1)
        assert receipt["status"] == 1
