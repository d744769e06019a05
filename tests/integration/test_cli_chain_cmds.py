"""`milon fed|job|rewards` as a user runs them, against a real anvil devnet on loopback."""

from __future__ import annotations

import json
import os

import pytest

from milon_app.cli.main import main
from milon_app.exit_codes import ExitCode
from tests.integration.cli_chain_helpers import (
    ETHER,
    job_create_args,
    register_commands,
    start_devnet,
    write_config,
)

register_commands()


@pytest.fixture(scope="module")
def devnet(tmp_path_factory):
    net = start_devnet(tmp_path_factory.mktemp("devnet"))
    yield net
    net.node.stop()


@pytest.fixture
def chain(devnet):
    """Every test starts from the freshly deployed, funded suite."""
    snap = devnet.client.snapshot()
    yield devnet
    devnet.client.revert(snap)


@pytest.fixture
def home(tmp_path, chain):
    h = tmp_path / "home"
    write_config(h, rpc_url=chain.url, manifest=str(chain.manifest))
    return h


@pytest.fixture
def milon(home, capsys):
    """Run `milon --home HOME [--json] ARGS` in-process: (exit code, stdout or JSON, stderr)."""

    def run(*args, json_out=True):
        capsys.readouterr()
        argv = ["--home", str(home)] + (["--json"] if json_out else []) + [str(a) for a in args]
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


def make_fed(milon, dev=1, min_stake="10", *extra):
    return ok(milon("fed", "create", "lab", "--min-stake", min_stake, "--dev-account", dev, *extra))


# ---------------------------------------------------------------- federations


def test_fed_create_list_show_join_leave_withdraw(milon, chain, tmp_path):
    meta = tmp_path / "meta.txt"
    meta.write_text("a federation for digits")
    fed = make_fed(milon, 1, "10.5", "--metadata", meta)
    assert fed["id"] == 1 and fed["min_stake"] == "10.5" and fed["admission"] == "open"
    assert len(fed["metadata_hash"]) == 64 and fed["metadata_hash"] != "0" * 64
    ok(
        milon(
            "fed",
            "join",
            1,
            "--stake",
            "20",
            "--capacity",
            7,
            "--peer-info",
            "/ip4/127.0.0.1/tcp/4001",
            "--dev-account",
            2,
        )
    )
    listed = ok(milon("fed", "list"))
    assert listed == [dict(listed[0], id=1, name="lab", members=1, total_capacity=7)]
    human = ok(milon("fed", "list", json_out=False))
    assert "lab" in human and "10.5" in human
    show = ok(milon("fed", "show", 1))
    (member,) = show["member_list"]
    assert member["address"] == chain.dev(2).address
    assert member["stake"] == "20" and member["capacity"] == 7 and member["active"]
    assert member["peer_info"] == "/ip4/127.0.0.1/tcp/4001"
    assert "Members" in ok(milon("fed", "show", 1, json_out=False))

    left = ok(milon("fed", "leave", 1, "--dev-account", 2))
    assert left["stake"] == "20" and "UTC" in left["withdrawable_at_utc"]
    fail(milon("fed", "withdraw", 1, "--dev-account", 2), ExitCode.BAD_INPUT, "locked until")
    chain.client.increase_time(61)
    before = chain.suite.token.functions.balanceOf(chain.dev(2).address).call()
    out = ok(milon("fed", "withdraw", 1, "--dev-account", 2))
    assert out["withdrawn"] == "20"
    after = chain.suite.token.functions.balanceOf(chain.dev(2).address).call()
    assert after - before == 20 * ETHER
    fail(
        milon("fed", "withdraw", 1, "--dev-account", 2), ExitCode.BAD_INPUT, "no stake to withdraw"
    )
    fail(milon("fed", "leave", 1, "--dev-account", 2), ExitCode.BAD_INPUT, "not an active member")


def test_fed_human_output_for_leave(milon):
    make_fed(milon)
    ok(milon("fed", "join", 1, "--stake", "10", "--capacity", 1, "--dev-account", 2))
    out = ok(milon("fed", "leave", 1, "--dev-account", 2, json_out=False))
    assert "can be withdrawn from" in out and "milon fed withdraw 1" in out
    assert "no new work from now" in out and "finishes" not in out  # no round accepted


def test_leaving_finishes_the_accepted_rounds_first(milon, chain):
    from milon_app.chain.bindings import Milon

    make_fed(milon)
    for i in (2, 4):  # a round needs two members
        ok(milon("fed", "join", 1, "--stake", "10", "--capacity", 1, "--dev-account", i))
    ok(milon(*job_create_args()))
    chain.client.forget_nonces()
    m = Milon(chain.suite)
    m.start_round(chain.dev(3), 1)
    m.accept(chain.dev(2), 1, 1)
    out = ok(milon("fed", "leave", 1, "--dev-account", 2, json_out=False))
    assert "no new work from now; your node finishes the rounds it accepted first" in out
    # its assignment, and its seat: with two members both sit on the committee
    assert "(2 open assignment(s) or committee seat(s)" in out
    rows = ok(milon("fed", "show", 1))["member_list"]
    (member,) = [r for r in rows if r["address"] == chain.dev(2).address]
    assert member["status"] == "leaving" and member["withdrawable_at"] > 0
    assert not member["active"]
    assert ok(milon("rewards", "--dev-account", 2))["stakes"][0]["pending_work"] == 2
    human = ok(milon("fed", "show", 1, json_out=False))
    assert "leaving" in human and "withdrawable from" in human
    chain.client.increase_time(61)
    fail(
        milon("fed", "withdraw", 1, "--dev-account", 2),
        ExitCode.BAD_INPUT,
        "still has 2 open assignment(s) or committee seat(s)",
        "finishes the rounds it accepted",
    )


def test_a_member_rejected_below_the_minimum_is_suspended_and_tops_up(milon, chain, home):
    make_fed(milon)
    members = [chain.dev(i) for i in (2, 4, 5)]
    for i in (2, 4, 5):
        ok(milon("fed", "join", 1, "--stake", "10", "--capacity", 5, "--dev-account", i))
    args = list(job_create_args())
    args[args.index("--epochs") + 1] = 3
    args[args.index("--epochs-per-round") + 1] = 3
    ok(milon(*args))
    bad = chain.dev(5)
    _play_round(chain, home, 1, members, reject=bad)  # finalized: the rejected one is slashed
    show = ok(milon("fed", "show", 1))
    row = next(r for r in show["member_list"] if r["address"] == bad.address)
    assert row["suspended"] and row["status"] == "suspended" and row["stake"] == "9"
    assert show["members"] == 2  # out of the active list
    human = ok(milon("fed", "show", 1, json_out=False))
    assert "1 suspended" in human and "milon fed add-stake 1 AMOUNT" in human
    mine = ok(milon("rewards", "--dev-account", 5))["stakes"]
    assert mine[0]["status"] == "suspended"
    assert "milon fed add-stake" in ok(milon("rewards", "--dev-account", 5, json_out=False))
    fail(
        milon("fed", "join", 1, "--stake", "10", "--capacity", 1, "--dev-account", 5),
        ExitCode.BAD_INPUT,
        "suspended member of federation 1",
        "milon fed add-stake 1",
    )
    half = ok(milon("fed", "add-stake", 1, "0.5", "--dev-account", 5))
    assert half["stake"] == "9.5" and half["status"] == "suspended" and not half["reinstated"]
    out = ok(milon("fed", "add-stake", 1, "0.5", "--dev-account", 5, json_out=False))
    assert "stake now 10 MILON" in out and "reinstated" in out
    assert ok(milon("fed", "show", 1))["members"] == 3


def test_add_stake_bad_inputs(milon, chain):
    make_fed(milon)
    fail(
        milon("fed", "add-stake", 1, "5", "--dev-account", 2),
        ExitCode.BAD_INPUT,
        "is not a member of federation 1",
        "milon fed join 1",
    )
    ok(milon("fed", "join", 1, "--stake", "10", "--capacity", 1, "--dev-account", 2))
    fail(milon("fed", "add-stake", 1, "0", "--dev-account", 2), ExitCode.BAD_INPUT,
         "AMOUNT must be more than 0")
    fail(milon("fed", "add-stake", 1, "lots", "--dev-account", 2), ExitCode.BAD_INPUT,
         "'lots' is not a MILON amount")
    fail(milon("fed", "add-stake", 1, "99999", "--dev-account", 2), ExitCode.BAD_INPUT,
         "less than 99999")
    fail(milon("fed", "add-stake", 7, "1", "--dev-account", 2), ExitCode.NOT_FOUND,
         "federation 7 does not exist")
    out = ok(milon("fed", "add-stake", 1, "2.5", "--dev-account", 2))
    assert out["stake"] == "12.5" and out["status"] == "active"


def test_fed_bad_inputs(milon):
    fail(milon("fed", "show", 1), ExitCode.NOT_FOUND, "federation 1 does not exist", "none yet")
    fail(
        milon("fed", "create", "x", "--min-stake", "ten", "--dev-account", 1),
        ExitCode.BAD_INPUT,
        "--min-stake 'ten' is not a MILON amount",
    )
    fail(
        milon("fed", "create", "x", "--min-stake", "0.5", "--dev-account", 1),
        ExitCode.BAD_INPUT,
        "below the protocol floor of 1 MILON",
    )
    fail(
        milon("fed", "create", "  ", "--min-stake", "5", "--dev-account", 1),
        ExitCode.BAD_INPUT,
        "name must not be empty",
    )
    fail(
        milon(
            "fed",
            "create",
            "x",
            "--min-stake",
            "5",
            "--metadata",
            "/nonexistent/m",
            "--dev-account",
            1,
        ),
        ExitCode.NOT_FOUND,
        "metadata file",
    )
    make_fed(milon)
    fail(milon("fed", "show", 2), ExitCode.NOT_FOUND, "federation 2 does not exist (known: 1..1)")
    fail(milon("fed", "show", "abc"), ExitCode.BAD_INPUT, "federation id must be a whole number")
    fail(
        milon("fed", "join", 1, "--stake", "5", "--capacity", 1, "--dev-account", 2),
        ExitCode.BAD_INPUT,
        "below federation 1's minimum of 10 MILON",
    )
    fail(
        milon("fed", "join", 1, "--stake", "0", "--capacity", 1, "--dev-account", 2),
        ExitCode.BAD_INPUT,
        "--stake must be more than 0",
    )
    fail(
        milon("fed", "join", 1, "--stake", "10", "--capacity", 0, "--dev-account", 2),
        ExitCode.BAD_INPUT,
        "--capacity must be 1..",
    )
    fail(
        milon(
            "fed",
            "join",
            1,
            "--stake",
            "10",
            "--capacity",
            1,
            "--peer-info",
            "x" * 513,
            "--dev-account",
            2,
        ),
        ExitCode.BAD_INPUT,
        "--peer-info is 513 bytes",
    )
    fail(
        milon("fed", "join", 1, "--stake", "10", "--capacity", 1, "--dev-account", 9),
        ExitCode.BAD_INPUT,
        "holds 0 MILON, less than the stake 10",
    )
    ok(milon("fed", "join", 1, "--stake", "10", "--capacity", 1, "--dev-account", 2))
    fail(
        milon("fed", "join", 1, "--stake", "10", "--capacity", 1, "--dev-account", 2),
        ExitCode.BAD_INPUT,
        "already a member of federation 1",
    )
    ok(milon("fed", "leave", 1, "--dev-account", 2))
    fail(
        milon("fed", "join", 1, "--stake", "10", "--capacity", 1, "--dev-account", 2),
        ExitCode.BAD_INPUT,
        "stake is still locked",
    )
    fail(milon("fed", "withdraw", 1, "--dev-account", 3), ExitCode.BAD_INPUT, "no stake")


def test_fed_governance_admission_refuses_unadmitted(milon, chain):
    fed = make_fed(milon, 1, "10", "--admission", "governance")
    assert fed["admission"] == "governance"
    fail(
        milon("fed", "join", 1, "--stake", "10", "--capacity", 1, "--dev-account", 2),
        ExitCode.BAD_INPUT,
        "admits members by governance",
        f"milon gov propose admit 1 {chain.dev(2).address}",
    )


def test_fed_join_measures_capacity_when_not_given(milon):
    make_fed(milon)
    code, out, err = milon(
        "fed", "join", 1, "--stake", "10", "--benchmark-seconds", "0.3", "--dev-account", 2
    )
    assert code == 0, err
    assert "measuring training capacity" in err and "samples/s" in err
    assert out["capacity"] >= 1


def test_fed_update_sets_or_measures_the_capacity(milon, chain):
    """A member changes its declared capacity (a noisy join benchmark is not for life); the
    peer info stays; the split's caps are shown beside it."""
    make_fed(milon)
    peer = "/ip4/10.0.0.2/tcp/4001"
    ok(milon("fed", "join", 1, "--stake", "10", "--capacity", 5, "--peer-info", peer,
             "--dev-account", 2))  # fmt: skip
    out = ok(milon("fed", "update", 1, "--capacity", 900, "--dev-account", 2))
    assert (out["previous_capacity"], out["capacity"], out["peer_info"]) == (5, 900, peer)
    assert out["max_share_bps"] > 0 and out["max_share_of_equal_bps"] > 0
    assert ok(milon("fed", "show", 1))["member_list"][0]["capacity"] == 900
    human = ok(milon("fed", "update", 1, "--capacity", 1200, "--dev-account", 2, json_out=False))
    assert "capacity 900 -> 1200 in federation 1" in human and "at most" in human
    code, out, err = milon(
        "fed", "update", 1, "--measure", "--benchmark-seconds", "0.3", "--dev-account", 2
    )
    assert code == 0, err
    assert "median of 5 timed runs" in err and out["capacity"] >= 1
    assert out["previous_capacity"] == 1200


def test_fed_update_bad_inputs(milon, chain, capsys):
    make_fed(milon)
    ok(milon("fed", "join", 1, "--stake", "10", "--capacity", 5, "--dev-account", 2))
    for bad in (0, -3, 2**64):
        top = f"--capacity must be 1..18446744073709551615 (the contract's uint64), got {bad}"
        fail(milon("fed", "update", 1, "--capacity", bad, "--dev-account", 2),
             ExitCode.BAD_INPUT, top)  # fmt: skip
    fail(
        milon("fed", "update", 1, "--capacity", "lots", "--dev-account", 2),
        ExitCode.BAD_INPUT,
        "--capacity must be a whole number, got 'lots'",
    )
    fail(
        milon("fed", "update", 1, "--capacity", 5, "--dev-account", 3),
        ExitCode.BAD_INPUT,
        f"{chain.dev(3).address} is not a member of federation 1",
        "milon fed join 1",
    )
    fail(milon("fed", "update", 2, "--capacity", 5, "--dev-account", 2), ExitCode.NOT_FOUND,
         "federation 2 does not exist")  # fmt: skip
    for args, words in (((), "one of the arguments --capacity --measure is required"),
                        (("--capacity", 5, "--measure"), "not allowed with")):  # fmt: skip
        with pytest.raises(SystemExit) as usage:
            milon("fed", "update", 1, *args, "--dev-account", 2)
        assert usage.value.code == ExitCode.USAGE
        assert words in capsys.readouterr().err
    ok(milon("fed", "leave", 1, "--dev-account", 2))
    fail(
        milon("fed", "update", 1, "--capacity", 5, "--dev-account", 2),
        ExitCode.BAD_INPUT,
        "is not a member of federation 1",
    )


# ---------------------------------------------------------------- jobs


def _update(home, seed):
    """A weights blob in the CLI's store (what `job download` exports), as (digest, bytes32)."""
    from milon_app.compute.model_spec import digits_mlp
    from milon_app.compute.weights import encode_state
    from milon_app.store.blobs import BlobStore

    digest = BlobStore(home / "data" / "blobs").put(
        encode_state(digits_mlp().build(seed).state_dict()), "weights"
    )
    return digest, bytes.fromhex(digest)


def _play_round(chain, home, job_id, members, reject=None, reason=10, confirm=True):
    """Every member trains, reveals and sits on the committee (as many as the default seats);
    each votes to accept every update but ``reject``'s, giving it ``reason``. Returns
    {member address: update digest} and the confirmed model's digest."""
    from milon_app.chain.bindings import Milon

    m = Milon(chain.suite)
    chain.client.forget_nonces()  # the CLI sent transactions from the same accounts
    r = m.start_round(chain.dev(3), job_id)
    for who in members:
        m.accept(who, job_id, r)
    digests = {}
    for seed, who in enumerate(members, start=7):
        digest, h = _update(home, seed)
        salt = bytes([seed]) * 32
        m.commit(who, job_id, r, m.commitment(h, 100, salt, who.address, job_id, r))
        digests[who.address] = digest
    for who in members:
        h = bytes.fromhex(digests[who.address])
        m.reveal(who, job_id, r, h, 100, bytes([7 + members.index(who)]) * 32)
    order = m.round_members(job_id, r)
    bits, reasons = 0, bytearray(len(order))
    for i, addr in enumerate(order):
        if reject is not None and addr == reject.address:
            reasons[i] = reason
        else:
            bits |= 1 << i
    for who in members:
        m.submit_verdict(who, job_id, r, bits, bytes(reasons), len(order))
    model, mh = _update(home, 99)
    if confirm:
        for who in members:  # until the confirmed weight finalizes the round
            if not m.round(job_id, r).finalized:
                m.confirm(who, job_id, r, mh, len(order))
    return digests, model


def test_job_create_list_show_download_and_rewards(milon, chain, home, tmp_path):
    make_fed(milon)
    member, other = chain.dev(2), chain.dev(4)
    for i in (2, 4):  # a round needs two members: nobody judges their own update
        ok(milon("fed", "join", 1, "--stake", "10", "--capacity", 5, "--dev-account", i))
    job = ok(milon(*job_create_args()))
    assert job["id"] == 1 and job["escrow"] == "10" and job["rule"] == "median"
    assert job["status"] == "open" and job["reward_per_epoch"] == "2.5"
    from milon_app.store.blobs import BlobStore

    store = BlobStore(home / "data" / "blobs")
    for key in ("model_spec_hash", "dataset_spec_hash", "initial_model_hash"):
        assert store.has(job[key]), key
        # pinned to the job: the node serves a blob only to those with a part in its jobs
        assert "job:1" in store.pins.owners(job[key]), key
    listed = ok(milon("job", "list"))
    assert [j["id"] for j in listed] == [1]
    assert ok(milon("job", "list", "--fed", 2)) == []
    assert "no jobs in federation 2" in ok(milon("job", "list", "--fed", 2, json_out=False))
    show = ok(milon("job", "show", 1))
    assert show["round"] is None
    assert "no round started yet" in ok(milon("job", "show", 1, json_out=False))
    fail(
        milon("job", "download", 1, "--out", tmp_path / "o"),
        ExitCode.NOT_FOUND,
        "has no final model yet",
        "--current",
    )
    cur = ok(milon("job", "download", 1, "--out", tmp_path / "cur", "--current", "--no-onnx"))
    assert cur["model_hash"] == job["initial_model_hash"]
    assert sorted(os.listdir(tmp_path / "cur")) == ["model-spec.json", "model.safetensors"]

    from milon_app.chain.bindings import Milon

    chain.client.forget_nonces()
    m = Milon(chain.suite)
    m.start_round(chain.dev(3), 1)
    show = ok(milon("job", "show", 1))
    rnd = show["round"]
    assert rnd["number"] == 1 and rnd["phase"] == "accept"
    phases = [d["phase"] for d in rnd["deadlines"]]
    assert phases == ["accept", "commit", "reveal", "verdict", "confirm"]
    assert rnd["phase_deadline"] == rnd["deadlines"][0]["at"] > show["chain_time"]
    assert {a["member"]: a["epochs"] for a in rnd["assignments"]} == {
        member.address: 2,
        other.address: 2,
    }
    assert all(a["state"] == "assigned" for a in rnd["assignments"])
    assert all(a["outcome"] == "pending" and a["votes"] == [] for a in rnd["assignments"])
    # fewer members than the default size: every member sits, weighted by its stake
    assert sorted(rnd["committee"], key=lambda c: c["address"]) == sorted(
        (
            {"address": w.address, "weight": "10", "voted": False, "confirmed": False}
            for w in (member, other)
        ),
        key=lambda c: c["address"],
    )
    human = ok(milon("job", "show", 1, json_out=False))
    for words in ("accept: members accept", "commit until", "verdict until", "confirm until",
                  "Committee, round 1", "assigned", "default committee (7)"):
        assert words in human, words
    m.accept(member, 1, 1)
    m.accept(other, 1, 1)
    assert ok(milon("job", "show", 1))["round"]["phase"] == "commit"
    chain.client.increase_time(10_000)  # past every deadline: anyone may time it out
    assert ok(milon("job", "show", 1))["round"]["phase"] == "stuck"


def test_job_show_lists_the_committee_and_a_rejected_update_with_its_reason(milon, chain, home):
    make_fed(milon)
    members = [chain.dev(i) for i in (2, 4, 5)]
    for i in (2, 4, 5):
        ok(milon("fed", "join", 1, "--stake", "10", "--capacity", 5, "--dev-account", i))
    args = list(job_create_args("--committee", 3, "--max-samples", 500))
    args[args.index("--epochs") + 1] = 3
    args[args.index("--epochs-per-round") + 1] = 3
    job = ok(milon(*args))
    assert job["committee_size"] == 3 and job["max_samples"] == 500
    bad = chain.dev(5)
    _play_round(chain, home, 1, members, reject=bad, reason=10, confirm=False)

    rnd = ok(milon("job", "show", 1))["round"]
    assert rnd["phase"] == "confirm" and rnd["tallied"]
    assert {c["address"] for c in rnd["committee"]} == {w.address for w in members}
    assert all(c["voted"] and not c["confirmed"] and c["weight"] == "10" for c in rnd["committee"])
    by_member = {a["member"]: a for a in rnd["assignments"]}
    rejected = by_member[bad.address]
    assert rejected["outcome"] == "rejected" and rejected["state"] == "revealed"
    # the author's own seat does not count: the two others voted, both with the reason
    assert sorted(v["validator"] for v in rejected["votes"]) == sorted(
        w.address for w in members if w is not bad
    )
    assert all(not v["accepted"] and v["reason"] == "harmful" for v in rejected["votes"])
    for w in members[:2]:
        a = by_member[w.address]
        assert a["outcome"] == "accepted" and len(a["votes"]) == 2
        assert all(v["accepted"] and v["reason"] is None for v in a["votes"])

    human = ok(milon("job", "show", 1, json_out=False))
    assert "committee of 3; samples per update capped at 500" in human
    assert "confirm: the committee confirms the aggregated model" in human
    updates = human[human.index("Updates, round 1") :].splitlines()
    line = next(ln for ln in updates if bad.address in ln)
    assert "rejected" in line and "harmful" in line
    assert "2 accept" in next(ln for ln in updates if members[0].address in ln)


def _two_members(milon, chain):
    make_fed(milon)
    for i in (2, 4):
        ok(milon("fed", "join", 1, "--stake", "10", "--capacity", 5, "--dev-account", i))
    ok(milon(*job_create_args()))
    return [chain.dev(2), chain.dev(4)]


def test_job_completes_then_download_and_rewards(milon, chain, home, tmp_path):
    members = _two_members(milon, chain)
    member = members[0]
    _digests, digest = _play_round(chain, home, 1, members)
    show = ok(milon("job", "show", 1))
    assert show["status"] == "completed" and show["final_model_hash"] == digest
    assert show["round"]["phase"] == "finalized" and show["round"]["phase_deadline"] is None
    assert all(a["outcome"] == "accepted" for a in show["round"]["assignments"])
    assert all(c["confirmed"] for c in show["round"]["committee"])
    assert show["round"]["closed"] is True
    # the round finalized early: its later deadlines are history, not a countdown
    human = ok(milon("job", "show", 1, json_out=False))
    assert "(in " not in human and "not reached: the round closed before it" in human
    out = ok(milon("job", "download", 1, "--out", tmp_path / "final"))
    assert out["model_hash"] == digest
    assert sorted(os.listdir(tmp_path / "final")) == [
        "model-spec.json",
        "model.onnx",
        "model.safetensors",
    ]

    # 2 epochs x 2.5 less the validators' 10 %, plus half of the validators' pool
    rewards = ok(milon("rewards", "--dev-account", 2))
    assert rewards["claimable"] == "5" and rewards["address"] == member.address
    assert rewards["stakes"] == [
        {"federation": 1, "stake": "10", "active": True, "status": "active", "pending_work": 0}
    ]
    assert "milon rewards claim" in ok(milon("rewards", "--dev-account", 2, json_out=False))
    claimed = ok(milon("rewards", "claim", "--dev-account", 2))
    assert claimed["claimed"] == "5" and claimed["milon_balance"] == "9995"
    fail(milon("rewards", "claim", "--dev-account", 2), ExitCode.BAD_INPUT, "no rewards to claim")
    other = ok(milon("rewards", "--address", chain.dev(3).address))
    assert other["claimable"] == "0" and other["stakes"] == []
    assert "no stake in any federation" in ok(
        milon("rewards", "--address", chain.dev(3).address, json_out=False)
    )


def test_job_download_needs_the_blob_locally(milon, chain, home, tmp_path):
    members = _two_members(milon, chain)
    _digests, digest = _play_round(chain, home, 1, members)
    from milon_app.store.blobs import BlobStore

    assert BlobStore(home / "data" / "blobs").delete(digest)
    fail(
        milon("job", "download", 1, "--out", tmp_path / "x"),
        ExitCode.NOT_FOUND,
        f"model blob {digest}",
        "node must be running",
    )


def test_job_create_bad_inputs(milon, tmp_path):
    fail(milon(*job_create_args()), ExitCode.NOT_FOUND, "federation 1 does not exist")
    make_fed(milon)
    args = list(job_create_args())

    def with_(flag, value):
        a = list(args)
        a[a.index(flag) + 1] = value
        return a

    fail(
        milon(*with_("--epochs-per-round", 5)),
        ExitCode.BAD_INPUT,
        "--epochs-per-round must be 1..4",
    )
    fail(milon(*with_("--epochs", 0)), ExitCode.BAD_INPUT, "--epochs must be 1..")
    fail(milon(*with_("--reward-per-epoch", "-1")), ExitCode.BAD_INPUT, "not a MILON amount")
    fail(milon(*with_("--reward-per-epoch", "0")), ExitCode.BAD_INPUT, "must be more than 0")
    fail(
        milon(*with_("--reward-per-epoch", "1.0000000000000000001")),
        ExitCode.BAD_INPUT,
        "more than 18 decimals",
    )
    fail(milon(*args, "--committee", 2), ExitCode.BAD_INPUT, "--committee 2 is outside the "
         "governed bounds 3..31 (or 0 for the default, 7)")
    fail(milon(*args, "--committee", 32), ExitCode.BAD_INPUT, "governed bounds 3..31")
    fail(milon(*args, "--committee", "seven"), ExitCode.BAD_INPUT, "--committee must be a whole")
    fail(milon(*args, "--max-samples", -1), ExitCode.BAD_INPUT, "--max-samples must be 0..")
    with pytest.raises(SystemExit) as gone:
        milon(*args, "--quorum", 1)  # v1's option is gone
    assert gone.value.code == ExitCode.USAGE
    fail(milon(*with_("--round-duration", "soon")), ExitCode.BAD_INPUT, "--round-duration")
    fail(milon(*with_("--model", tmp_path / "nope.json")), ExitCode.NOT_FOUND, "model spec file")
    bad_model = tmp_path / "bad.json"
    bad_model.write_text('{"version": 1}')
    fail(milon(*with_("--model", bad_model)), ExitCode.BAD_INPUT, str(bad_model))
    fail(milon(*with_("--dataset", "mnist")), ExitCode.NOT_FOUND, "neither a built-in")
    bad_data = tmp_path / "data.json"
    bad_data.write_text('{"kind": "builtin", "name": "imagenet"}')
    fail(milon(*with_("--dataset", bad_data)), ExitCode.BAD_INPUT, "imagenet")
    fail(milon(*with_("--dev-account", 9)), ExitCode.BAD_INPUT, "escrows 10 MILON")
    with pytest.raises(SystemExit) as exc:
        milon(*with_("--rule", "mean"))
    assert exc.value.code == ExitCode.USAGE
    fail(milon("job", "show", 1), ExitCode.NOT_FOUND, "job 1 does not exist")


def test_job_create_with_spec_files(milon, home, tmp_path):
    from milon_app.compute.datasets import DatasetSpec
    from milon_app.compute.model_spec import digits_cnn

    make_fed(milon)
    model = tmp_path / "model.json"
    model.write_text(digits_cnn().to_json())
    data = tmp_path / "dataset.json"
    data.write_text(DatasetSpec(kind="builtin", name="digits", seed=3).to_json())
    args = list(job_create_args())
    args[args.index("--model") + 1] = model
    args[args.index("--dataset") + 1] = data
    job = ok(milon(*args))
    assert job["model_spec_hash"] == digits_cnn().spec_hash()
    assert (
        job["dataset_spec_hash"] == DatasetSpec(kind="builtin", name="digits", seed=3).spec_hash()
    )


def test_job_blobs_go_where_the_node_serves_them(milon, chain, home, tmp_path):
    """With config node.data_dir set, the daemon's blob store is <node.data_dir>/blobs."""
    from milon_app.store.blobs import BlobStore

    node_dir = tmp_path / "node"
    cfg = home / "config" / "config.json"
    data = json.loads(cfg.read_text())
    data["node"] = {"data_dir": str(node_dir)}
    cfg.write_text(json.dumps(data))
    make_fed(milon)
    job = ok(milon(*job_create_args()))
    assert BlobStore(node_dir / "blobs").has(job["model_spec_hash"])
    assert not (home / "data" / "blobs").exists()


def test_job_show_and_fed_show_list_the_capacity_for_the_jobs_model(milon, chain):
    """A member declared a capacity for the job's model (its node's benchmark of that model):
    `job show` lists what the next split reads, `fed show --job` adds it to the members."""
    make_fed(milon)
    a, b = chain.dev(2), chain.dev(4)
    for i in (2, 4):
        ok(milon("fed", "join", 1, "--stake", "10", "--capacity", 5, "--dev-account", i))
    job = ok(milon(*job_create_args()))
    from milon_app.chain.bindings import Milon

    chain.client.forget_nonces()
    Milon(chain.suite).set_model_capacity(a, 1, bytes.fromhex(job["model_spec_hash"]), 4000)
    assert ok(milon("job", "show", 1))["capacities"] == [
        {"member": a.address, "capacity": 4000, "measured_on": "job model",
         "delivery_factor_bps": 10_000},
        {"member": b.address, "capacity": 5, "measured_on": "general",
         "delivery_factor_bps": 10_000},
    ]  # fmt: skip
    human = ok(milon("job", "show", 1, json_out=False))
    for words in ("Capacity for this job's model", "4,000", "job model", "general", "1.00x"):
        assert words in human, words
    shown = ok(milon("fed", "show", 1, "--job", 1))
    assert shown["job"] == 1
    assert [(r["capacity"], r["job_capacity"]) for r in shown["member_list"]] == [
        (5, 4000),
        (5, None),
    ]
    assert "capacity for job 1" in ok(milon("fed", "show", 1, "--job", 1, json_out=False))
    assert ok(milon("fed", "show", 1))["member_list"][0]["job_capacity"] is None
    fail(milon("fed", "show", 1, "--job", 2), ExitCode.NOT_FOUND, "job 2 does not exist")
    make_fed(milon)
    ok(milon(*job_create_args("--fed", 2)))
    fail(milon("fed", "show", 1, "--job", 2), ExitCode.BAD_INPUT, "belongs to federation 2")
