"""`milon gov ...` through a whole proposal lifecycle on a real anvil devnet (dev parameters:
voting delay 1 block, voting period 20 blocks, timelock 60 s)."""

from __future__ import annotations

import json

import pytest

from milon_app.cli.main import main
from milon_app.exit_codes import ExitCode
from tests.integration.cli_chain_helpers import register_commands, start_devnet, write_config

register_commands()


@pytest.fixture(scope="module")
def devnet(tmp_path_factory):
    net = start_devnet(tmp_path_factory.mktemp("devnet"))
    yield net
    net.node.stop()


@pytest.fixture
def chain(devnet):
    snap = devnet.client.snapshot()
    yield devnet
    devnet.client.revert(snap)


@pytest.fixture
def milon(tmp_path, chain, capsys):
    write_config(tmp_path, rpc_url=chain.url, manifest=str(chain.manifest))

    def run(*args, json_out=True):
        capsys.readouterr()
        argv = ["--home", str(tmp_path)] + (["--json"] if json_out else []) + [str(a) for a in args]
        code = main(argv)
        out, err = capsys.readouterr()
        if json_out and code == 0:
            return code, json.loads(out), err
        return code, out, err

    return run


def ok(result):
    code, out, err = result
    assert code == 0, err
    return out


def fail(result, code, *needles):
    got, _out, err = result
    assert got == code, (got, err)
    for n in needles:
        assert n in err, err
    return err


def test_param_proposal_full_lifecycle(milon, chain):
    assert ok(milon("gov", "list")) == []
    deployer = chain.dev(0).address
    out = ok(milon("gov", "delegate", "--dev-account", 0))
    assert out["to"] == deployer and float(out["votes_of_delegate"]) > 0
    code, prop, err = milon(
        "gov",
        "propose",
        "param",
        "min-stake-floor",
        "2.5",
        "--description",
        "raise the floor",
        "--dev-account",
        0,
    )
    assert code == 0, err
    assert "no voting power" not in err
    pid = prop["id"]
    assert prop["description"] == "raise the floor"
    (row,) = ok(milon("gov", "list"))
    assert (
        row["id"] == pid and row["state"] == "pending" and "voting opens in" in row["blocks_left"]
    )
    assert row["quorum"] is None  # snapshot not reached yet
    fail(
        milon("gov", "vote", pid, "for", "--dev-account", 0),
        ExitCode.BAD_INPUT,
        "opens after block",
    )
    chain.client.mine(2)
    (row,) = ok(milon("gov", "list"))
    assert row["state"] == "active" and row["blocks_left"].endswith("blocks left")
    code, vote, err = milon("gov", "vote", pid[:12], "for", "--reason", "ok", "--dev-account", 0)
    assert code == 0, err
    assert vote["support"] == "for" and float(vote["weight"]) > 0 and vote["id"] == pid
    fail(
        milon("gov", "vote", pid, "against", "--dev-account", 0),
        ExitCode.BAD_INPUT,
        "already voted",
    )
    code, vote, err = milon("gov", "vote", pid, "abstain", "--dev-account", 4)
    assert code == 0 and "no voting power at the proposal's snapshot" in err
    assert vote["weight"] == "0"
    (row,) = ok(milon("gov", "list"))
    got, need = row["quorum_progress"].split(" / ")
    assert float(got) >= float(need) > 0
    human = ok(milon("gov", "list", json_out=False))
    assert "active" in human and "raise the floor" in human
    fail(
        milon("gov", "queue", pid, "--dev-account", 0),
        ExitCode.BAD_INPUT,
        "only a succeeded proposal can be queued",
    )
    chain.client.mine(21)
    assert ok(milon("gov", "list"))[0]["state"] == "succeeded"
    fail(milon("gov", "execute", pid, "--dev-account", 0), ExitCode.BAD_INPUT, "queue it first")
    queued = ok(milon("gov", "queue", pid, "--dev-account", 1))
    assert queued["state"] == "queued" and "UTC" in queued["executable_at_utc"]
    fail(
        milon("gov", "execute", pid, "--dev-account", 1),
        ExitCode.BAD_INPUT,
        "in the timelock until",
    )
    chain.client.increase_time(61)
    assert ok(milon("gov", "execute", pid, "--dev-account", 1))["state"] == "executed"
    floor = chain.suite.registry.functions.minStakeFloor().call()
    assert floor == 25 * 10**17
    fail(
        milon("gov", "vote", pid, "for", "--dev-account", 2),
        ExitCode.BAD_INPUT,
        "executed: voting is closed",
    )


def test_admit_member_through_governance_then_join(milon, chain):
    ok(
        milon(
            "fed",
            "create",
            "closed",
            "--min-stake",
            "1",
            "--admission",
            "governance",
            "--dev-account",
            1,
        )
    )
    who = chain.dev(2).address
    ok(milon("gov", "delegate", "--dev-account", 0))
    pid = ok(milon("gov", "propose", "admit", 1, who, "--dev-account", 0))["id"]
    chain.client.mine(2)
    ok(milon("gov", "vote", pid, "for", "--dev-account", 0))
    chain.client.mine(21)
    ok(milon("gov", "queue", pid, "--dev-account", 0))
    chain.client.increase_time(61)
    ok(milon("gov", "execute", pid, "--dev-account", 0))
    joined = ok(milon("fed", "join", 1, "--stake", "1", "--capacity", 2, "--dev-account", 2))
    assert joined["address"] == who
    pid = ok(milon("gov", "propose", "remove", 1, who, "--dev-account", 0))["id"]
    assert [r["id"] for r in ok(milon("gov", "list"))][-1] == pid


def test_propose_warns_without_delegation_and_refuses_duplicates(milon, chain):
    code, prop, err = milon("gov", "propose", "param", "slash-bps", 500, "--dev-account", 3)
    assert code == 0
    assert "has no voting power: nothing is delegated" in err and "milon gov delegate" in err
    fail(
        milon("gov", "propose", "param", "slash-bps", 500, "--dev-account", 3),
        ExitCode.BAD_INPUT,
        "identical proposal already exists",
        prop["id"],
    )
    other = ok(
        milon(
            "gov",
            "propose",
            "param",
            "slash-bps",
            500,
            "--description",
            "again",
            "--dev-account",
            3,
        )
    )
    assert other["id"] != prop["id"]
    ids = [prop["id"], other["id"]] + [
        ok(
            milon(
                "gov",
                "propose",
                "param",
                "slash-bps",
                500,
                "--description",
                f"d{i}",
                "--dev-account",
                3,
            )
        )["id"]
        for i in range(8)
    ]

    # ten ids, nine possible leading digits: at least two share a prefix
    def shared(a, b):
        n = 0
        while n < min(len(a), len(b)) and a[n] == b[n]:
            n += 1
        return a[:n]

    common = max((shared(a, b) for a in ids for b in ids if a != b), key=len)
    assert common
    fail(milon("gov", "vote", common, "for", "--dev-account", 3), ExitCode.BAD_INPUT, "ambiguous")
    rel = ok(milon("gov", "propose", "release", 1, "ab" * 32, "ipfs://model", "--dev-account", 3))
    assert "Approve the model of job 1" in rel["description"]
    assert "proposal" in ok(
        milon("gov", "propose", "param", "max-members", 9, "--dev-account", 3, json_out=False)
    )


def test_delegate_to_another_account(milon, chain):
    out = ok(milon("gov", "delegate", chain.dev(5).address, "--dev-account", 1))
    assert out["to"] == chain.dev(5).address and out["votes_of_delegate"] == "10000"


def test_gov_bad_inputs(milon, chain):
    fail(
        milon("gov", "propose", "param", "speed", 1, "--dev-account", 0),
        ExitCode.BAD_INPUT,
        "unknown parameter 'speed'",
        "min-stake-floor",
    )
    fail(
        milon("gov", "propose", "param", "slash-bps", "-3", "--dev-account", 0),
        ExitCode.BAD_INPUT,
        "slash-bps must be 0..",
    )
    fail(
        milon("gov", "propose", "param", "min-stake-floor", "lots", "--dev-account", 0),
        ExitCode.BAD_INPUT,
        "'lots' is not a MILON amount",
    )
    fail(
        milon("gov", "propose", "admit", 1, "0x1234", "--dev-account", 0),
        ExitCode.BAD_INPUT,
        "'0x1234' is not an Ethereum address",
    )
    fail(
        milon("gov", "propose", "release", 1, "abc", "ipfs://x", "--dev-account", 0),
        ExitCode.BAD_INPUT,
        "MODEL_HASH 'abc'",
    )
    fail(
        milon("gov", "propose", "release", 1, "ab" * 32, " ", "--dev-account", 0),
        ExitCode.BAD_INPUT,
        "URI must not be empty",
    )
    fail(
        milon("gov", "vote", "12345", "for", "--dev-account", 0),
        ExitCode.NOT_FOUND,
        "no proposal 12345",
    )
    fail(
        milon("gov", "vote", "twelve", "for", "--dev-account", 0),
        ExitCode.BAD_INPUT,
        "proposal id 'twelve' is not a number",
    )
    fail(milon("gov", "queue", "0x10", "--dev-account", 0), ExitCode.NOT_FOUND, "no proposal 16")
    fail(milon("gov", "execute", "1", "--dev-account", 0), ExitCode.NOT_FOUND, "no proposal 1")
    fail(
        milon("gov", "delegate", "nobody", "--dev-account", 0),
        ExitCode.BAD_INPUT,
        "'nobody' is not an Ethereum address",
    )
    with pytest.raises(SystemExit) as exc:
        milon("gov", "vote", "1", "maybe", "--dev-account", 0)
    assert exc.value.code == ExitCode.USAGE


# ---------------------------------------------------------------- v2: parameters and slashing


def _pass(milon, chain, pid):
    """Vote FOR with the deployer (delegated), then queue and execute."""
    chain.client.mine(2)
    ok(milon("gov", "vote", pid, "for", "--dev-account", 0))
    chain.client.mine(21)
    ok(milon("gov", "queue", pid, "--dev-account", 0))
    chain.client.increase_time(61)
    assert ok(milon("gov", "execute", pid, "--dev-account", 0))["state"] == "executed"


def test_gov_params_lists_every_parameter_with_its_value(milon, chain):
    from milon_app.chain.governance import PARAMETERS

    rows = ok(milon("gov", "params"))
    assert [r["name"] for r in rows] == list(PARAMETERS)
    by_name = {r["name"]: r for r in rows}
    assert by_name["committee-min"]["value"] == "3"
    assert by_name["committee-default"]["value"] == "7"
    assert by_name["committee-max"]["value"] == "31"
    bps = int(by_name["participation-bps"]["value"])
    assert 5_001 <= bps <= 10_000
    assert by_name["participation-bps"]["shown"] == f"{bps:,} bps ({bps / 100:g}%)"
    assert by_name["verdict-window"]["shown"] == "300 s (5m)"
    assert by_name["min-stake-floor"]["shown"] == "1 MILON"
    assert by_name["gov-slash-cap-bps"]["value"] == "1000"
    assert by_name["slash-bps"]["contract"] == "FederationRegistry"
    assert by_name["lapse-bps"]["contract"] == "TrainingJobs"
    assert all(r["description"] == PARAMETERS[r["name"]] for r in rows)
    human = ok(milon("gov", "params", json_out=False))
    assert "committee-min" in human and "smallest validator committee" in human
    assert "milon gov propose param NAME VALUE" in human


def test_every_parameter_can_be_proposed_and_one_takes_effect(milon, chain):
    from milon_app.chain.governance import PARAMETERS

    values = {r["name"]: r["value"] for r in ok(milon("gov", "params"))}
    for name in PARAMETERS:  # today's value: always within the bounds
        value = values[name] if name != "min-stake-floor" else "1"
        prop = ok(milon("gov", "propose", "param", name, value, "--dev-account", 3))
        assert prop["description"].startswith(f"Set {name} to"), name
    ok(milon("gov", "delegate", "--dev-account", 0))
    pid = ok(
        milon("gov", "propose", "param", "committee-max", 40, "--description", "wider",
              "--dev-account", 0)
    )["id"]
    _pass(milon, chain, pid)
    assert {r["name"]: r["value"] for r in ok(milon("gov", "params"))}["committee-max"] == "40"


def test_parameter_values_outside_the_contract_bounds_are_refused(milon, chain):
    fail(
        milon("gov", "propose", "param", "committee-min", 2, "--dev-account", 0),
        ExitCode.BAD_INPUT,
        "committee-min must be within 3 .. 64, got 2",
    )
    fail(
        milon("gov", "propose", "param", "verdict-window", 10, "--dev-account", 0),
        ExitCode.BAD_INPUT,
        "verdict-window must be within 60 s (1m) ..",
    )
    fail(
        milon("gov", "propose", "param", "gov-slash-cap-bps", 6000, "--dev-account", 0),
        ExitCode.BAD_INPUT,
        "gov-slash-cap-bps must be within 0 bps (0%) .. 5,000 bps (50%)",
    )
    fail(
        milon("gov", "propose", "param", "quorum", 1, "--dev-account", 0),
        ExitCode.BAD_INPUT,
        "unknown parameter 'quorum'",
        "committee-default",
    )
    # in bounds, but out of order with today's committee-default (7): a warning, not a refusal
    code, _prop, err = milon("gov", "propose", "param", "committee-min", 10, "--dev-account", 0)
    assert code == 0 and "breaks committee-min <= committee-default <= committee-max" in err


def test_slash_a_member_through_governance_suspends_it(milon, chain):
    ok(milon("fed", "create", "lab", "--min-stake", "10", "--dev-account", 1))
    who = chain.dev(2).address
    ok(milon("fed", "join", 1, "--stake", "10", "--capacity", 1, "--dev-account", 2))
    fail(
        milon("gov", "propose", "slash", 1, who, "2", "--reason", "spam", "--dev-account", 0),
        ExitCode.BAD_INPUT,
        "at most 10% (gov-slash-cap-bps) of the 10 MILON stake: 1 MILON",
    )
    fail(
        milon("gov", "propose", "slash", 1, chain.dev(3).address, "1", "--reason", "x",
              "--dev-account", 0),
        ExitCode.BAD_INPUT,
        "has no stake in federation 1",
    )
    fail(
        milon("gov", "propose", "slash", 1, who, "1", "--reason", "x" * 33, "--dev-account", 0),
        ExitCode.BAD_INPUT,
        "reason of 1 to 32 bytes",
    )
    fail(
        milon("gov", "propose", "slash", 9, who, "1", "--reason", "x", "--dev-account", 0),
        ExitCode.NOT_FOUND,
        "federation 9 does not exist",
    )
    with pytest.raises(SystemExit) as exc:  # a slash without a reason is a usage error
        milon("gov", "propose", "slash", 1, who, "1", "--dev-account", 0)
    assert exc.value.code == ExitCode.USAGE
    ok(milon("gov", "delegate", "--dev-account", 0))
    prop = ok(milon("gov", "propose", "slash", 1, who, "0.5", "--reason", "copied updates",
                    "--dev-account", 0))
    assert prop["description"] == f"Slash {who} in federation 1: copied updates"
    _pass(milon, chain, prop["id"])
    (member,) = ok(milon("fed", "show", 1))["member_list"]
    assert member["stake"] == "9.5" and member["suspended"] and member["status"] == "suspended"
