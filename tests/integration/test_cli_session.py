"""The plumbing every chain command shares: RPC/manifest choice, keys, amounts, refusals."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from milon_app.cli.chain_session import format_amount, parse_amount, parse_hash
from milon_app.cli.main import main
from milon_app.errors import BadInputError
from milon_app.exit_codes import ExitCode
from tests.integration.cli_chain_helpers import ETHER, register_commands, start_devnet, write_config

register_commands()


@pytest.fixture(scope="module")
def devnet(tmp_path_factory):
    net = start_devnet(tmp_path_factory.mktemp("devnet"))
    yield net
    net.node.stop()


def run(home, *args, capsys):
    capsys.readouterr()
    code = main(["--home", str(home), "--json", *[str(a) for a in args]])
    out, err = capsys.readouterr()
    return code, out, err


# ---------------------------------------------------------------- amounts


@pytest.mark.parametrize(
    ("text", "wei"),
    [
        ("10", 10 * ETHER),
        ("10.5", 105 * ETHER // 10),
        ("0", 0),
        (" 7 ", 7 * ETHER),
        ("0.000000000000000001", 1),
        ("123456789.123456789123456789", 123456789123456789123456789),
    ],
)
def test_parse_and_format_amounts_round_trip(text, wei):
    assert parse_amount(text) == wei
    assert parse_amount(format_amount(wei)) == wei


def test_format_amount_is_plain():
    assert format_amount(10 * ETHER) == "10"
    assert format_amount(105 * ETHER // 10) == "10.5"
    assert format_amount(1) == "0.000000000000000001"
    assert format_amount(0) == "0"


@pytest.mark.parametrize(
    "bad",
    [
        "",
        "ten",
        "-1",
        "1e18",
        "1,5",
        ".5",
        "5.",
        "0x10",
        "nan",
        "1.0000000000000000001",
        "10e18wei",
    ],
)
def test_parse_amount_refuses_and_names_the_value(bad):
    with pytest.raises(BadInputError) as exc:
        parse_amount(bad, "--stake")
    assert "--stake" in str(exc.value) and repr(bad) in str(exc.value)


def test_parse_hash():
    assert parse_hash("0x" + "ab" * 32) == bytes.fromhex("ab" * 32)
    assert parse_hash("AB" * 32) == bytes.fromhex("ab" * 32)
    for bad in ("ab" * 31, "zz" * 32, ""):
        with pytest.raises(BadInputError):
            parse_hash(bad)


# ---------------------------------------------------------------- RPC and manifest


def test_embedded_rpc_is_refused_with_a_hint(tmp_path, devnet, capsys):
    code, _, err = run(
        tmp_path, "fed", "list", "--rpc", "embedded", "--manifest", devnet.manifest, capsys=capsys
    )
    assert code == ExitCode.BAD_INPUT
    assert "the embedded chain lives only inside one process" in err
    assert "milon devnet" in err and "--rpc" in err


def test_no_manifest_anywhere(tmp_path, capsys):
    code, _, err = run(tmp_path, "fed", "list", "--rpc", "http://127.0.0.1:1", capsys=capsys)
    assert code == ExitCode.NOT_FOUND
    assert "no deployment manifest" in err and "devnet.json" in err


def test_unreachable_rpc_is_a_chain_error(tmp_path, devnet, capsys):
    code, _, err = run(
        tmp_path,
        "fed",
        "list",
        "--rpc",
        "http://127.0.0.1:1",
        "--manifest",
        devnet.manifest,
        capsys=capsys,
    )
    assert code == ExitCode.CHAIN
    assert "unreachable" in err


def test_manifest_for_another_chain_or_without_code(tmp_path, devnet, capsys):
    data = json.loads(devnet.manifest.read_text())
    other = tmp_path / "other.json"
    other.write_text(json.dumps(dict(data, chain_id=1)))
    code, _, err = run(
        tmp_path, "fed", "list", "--rpc", devnet.url, "--manifest", other, capsys=capsys
    )
    assert code == ExitCode.CHAIN and "manifest is for chain id 1" in err
    empty = tmp_path / "empty.json"
    contracts = {k: "0x" + "11" * 20 for k in data["contracts"]}
    empty.write_text(json.dumps(dict(data, contracts=contracts)))
    code, _, err = run(
        tmp_path, "fed", "list", "--rpc", devnet.url, "--manifest", empty, capsys=capsys
    )
    assert code == ExitCode.CHAIN and "no contract code at" in err
    broken = tmp_path / "broken.json"
    broken.write_text("{")
    code, _, err = run(
        tmp_path, "fed", "list", "--rpc", devnet.url, "--manifest", broken, capsys=capsys
    )
    assert code == ExitCode.BAD_INPUT and "not valid JSON" in err


def test_devnet_manifest_is_the_default_and_carries_the_rpc(tmp_path, devnet, capsys):
    """After `milon devnet` a bare `milon fed list` just works."""
    target = tmp_path / "data" / "deployments" / "devnet.json"
    target.parent.mkdir(parents=True)
    target.write_text(devnet.manifest.read_text())
    code, out, err = run(tmp_path, "fed", "list", capsys=capsys)
    assert code == 0, err
    assert json.loads(out) == []


def test_config_rpc_and_manifest_are_used(tmp_path, devnet, capsys):
    write_config(tmp_path, rpc_url=devnet.url, manifest=str(devnet.manifest))
    code, out, err = run(tmp_path, "job", "list", capsys=capsys)
    assert code == 0, err
    assert json.loads(out) == []
    write_config(tmp_path, rpc_url=devnet.url, manifest=str(devnet.manifest), expected_chain_id=5)
    code, _, err = run(tmp_path, "job", "list", capsys=capsys)
    assert code == ExitCode.CHAIN and "expected 5" in err


# ---------------------------------------------------------------- keys


def _foreign_chain(tmp_path, chain_id):
    """Anvil on another chain id with a production-parameter suite (a dev one is refused)."""
    from milon_app.chain.client import ChainClient
    from milon_app.chain.deploy import deploy_suite
    from milon_app.chain.devnet import Anvil

    node = Anvil(accounts=3, chain_id=chain_id).start()
    try:
        client = ChainClient.connect(node.url, dev_accounts=3)
        suite = deploy_suite(client, client.dev_accounts[0], dev=False)
        suite.manifest.rpc_url = node.url
        manifest = tmp_path / "manifest.json"
        suite.manifest.save(manifest)
    except BaseException:
        node.stop()
        raise
    return node, manifest


def test_dev_account_refused_off_devnet(tmp_path, capsys):
    node, manifest = _foreign_chain(tmp_path, 1337)
    try:
        code, _, err = run(
            tmp_path,
            "fed",
            "create",
            "x",
            "--min-stake",
            "100",  # the production floor: the refusal below is the key's, not the stake's
            "--dev-account",
            1,
            "--rpc",
            node.url,
            "--manifest",
            manifest,
            capsys=capsys,
        )
        assert code == ExitCode.BAD_INPUT
        assert "PUBLIC test mnemonic" in err and "chain 1337" in err
    finally:
        node.stop()


def test_dev_account_range(tmp_path, devnet, capsys):
    code, _, err = run(
        tmp_path,
        "rewards",
        "--dev-account",
        -1,
        "--rpc",
        devnet.url,
        "--manifest",
        devnet.manifest,
        capsys=capsys,
    )
    assert code == ExitCode.BAD_INPUT and "--dev-account must be in 0..999" in err


def _wallet(tmp_path, devnet, password="correct horse"):
    from milon_app.wallet.keystore import Wallet

    ks = tmp_path / "keystore.json"
    wallet = Wallet.create(ks, password, kdf_n=2**14)
    pw = tmp_path / "pw"
    pw.write_text(password)
    pw.chmod(0o600)
    funder = devnet.dev(1)
    devnet.client.forget_nonces()
    devnet.client.send_eth(funder, wallet.address, ETHER)
    devnet.client.transact(
        devnet.suite.token.functions.transfer(wallet.address, 50 * ETHER), funder
    )
    return wallet, ks, pw


def test_wallet_signs_when_no_dev_account(tmp_path, devnet, capsys):
    snap = devnet.client.snapshot()
    try:
        wallet, ks, pw = _wallet(tmp_path, devnet)
        chain = ["--rpc", devnet.url, "--manifest", devnet.manifest]
        code, out, err = run(
            tmp_path,
            "fed",
            "create",
            "w",
            "--min-stake",
            "1",
            *chain,
            "--keystore",
            ks,
            "--password-file",
            pw,
            capsys=capsys,
        )
        assert code == 0, err
        fed_id = json.loads(out)["id"]
        code, out, err = run(
            tmp_path,
            "fed",
            "join",
            fed_id,
            "--stake",
            "5",
            "--capacity",
            3,
            *chain,
            "--keystore",
            ks,
            "--password-file",
            pw,
            capsys=capsys,
        )
        assert code == 0, err
        assert json.loads(out)["address"] == wallet.address
        code, out, err = run(tmp_path, "rewards", *chain, "--keystore", ks, capsys=capsys)
        assert code == 0, err
        assert json.loads(out)["milon_balance"] == "45"
        # wrong password: a wallet error, nothing sent
        pw.write_text("wrong")
        code, _, err = run(
            tmp_path,
            "fed",
            "leave",
            fed_id,
            *chain,
            "--keystore",
            ks,
            "--password-file",
            pw,
            capsys=capsys,
        )
        assert code == ExitCode.WALLET and "wrong password" in err
        assert "wrong" not in err.replace("wrong password", "")
        # no password source and no terminal
        code, _, err = run(
            tmp_path,
            "fed",
            "leave",
            fed_id,
            *chain,
            "--keystore",
            ks,
            "--secret-store",
            "password-file",
            capsys=capsys,
        )
        assert code == ExitCode.CONFIG and "needs a file" in err
    finally:
        devnet.client.revert(snap)


def test_missing_keystore_names_the_fix(tmp_path, devnet, capsys):
    code, _, err = run(
        tmp_path,
        "rewards",
        "claim",
        "--rpc",
        devnet.url,
        "--manifest",
        devnet.manifest,
        "--keystore",
        tmp_path / "none.json",
        capsys=capsys,
    )
    assert code == ExitCode.NOT_FOUND and "milon wallet create" in err


def test_real_process_exit_code(tmp_path, devnet):
    """One end-to-end check through a real `milon` process (the others run in-process)."""
    code = (
        "import sys; import tests.integration.cli_chain_helpers as h; h.register_commands(); "
        "from milon_app.cli.main import main; sys.exit(main(sys.argv[1:]))"
    )
    res = subprocess.run(
        [
            sys.executable,
            "-c",
            code,
            "--home",
            str(tmp_path),
            "fed",
            "show",
            "7",
            "--rpc",
            devnet.url,
            "--manifest",
            str(devnet.manifest),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert res.returncode == ExitCode.NOT_FOUND, res.stderr
    assert res.stderr.startswith("milon: error: federation 7 does not exist")
