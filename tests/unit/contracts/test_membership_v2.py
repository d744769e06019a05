"""Membership in protocol v2: suspension below the minimum stake and reinstatement, the leave
cooldown fixed at request, and stakes locked by open work (docs/protocol.md, Membership)."""

from __future__ import annotations

from types import SimpleNamespace

from .helpers import (
    ACCEPT_WINDOW,
    ETHER,
    approve,
    balance,
    committee,
    create_federation,
    create_job,
    events,
    federation_with_stakes,
    fund,
    governed_suite,
    h,
    join,
    member_info,
    reverts,
    round_info,
    round_members,
    standalone_registry,
    start_round,
    tx,
)

MIN = 10 * ETHER


def past(client, deadline: int) -> None:
    client.increase_time(max(0, deadline - client.now()) + 1)


def fed_info(client, registry, fed_id):
    names = ["name", "metadataHash", "minStake", "admission", "creator", "memberCount",
             "totalCapacity"]  # fmt: skip
    return dict(zip(names, client.call(registry.functions.federation(fed_id)), strict=True))


def top_up(client, s, who, fed: int, amount: int):
    fund(client, s, who, amount)
    approve(client, s, who, s.registry.address, amount)
    return tx(client, s.registry.functions.addStake(fed, amount), who)


def _gov_registry(client, suite, accounts, cooldown: int = 60):
    gov = accounts[9]
    reg = standalone_registry(client, suite, gov, cooldown=cooldown)
    return gov, SimpleNamespace(token=suite.token, registry=reg, deployer=suite.deployer)


# ---------------------------------------------------------------- suspension


def test_a_no_show_slashed_below_the_minimum_is_suspended(client, suite, accounts):
    owner, (a, b, c) = accounts[0], accounts[1:4]
    fed = federation_with_stakes(client, suite, [a, b, c], [MIN] * 3, [1, 2, 3], min_stake=MIN)
    job_id = create_job(client, suite, owner, fed, totalEpochs=6, epochsPerRound=3)
    r = start_round(client, suite, job_id, owner)
    tx(client, suite.jobs.functions.accept(job_id, r), a)  # accepts, never commits
    for m in (b, c):
        tx(client, suite.jobs.functions.decline(job_id, r), m)
    past(client, round_info(client, suite, job_id, r)["confirmDeadline"])
    receipt = tx(client, suite.jobs.functions.timeoutRound(job_id), owner)
    assert events(suite.registry, receipt, "MemberSuspended") == [
        {"fedId": fed, "account": a.address, "stake": MIN * 9 // 10, "minStake": MIN}
    ]
    m = member_info(client, suite, fed, a.address)
    assert (m["active"], m["suspended"], m["stake"]) == (False, True, MIN * 9 // 10)
    assert client.call(suite.registry.functions.isActive(fed, a.address)) is False
    assert client.call(suite.registry.functions.activeMembers(fed)) == [b.address, c.address]
    info = fed_info(client, suite.registry, fed)
    assert (info["memberCount"], info["totalCapacity"]) == (2, 5)
    # No new work, no committee seat.
    r2 = start_round(client, suite, job_id, owner)
    assert a.address not in round_members(client, suite, job_id, r2)
    assert a.address not in committee(client, suite, job_id, r2)
    with reverts("AlreadyMember", fed, a.address):
        tx(client, suite.registry.functions.join(fed, MIN, 1, ""), a)


def test_topping_up_to_the_minimum_reinstates_at_the_end_of_the_list(client, suite, accounts):
    gov, s = _gov_registry(client, suite, accounts)
    a, b, c = accounts[1:4]
    fed = create_federation(client, s, a, min_stake=MIN)
    for m in (a, b, c):
        join(client, s, m, fed, stake=MIN, capacity=2)
    receipt = tx(client, s.registry.functions.slash(fed, a.address, ETHER, h("misconduct")), gov)
    assert [e["account"] for e in events(s.registry, receipt, "MemberSuspended")] == [a.address]
    assert balance(client, suite, gov.address) == ETHER  # the treasury
    # While suspended: a new capacity is recorded but not counted; a partial top-up is not enough.
    tx(client, s.registry.functions.updateMember(fed, 5, "p"), a)
    assert fed_info(client, s.registry, fed)["totalCapacity"] == 4
    receipt = top_up(client, s, a, fed, ETHER // 2)
    assert events(s.registry, receipt, "MemberReinstated") == []
    assert member_info(client, s, fed, a.address)["suspended"] is True
    receipt = top_up(client, s, a, fed, ETHER // 2)
    assert events(s.registry, receipt, "MemberReinstated") == [
        {"fedId": fed, "account": a.address, "stake": MIN}
    ]
    m = member_info(client, s, fed, a.address)
    assert (m["active"], m["suspended"], m["stake"], m["capacity"]) == (True, False, MIN, 5)
    assert client.call(s.registry.functions.activeMembers(fed)) == [b.address, c.address, a.address]
    info = fed_info(client, s.registry, fed)
    assert (info["memberCount"], info["totalCapacity"]) == (3, 9)
    assert balance(client, suite, s.registry.address) == 3 * MIN


def test_a_suspended_member_cannot_accept_work_it_was_given_before(client, suite, accounts):
    gov = accounts[9]
    s = governed_suite(client, suite, gov)
    owner, (a, b) = accounts[0], accounts[1:3]
    fed = federation_with_stakes(client, s, [a, b], [MIN] * 2, min_stake=MIN)
    job_id = create_job(client, s, owner, fed, totalEpochs=2, epochsPerRound=2)
    r = start_round(client, s, job_id, owner)
    tx(client, s.registry.functions.slash(fed, a.address, ETHER, h("misconduct")), gov)
    assert member_info(client, s, fed, a.address)["suspended"] is True
    with reverts("NotEligible", a.address):
        tx(client, s.jobs.functions.accept(job_id, r), a)
    tx(client, s.jobs.functions.decline(job_id, r), a)  # giving it back is always allowed
    tx(client, s.jobs.functions.accept(job_id, r), b)
    assert round_info(client, s, job_id, r)["assignedCount"] == 0


def test_reinstatement_needs_room_in_the_federation(client, suite, accounts):
    gov, s = _gov_registry(client, suite, accounts)
    a, b, c = accounts[1:4]
    fed = create_federation(client, s, a, min_stake=MIN)
    for m in (a, b):
        join(client, s, m, fed, stake=MIN)
    tx(client, s.registry.functions.slash(fed, a.address, ETHER, h("x")), gov)  # suspended
    tx(client, s.registry.functions.setMaxMembers(2), gov)
    join(client, s, c, fed, stake=MIN)  # a's place was free
    fund(client, s, a, ETHER)
    approve(client, s, a, s.registry.address, ETHER)
    with reverts("FederationFull", fed, 2):
        tx(client, s.registry.functions.addStake(fed, ETHER), a)
    tx(client, s.registry.functions.requestLeave(fed), c)
    tx(client, s.registry.functions.addStake(fed, ETHER), a)
    assert member_info(client, s, fed, a.address)["active"] is True


def test_a_suspended_member_may_leave_or_be_removed(client, suite, accounts):
    gov, s = _gov_registry(client, suite, accounts)
    a, b = accounts[1:3]
    fed = create_federation(client, s, a, min_stake=MIN)
    for m in (a, b):
        join(client, s, m, fed, stake=MIN)
    for m in (a, b):
        tx(client, s.registry.functions.slash(fed, m.address, ETHER, h("x")), gov)
    receipt = tx(client, s.registry.functions.requestLeave(fed), a)
    (ev,) = events(s.registry, receipt, "LeaveRequested")
    m = member_info(client, s, fed, a.address)
    assert (m["active"], m["suspended"], m["withdrawableAt"]) == (False, False, ev["readyAt"])
    with reverts("NotMember", fed, a.address):
        top_up(client, s, a, fed, ETHER)  # leaving: no way back but to withdraw and rejoin
    tx(client, s.registry.functions.removeMember(fed, b.address), gov)
    assert member_info(client, s, fed, b.address)["suspended"] is False
    client.increase_time(61)
    for m in (a, b):
        tx(client, s.registry.functions.withdrawStake(fed), m)
        assert balance(client, suite, m.address) >= MIN - ETHER
    assert balance(client, suite, s.registry.address) == 0


# ---------------------------------------------------------------- leave cooldown


def test_leave_cooldown_is_fixed_when_the_leave_is_requested(client, suite, accounts):
    gov, s = _gov_registry(client, suite, accounts, cooldown=60)
    a, b, c = accounts[1:4]
    fed = create_federation(client, s, a)
    for m in (a, b, c):
        join(client, s, m, fed, stake=MIN)
    tx(client, s.registry.functions.requestLeave(fed), a)
    requested = member_info(client, s, fed, a.address)["leaveRequestedAt"]
    tx(client, s.registry.functions.setLeaveCooldown(3_600), gov)  # longer: not for a
    tx(client, s.registry.functions.requestLeave(fed), b)
    assert member_info(client, s, fed, a.address)["withdrawableAt"] == requested + 60
    b_ready = member_info(client, s, fed, b.address)["withdrawableAt"]
    assert b_ready == member_info(client, s, fed, b.address)["leaveRequestedAt"] + 3_600
    tx(client, s.registry.functions.setLeaveCooldown(0), gov)  # shorter: not for b either
    client.increase_time(61)
    tx(client, s.registry.functions.withdrawStake(fed), a)
    with reverts("CooldownActive", b_ready):
        tx(client, s.registry.functions.withdrawStake(fed), b)
    tx(client, s.registry.functions.requestLeave(fed), c)  # under the new rule: at once
    tx(client, s.registry.functions.withdrawStake(fed), c)
    client.increase_time(3_600)
    tx(client, s.registry.functions.withdrawStake(fed), b)
    assert balance(client, suite, s.registry.address) == 0


# ---------------------------------------------------------------- locked stakes


def test_an_assignment_locks_the_stake_until_its_round_closes(client, suite, accounts):
    owner, (a, b) = accounts[0], accounts[1:3]
    fed = federation_with_stakes(client, suite, [a, b], [MIN] * 2)
    job_id = create_job(client, suite, owner, fed, totalEpochs=2, epochsPerRound=2)
    r = start_round(client, suite, job_id, owner)
    locked = client.call(suite.jobs.functions.pendingWork(fed, a.address))
    assert locked >= 1  # assigned (not yet accepted) already locks it
    tx(client, suite.registry.functions.requestLeave(fed), a)
    client.increase_time(ACCEPT_WINDOW + 1)  # past the cooldown (60 s) too
    with reverts("WorkPending", fed, a.address, locked):
        tx(client, suite.registry.functions.withdrawStake(fed), a)
    past(client, round_info(client, suite, job_id, r)["confirmDeadline"])
    tx(client, suite.jobs.functions.timeoutRound(job_id), owner)  # a lapses, the round closes
    assert client.call(suite.jobs.functions.pendingWork(fed, a.address)) == 0
    tx(client, suite.registry.functions.withdrawStake(fed), a)
    assert balance(client, suite, a.address) == MIN - MIN * 200 // 10_000  # less the lapse
