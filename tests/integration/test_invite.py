"""`milon fed invite` then `milon join` on another home, against real anvil devnets; every
refused invite leaves that home byte-identical."""

from __future__ import annotations

import json
import socket
from pathlib import Path

import pytest

from milon_app.chain.devnet import Anvil
from milon_app.chain.invite import PREFIX, checksum, decode_body
from milon_app.cli.main import main
from milon_app.exit_codes import ExitCode
from tests.integration.cli_chain_helpers import start_devnet, write_config

PEER = "/ip4/127.0.0.1/tcp/4001/p2p/12D3KooWQYhTNQdmr3ArTeUHRYzFg94BKyTkoWBDWez9kSCVe2Xo"


@pytest.fixture(scope="module")
def devnet(tmp_path_factory):
    net = start_devnet(tmp_path_factory.mktemp("devnet"))
    yield net
    net.node.stop()


@pytest.fixture(scope="module")
def other_chain():
    """A bare anvil serving chain id 31338: same addresses, no code, another chain."""
    node = Anvil(accounts=1, chain_id=31338).start()
    yield node
    node.stop()


@pytest.fixture
def chain(devnet):
    snap = devnet.client.snapshot()
    yield devnet
    devnet.client.revert(snap)


def run(home: Path, capsys, *args: object) -> tuple[int, str, str]:
    capsys.readouterr()
    code = main(["--home", str(home), *[str(a) for a in args]])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def invite(chain, tmp_path, capsys) -> str:
    """Federation 1 made by dev account 1 on the owner's home; its invite."""
    owner = tmp_path / "owner"
    write_config(owner, rpc_url=chain.url, manifest=str(chain.manifest))
    code, _, err = run(
        owner, capsys, "fed", "create", "lab", "--min-stake", "10", "--dev-account", 1
    )
    assert code == 0, err
    code, out, err = run(owner, capsys, "fed", "invite", 1, "--bootstrap", PEER)
    assert code == 0, err
    text = out.strip()
    assert text.startswith(PREFIX) and "\n" not in text
    return text


def snapshot(home: Path) -> dict[str, bytes]:
    return {str(p.relative_to(home)): p.read_bytes() for p in home.rglob("*") if p.is_file()}


def edited(text: str, *, fix: bool = True, **changes: object) -> str:
    """The invite with fields changed and, with ``fix``, the checksum made to match (a
    sender's lie); without, a corruption that still parses."""
    import base64

    body = decode_body(text)
    body.update(changes)
    if fix:
        body["sha256"] = checksum(body)
    raw = json.dumps(body, sort_keys=True, separators=(",", ":")).encode()
    return PREFIX + base64.urlsafe_b64encode(raw).decode().rstrip("=")


def test_invite_then_join_on_another_home(invite, chain, tmp_path, capsys) -> None:
    joiner = tmp_path / "joiner"
    code, out, err = run(
        joiner, capsys, "--json", "join", invite, "--capacity", 100, "--dev-account", 2
    )
    assert code == 0, err
    assert json.loads(out)["federation"] == 1
    cfg = json.loads((joiner / "config" / "config.json").read_text())
    assert cfg["chain"]["rpc_url"] == chain.url
    assert cfg["chain"]["expected_chain_id"] == 31337
    assert cfg["p2p"]["bootstrap"] == [PEER]
    manifest = Path(cfg["chain"]["manifest"])
    assert manifest.parent == joiner / "data" / "deployments"
    assert json.loads(manifest.read_text())["contracts"] == chain.suite.manifest.contracts
    # the joiner's own config now reaches the chain: it is a member, at the minimum stake
    code, out, err = run(joiner, capsys, "--json", "fed", "show", 1)
    assert code == 0, err
    members = {m["address"]: m for m in json.loads(out)["member_list"]}
    assert members[chain.dev(2).address]["stake"] == "10"
    # the same invite again changes no setting: only the contract refuses (already a member)
    code, _, err = run(joiner, capsys, "join", invite, "--capacity", 100, "--dev-account", 2)
    assert code == ExitCode.BAD_INPUT and "already a member" in err


def test_configured_differently_is_refused_unless_forced(invite, chain, tmp_path, capsys) -> None:
    joiner = tmp_path / "joiner"
    write_config(joiner, rpc_url="http://127.0.0.1:1")
    before = snapshot(joiner)
    code, _, err = run(joiner, capsys, "join", invite, "--configure-only")
    assert code == ExitCode.CONFIG and "chain.rpc_url" in err, err
    assert snapshot(joiner) == before
    code, _, err = run(joiner, capsys, "join", invite, "--configure-only", "--force")
    assert code == 0, err
    assert json.loads((joiner / "config" / "config.json").read_text())["chain"]["rpc_url"] == (
        chain.url
    )


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.parametrize(
    "case",
    ["tampered", "truncated", "chain_id_edited", "other_chain", "no_code", "unreachable", "no_fed"],
)
def test_bad_invite_writes_nothing(case, invite, other_chain, tmp_path, capsys) -> None:
    body = decode_body(invite)
    bad, code, needle = {
        "tampered": (edited(invite, fix=False, deployed_block=body["deployed_block"] + 1),
                     ExitCode.BAD_INPUT, "checksum does not match"),
        "truncated": (invite[: len(invite) // 2], ExitCode.BAD_INPUT, "truncated"),
        "chain_id_edited": (edited(invite, chain_id=5), ExitCode.CHAIN, "serves chain id 31337"),
        "other_chain": (edited(invite, rpc=[other_chain.url]), ExitCode.CHAIN,
                        "serves chain id 31338"),
        "no_code": (edited(invite, contracts=dict(body["contracts"],
                                                  MilonToken="0x" + "11" * 20)),
                    ExitCode.CHAIN, "no contract code at 0x" + "11" * 20),
        "unreachable": (edited(invite, rpc=[f"http://127.0.0.1:{_closed_port()}"]),
                        ExitCode.CHAIN, "unreachable"),
        "no_fed": (edited(invite, fed=9), ExitCode.NOT_FOUND, "federation 9"),
    }[case]  # fmt: skip
    joiner = tmp_path / "joiner"
    write_config(joiner)  # an existing config, to prove it is not rewritten
    (joiner / "data").mkdir()
    before = snapshot(joiner)
    got, _, err = run(joiner, capsys, "join", bad, "--capacity", 100, "--dev-account", 2)
    assert got == code, err
    assert needle in err, err
    assert snapshot(joiner) == before
    assert not (joiner / "data" / "deployments").exists()


def test_invite_refuses_an_unknown_federation(invite, tmp_path, capsys) -> None:
    owner = tmp_path / "owner"
    code, _, err = run(owner, capsys, "fed", "invite", 4, "--bootstrap", PEER)
    assert code == ExitCode.NOT_FOUND and "federation 4 does not exist" in err
    # no daemon running and no --bootstrap: an invite without peers, and a note saying so
    code, out, err = run(owner, capsys, "--json", "fed", "invite", 1)
    assert code == 0 and json.loads(out)["bootstrap"] == [] and "no running daemon" in err


def test_bad_stake_or_capacity_is_refused_before_anything(invite, tmp_path, capsys) -> None:
    joiner = tmp_path / "joiner"
    for flag, value in (("--stake", "ten"), ("--capacity", "0")):
        code, _, err = run(joiner, capsys, "join", invite, flag, value, "--dev-account", 2)
        assert code == ExitCode.BAD_INPUT and flag in err, err
    assert not joiner.exists()


def test_a_toml_config_is_not_rewritten(invite, tmp_path, capsys) -> None:
    node_toml = tmp_path / "node.toml"
    node_toml.write_text('[chain]\nrpc_url = "embedded"  # a comment save_config would drop\n')
    before = node_toml.read_bytes()
    code = main(["--home", str(tmp_path / "h"), "--config", str(node_toml), "join", invite])
    assert not (tmp_path / "h").exists()
    err = capsys.readouterr().err
    assert code == ExitCode.CONFIG and "TOML" in err, err
    assert node_toml.read_bytes() == before
