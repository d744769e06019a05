"""FederationRegistry: federations, membership, stakes, leave/withdraw, slashing, governed params."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from .helpers import (
    ETHER,
    GOVERNANCE,
    OPEN,
    ZERO_ADDRESS,
    approve,
    b32,
    balance,
    create_federation,
    delegate_all,
    events,
    fund,
    govern,
    h,
    join,
    member_info,
    reverts,
    standalone_registry,
    tx,
)

FED_FIELDS = [
    "name",
    "metadataHash",
    "minStake",
    "admission",
    "creator",
    "memberCount",
    "totalCapacity",
]


def fed_info(client, registry, fed_id):
    return dict(zip(FED_FIELDS, client.call(registry.functions.federation(fed_id)), strict=True))


# ---------------------------------------------------------------- federations


def test_create_federation_ids_start_at_one_and_emit(client, suite, accounts):
    creator = accounts[1]
    receipt = tx(
        client,
        suite.registry.functions.createFederation("alpha", h("meta"), 2 * ETHER, OPEN),
        creator,
    )
    assert client.call(suite.registry.functions.federationCount()) == 1
    assert events(suite.registry, receipt, "FederationCreated") == [
        {
            "fedId": 1,
            "creator": creator.address,
            "name": "alpha",
            "metadataHash": h("meta"),
            "minStake": 2 * ETHER,
            "admission": OPEN,
        }
    ]
    info = fed_info(client, suite.registry, 1)
    assert info == {
        "name": "alpha",
        "metadataHash": h("meta"),
        "minStake": 2 * ETHER,
        "admission": OPEN,
        "creator": creator.address,
        "memberCount": 0,
        "totalCapacity": 0,
    }
    assert create_federation(client, suite, creator, name="beta") == 2


@pytest.mark.parametrize(
    ("name", "min_stake", "admission", "error"),
    [
        ("", ETHER, OPEN, "EmptyName"),
        ("x", ETHER // 2, OPEN, "StakeBelowMinimum"),
        ("x", ETHER, 2, "BadAdmission"),
    ],
)
def test_create_federation_rejects_bad_input(
    client, suite, accounts, name, min_stake, admission, error
):
    with reverts(error):
        tx(
            client,
            suite.registry.functions.createFederation(name, h("m"), min_stake, admission),
            accounts[1],
        )


def test_unknown_federation_views_and_calls_revert(client, suite, accounts):
    with reverts("UnknownFederation", 0):
        client.call(suite.registry.functions.federation(0))
    with reverts("UnknownFederation", 5):
        client.call(suite.registry.functions.members(5))
    with reverts("UnknownFederation", 5):
        tx(client, suite.registry.functions.join(5, ETHER, 1, ""), accounts[1])


# ---------------------------------------------------------------- join / stake / update


def test_join_pulls_stake_and_records_member(client, suite, accounts):
    a, b = accounts[1], accounts[2]
    fed = create_federation(client, suite, a)
    receipt = join(client, suite, a, fed, stake=3 * ETHER, capacity=5, peer="/ip4/127.0.0.1/tcp/1")
    join(client, suite, b, fed, stake=2 * ETHER, capacity=7)
    assert events(suite.registry, receipt, "MemberJoined") == [
        {
            "fedId": fed,
            "account": a.address,
            "stake": 3 * ETHER,
            "capacity": 5,
            "peerInfo": "/ip4/127.0.0.1/tcp/1",
        }
    ]
    assert balance(client, suite, suite.registry.address) == 5 * ETHER
    assert balance(client, suite, a.address) == 0
    m = member_info(client, suite, fed, a.address)
    assert (m["stake"], m["capacity"], m["peerInfo"], m["active"]) == (
        3 * ETHER,
        5,
        "/ip4/127.0.0.1/tcp/1",
        True,
    )
    assert m["joinedAt"] > 0 and m["leaveRequestedAt"] == m["withdrawableAt"] == 0
    assert m["suspended"] is False
    info = fed_info(client, suite.registry, fed)
    assert (info["memberCount"], info["totalCapacity"]) == (2, 12)
    assert client.call(suite.registry.functions.members(fed)) == [a.address, b.address]
    assert client.call(suite.registry.functions.activeMembers(fed)) == [a.address, b.address]
    assert client.call(suite.registry.functions.roundCandidates(fed, bytes(32), 1)) == [
        [a.address],
        [5],
        [3 * ETHER],
    ]
    assert client.call(suite.registry.functions.roundCandidates(fed, bytes(32), 9)) == [
        [a.address, b.address],
        [5, 7],
        [3 * ETHER, 2 * ETHER],
    ]


@pytest.mark.parametrize(
    ("stake", "capacity", "peer", "error"),
    [
        (0, 1, "", "ZeroAmount"),
        (ETHER // 2, 1, "", "StakeBelowMinimum"),
        (ETHER, 0, "", "ZeroCapacity"),
        (ETHER, 1, "x" * 513, "PeerInfoTooLong"),
    ],
)
def test_join_rejects_bad_input(client, suite, accounts, stake, capacity, peer, error):
    a = accounts[1]
    fed = create_federation(client, suite, a)
    fund(client, suite, a, ETHER)
    approve(client, suite, a, suite.registry.address, ETHER)
    with reverts(error):
        tx(client, suite.registry.functions.join(fed, stake, capacity, peer), a)


def test_join_accepts_peer_info_of_exactly_512_bytes(client, suite, accounts):
    fed = create_federation(client, suite, accounts[1])
    join(client, suite, accounts[1], fed, peer="x" * 512)
    assert member_info(client, suite, fed, accounts[1].address)["active"] is True


def test_join_twice_and_without_allowance(client, suite, accounts):
    a = accounts[1]
    fed = create_federation(client, suite, a)
    join(client, suite, a, fed)
    fund(client, suite, a, ETHER)
    approve(client, suite, a, suite.registry.address, ETHER)
    with reverts("AlreadyMember", fed, a.address):
        tx(client, suite.registry.functions.join(fed, ETHER, 1, ""), a)
    b = accounts[2]
    fund(client, suite, b, ETHER)
    with reverts("ERC20InsufficientAllowance"):
        tx(client, suite.registry.functions.join(fed, ETHER, 1, ""), b)


def test_governance_federation_needs_admission(client, suite, accounts):
    fed = create_federation(client, suite, accounts[1], admission=GOVERNANCE)
    fund(client, suite, accounts[2], ETHER)
    approve(client, suite, accounts[2], suite.registry.address, ETHER)
    with reverts("NotAdmitted", fed, accounts[2].address):
        tx(client, suite.registry.functions.join(fed, ETHER, 1, ""), accounts[2])


def test_add_stake_and_update_member(client, suite, accounts):
    a = accounts[1]
    fed = create_federation(client, suite, a)
    join(client, suite, a, fed, stake=ETHER, capacity=3)
    fund(client, suite, a, 2 * ETHER)
    approve(client, suite, a, suite.registry.address, 2 * ETHER)
    receipt = tx(client, suite.registry.functions.addStake(fed, 2 * ETHER), a)
    assert events(suite.registry, receipt, "StakeAdded") == [
        {"fedId": fed, "account": a.address, "amount": 2 * ETHER, "newStake": 3 * ETHER}
    ]
    receipt = tx(client, suite.registry.functions.updateMember(fed, 9, "new-peer"), a)
    assert events(suite.registry, receipt, "MemberUpdated") == [
        {"fedId": fed, "account": a.address, "capacity": 9, "peerInfo": "new-peer"}
    ]
    m = member_info(client, suite, fed, a.address)
    assert (m["stake"], m["capacity"], m["peerInfo"]) == (3 * ETHER, 9, "new-peer")
    assert fed_info(client, suite.registry, fed)["totalCapacity"] == 9
    assert balance(client, suite, suite.registry.address) == 3 * ETHER


def test_add_stake_and_update_member_reject_bad_input(client, suite, accounts):
    a, outsider = accounts[1], accounts[2]
    fed = create_federation(client, suite, a)
    join(client, suite, a, fed)
    with reverts("ZeroAmount"):
        tx(client, suite.registry.functions.addStake(fed, 0), a)
    with reverts("NotMember", fed, outsider.address):
        tx(client, suite.registry.functions.addStake(fed, ETHER), outsider)
    with reverts("ZeroCapacity"):
        tx(client, suite.registry.functions.updateMember(fed, 0, ""), a)
    with reverts("PeerInfoTooLong", 513, 512):
        tx(client, suite.registry.functions.updateMember(fed, 1, "y" * 513), a)
    with reverts("NotMember", fed, outsider.address):
        tx(client, suite.registry.functions.updateMember(fed, 1, ""), outsider)


# ---------------------------------------------------------------- leave / withdraw / rejoin


def test_leave_cooldown_withdraw_and_rejoin(client, suite, accounts):
    a, b, c = accounts[1], accounts[2], accounts[3]
    fed = create_federation(client, suite, a)
    for m in (a, b, c):
        join(client, suite, m, fed, stake=2 * ETHER, capacity=2)
    receipt = tx(client, suite.registry.functions.requestLeave(fed), a)
    (ev,) = events(suite.registry, receipt, "LeaveRequested")
    cooldown = client.call(suite.registry.functions.leaveCooldown())
    m = member_info(client, suite, fed, a.address)
    assert ev["readyAt"] == m["withdrawableAt"] == m["leaveRequestedAt"] + cooldown
    assert m["active"] is False and m["stake"] == 2 * ETHER and m["suspended"] is False
    assert fed_info(client, suite.registry, fed)["memberCount"] == 2
    assert client.call(suite.registry.functions.activeMembers(fed)) == [b.address, c.address]

    with reverts("NotMember", fed, a.address):
        tx(client, suite.registry.functions.requestLeave(fed), a)
    with reverts("CooldownActive", ev["readyAt"]):
        tx(client, suite.registry.functions.withdrawStake(fed), a)
    with reverts("LeavePending", fed, a.address):
        tx(client, suite.registry.functions.join(fed, ETHER, 1, ""), a)
    with reverts("NothingToWithdraw", fed, b.address):  # still active
        tx(client, suite.registry.functions.withdrawStake(fed), b)

    client.increase_time(cooldown + 1)
    receipt = tx(client, suite.registry.functions.withdrawStake(fed), a)
    assert events(suite.registry, receipt, "StakeWithdrawn") == [
        {"fedId": fed, "account": a.address, "amount": 2 * ETHER}
    ]
    assert balance(client, suite, a.address) == 2 * ETHER
    with reverts("NothingToWithdraw", fed, a.address):
        tx(client, suite.registry.functions.withdrawStake(fed), a)

    # Rejoin: listed once in members(), appended at the end of the active order.
    join(client, suite, a, fed, stake=ETHER, capacity=4)
    assert client.call(suite.registry.functions.members(fed)) == [a.address, b.address, c.address]
    assert client.call(suite.registry.functions.activeMembers(fed)) == [
        b.address,
        c.address,
        a.address,
    ]
    assert fed_info(client, suite.registry, fed)["totalCapacity"] == 8


def test_middle_member_leave_keeps_list_linked(client, suite, accounts):
    ms = accounts[1:5]
    fed = create_federation(client, suite, ms[0])
    for m in ms:
        join(client, suite, m, fed)
    for leaver in (ms[1], ms[3], ms[0]):
        tx(client, suite.registry.functions.requestLeave(fed), leaver)
    assert client.call(suite.registry.functions.activeMembers(fed)) == [ms[2].address]
    join(client, suite, accounts[5], fed)
    assert client.call(suite.registry.functions.activeMembers(fed)) == [
        ms[2].address,
        accounts[5].address,
    ]


# ---------------------------------------------------------------- slash / jobs wiring


def test_slash_only_by_jobs_or_governance(client, suite, accounts):
    fed = create_federation(client, suite, accounts[1])
    join(client, suite, accounts[1], fed)
    with reverts("NotAuthorized", accounts[2].address):
        tx(client, suite.registry.functions.slash(fed, accounts[1].address, 1, h("r")), accounts[2])


def test_governance_slash_is_capped_once_per_block_and_pays_treasury(client, suite, accounts):
    gov = accounts[9]
    reg = standalone_registry(client, suite, gov)
    s = SimpleNamespace(token=suite.token, registry=reg, deployer=suite.deployer)
    fed = create_federation(client, s, accounts[1])
    who = accounts[1].address
    join(client, s, accounts[1], fed, stake=30 * ETHER)
    assert client.call(reg.functions.govSlashCapBps()) == 1_000  # 10 % of the stake
    before = balance(client, suite, gov.address)
    with reverts("GovSlashOverCap", 3 * ETHER + 1, 3 * ETHER):
        tx(client, reg.functions.slash(fed, who, 3 * ETHER + 1, h("bad")), gov)
    with reverts("EmptyReason"):
        tx(client, reg.functions.slash(fed, who, ETHER, b"\0" * 32), gov)
    receipt = tx(client, reg.functions.slash(fed, who, 3 * ETHER, h("bad")), gov)
    assert events(reg, receipt, "Slashed") == [
        {"fedId": fed, "account": who, "amount": 3 * ETHER, "reason": h("bad"), "by": gov.address}
    ]
    assert balance(client, suite, gov.address) - before == 3 * ETHER
    assert member_info(client, s, fed, who)["stake"] == 27 * ETHER
    assert balance(client, suite, reg.address) == 27 * ETHER
    # The cap is of the stake now: 10 % of 27.
    with reverts("GovSlashOverCap", 3 * ETHER, 27 * ETHER // 10):
        tx(client, reg.functions.slash(fed, who, 3 * ETHER, h("bad")), gov)


def test_governance_slashes_a_member_once_per_proposal(client, suite, accounts):
    """A proposal executes in one transaction (one block): slashing a member twice in it, to
    take more than the cap, reverts the whole proposal. Two members in one proposal is fine."""
    delegate_all(client, suite)
    fed = create_federation(client, suite, accounts[1])
    for m in accounts[1:3]:
        join(client, suite, m, fed, stake=10 * ETHER)
    a, b = accounts[1].address, accounts[2].address
    reg = suite.registry
    with reverts("GovSlashAgain", fed, a):
        govern(client, suite, [(reg, reg.functions.slash(fed, a, ETHER // 2, h("cheat")))] * 2,
               "slash a twice")  # fmt: skip
    assert member_info(client, suite, fed, a)["stake"] == 10 * ETHER
    treasury = balance(client, suite, suite.timelock.address)
    calls = [(reg, reg.functions.slash(fed, x, ETHER, h("cheat"))) for x in (a, b)]
    receipt = govern(client, suite, calls, "slash a and b once each")
    assert [(e["account"], e["by"]) for e in events(reg, receipt, "Slashed")] == [
        (a, suite.timelock.address),
        (b, suite.timelock.address),
    ]
    assert balance(client, suite, suite.timelock.address) - treasury == 2 * ETHER
    assert member_info(client, suite, fed, a)["stake"] == 9 * ETHER
    assert member_info(client, suite, fed, b)["stake"] == 9 * ETHER


def test_jobs_slash_is_uncapped_and_stops_at_the_stake(client, suite, accounts):
    """The jobs contract slashes at the governed protocol rates, without the governance cap;
    a slash never takes more than the stake."""
    jobs = accounts[8]
    reg = standalone_registry(client, suite, accounts[9])
    tx(client, reg.functions.setJobs(jobs.address), suite.deployer)
    s = SimpleNamespace(token=suite.token, registry=reg, deployer=suite.deployer)
    fed = create_federation(client, s, accounts[1])
    join(client, s, accounts[1], fed, stake=3 * ETHER)
    who = accounts[1].address
    treasury = balance(client, suite, accounts[9].address)
    tx(client, reg.functions.slash(fed, who, 2 * ETHER, b"\0" * 32), jobs)  # no reason needed
    tx(client, reg.functions.slash(fed, who, 100 * ETHER, h("again")), jobs)
    assert member_info(client, s, fed, who)["stake"] == 0
    assert balance(client, suite, accounts[9].address) - treasury == 3 * ETHER
    assert balance(client, suite, reg.address) == 0
    receipt = tx(client, reg.functions.slash(fed, who, ETHER, h("bad")), jobs)  # nothing left
    assert events(reg, receipt, "Slashed") == []


def test_set_jobs_once_by_deployer(client, suite, accounts):
    with reverts("JobsAlreadySet"):
        tx(client, suite.registry.functions.setJobs(accounts[5].address), suite.deployer)
    reg = standalone_registry(client, suite, accounts[9])
    with reverts("NotAuthorized", accounts[1].address):
        tx(client, reg.functions.setJobs(accounts[5].address), accounts[1])
    with reverts("ZeroAddress"):
        tx(client, reg.functions.setJobs(ZERO_ADDRESS), suite.deployer)
    receipt = tx(client, reg.functions.setJobs(accounts[5].address), suite.deployer)
    assert events(reg, receipt, "JobsSet") == [{"jobs": accounts[5].address}]
    assert client.call(reg.functions.jobs()) == accounts[5].address


def test_constructor_rejects_bad_parameters(client, suite, accounts):
    with reverts("ParamOutOfRange", b32("slashBps"), 10_001, 0, 10_000):
        client.deploy(
            "FederationRegistry",
            suite.token.address,
            accounts[9].address,
            0,
            0,
            10_001,
            sender=accounts[0],
        )
    with reverts("ZeroAddress"):
        client.deploy(
            "FederationRegistry", suite.token.address, ZERO_ADDRESS, 0, 0, 0, sender=accounts[0]
        )


# ---------------------------------------------------------------- governed calls


@pytest.mark.parametrize(
    ("fn", "args"),
    [
        ("setMinStakeFloor", (0,)),
        ("setSlashBps", (1,)),
        ("setLeaveCooldown", (1,)),
        ("setMaxMembers", (1,)),
        ("setGovSlashCapBps", (1,)),
        ("admitMember", (1, ZERO_ADDRESS)),
        ("removeMember", (1, ZERO_ADDRESS)),
    ],
)
def test_governed_calls_reject_other_callers(client, suite, accounts, fn, args):
    with reverts("NotGovernance", accounts[1].address):
        tx(client, getattr(suite.registry.functions, fn)(*args), accounts[1])


@pytest.mark.parametrize(
    ("fn", "good", "bad", "event", "bounds"),
    [
        ("setMinStakeFloor", 5 * ETHER, 10**9 * ETHER + 1, "MinStakeFloorSet", (0, 10**9 * ETHER)),
        ("setSlashBps", 2_500, 10_001, "SlashBpsSet", (0, 10_000)),
        ("setLeaveCooldown", 3_600, 365 * 86_400 + 1, "LeaveCooldownSet", (0, 365 * 86_400)),
        ("setMaxMembers", 2, 0, "MaxMembersSet", (1, 1_024)),
        ("setGovSlashCapBps", 5_000, 5_001, "GovSlashCapSet", (0, 5_000)),
    ],
)
def test_governed_setters_bounds_and_events(client, suite, accounts, fn, good, bad, event, bounds):
    gov = accounts[9]
    reg = standalone_registry(client, suite, gov)
    getter = {
        "setMinStakeFloor": "minStakeFloor",
        "setSlashBps": "slashBps",
        "setLeaveCooldown": "leaveCooldown",
        "setMaxMembers": "maxMembers",
        "setGovSlashCapBps": "govSlashCapBps",
    }[fn]
    old = client.call(getattr(reg.functions, getter)())
    receipt = tx(client, getattr(reg.functions, fn)(good), gov)
    assert events(reg, receipt, event) == [{"oldValue": old, "newValue": good}]
    assert client.call(getattr(reg.functions, getter)()) == good
    with reverts("ParamOutOfRange", b32(getter), bad, *bounds):
        tx(client, getattr(reg.functions, fn)(bad), gov)


def test_max_members_caps_active_members(client, suite, accounts):
    gov = accounts[9]
    reg = standalone_registry(client, suite, gov)
    s = SimpleNamespace(token=suite.token, registry=reg, deployer=suite.deployer)
    tx(client, reg.functions.setMaxMembers(2), gov)
    fed = create_federation(client, s, accounts[1])
    join(client, s, accounts[1], fed)
    join(client, s, accounts[2], fed)
    with reverts("FederationFull", fed, 2):
        join(client, s, accounts[3], fed)
    tx(client, reg.functions.requestLeave(fed), accounts[1])
    join(client, s, accounts[3], fed)  # a slot freed up


def test_admit_and_remove_member(client, suite, accounts):
    gov, a = accounts[9], accounts[1]
    reg = standalone_registry(client, suite, gov)
    s = SimpleNamespace(token=suite.token, registry=reg, deployer=suite.deployer)
    open_fed = create_federation(client, s, a, name="open")
    closed = create_federation(client, s, a, name="closed", admission=GOVERNANCE)
    with reverts("AdmissionNotRequired", open_fed):
        tx(client, reg.functions.admitMember(open_fed, a.address), gov)
    with reverts("ZeroAddress"):
        tx(client, reg.functions.admitMember(closed, ZERO_ADDRESS), gov)
    receipt = tx(client, reg.functions.admitMember(closed, a.address), gov)
    assert events(reg, receipt, "MemberAdmitted") == [{"fedId": closed, "account": a.address}]
    join(client, s, a, closed, stake=2 * ETHER)
    assert member_info(client, s, closed, a.address)["admitted"] is True

    receipt = tx(client, reg.functions.removeMember(closed, a.address), gov)
    (ev,) = events(reg, receipt, "MemberRemoved")
    m = member_info(client, s, closed, a.address)
    assert (m["active"], m["admitted"]) == (False, False)
    assert ev["readyAt"] == m["leaveRequestedAt"] + 60
    with reverts("NotMember", closed, a.address):
        tx(client, reg.functions.removeMember(closed, a.address), gov)
    client.increase_time(61)
    tx(client, reg.functions.withdrawStake(closed), a)
    assert balance(client, suite, a.address) == 2 * ETHER
    fund(client, suite, a, ETHER)
    approve(client, suite, a, reg.address, ETHER)
    with reverts("NotAdmitted", closed, a.address):  # removal revoked the admission
        tx(client, reg.functions.join(closed, ETHER, 1, ""), a)
