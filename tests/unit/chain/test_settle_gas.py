"""The gas floors the bindings send with calls that may settle a round.

A round settles in whichever call lands last: the verdict that completes the committee's vote
(tally), the confirmation that reaches the threshold, closeAcceptance (lapses, re-split) or
timeoutRound. Each sender's gas estimate was taken against a state where its call did not
settle, so ``Milon`` sends a floor (``_settle_gas``) that covers settling. These tests play the
most expensive settlements (every update rejected, every assignment lapsing, an absent
committee; stakes at the federation minimum so every slash also suspends the member) and
check the floor covers what they used, then race two settling calls into one block on anvil.
"""

from __future__ import annotations

import threading
import time

import pytest
from eth_account import Account

from milon_app.chain.bindings import (
    MAX_COMMITTEE,
    SETTLE_GAS_CAP,
    Milon,
    _settle_gas,
    _start_gas,
)
from tests.unit.contracts.helpers import (
    ACCEPT_WINDOW,
    ETHER,
    by_address,
    committee,
    create_federation,
    create_job,
    h,
    join,
    revealed_round,
    round_info,
    round_members,
    round_to_revealed,
    start_round,
    submit_verdict,
    tx,
)

MIN_STAKE = ETHER  # members stake exactly the minimum: any slash suspends them too


def _past(client, deadline: int) -> None:
    client.increase_time(max(0, deadline - client.now()) + 1)


def _federation(client, suite, n: int, stake: int = MIN_STAKE) -> tuple[int, list]:
    members = [Account.create() for _ in range(n)]
    fed = create_federation(client, suite, suite.deployer, min_stake=MIN_STAKE)
    for m in members:
        client.send_eth(suite.deployer, m.address, ETHER)
        join(client, suite, m, fed, stake=stake)
    return fed, members


def _revealed_round(client, suite, fed, members, **job):
    """``revealed_round`` on a 40-epoch job of 20-epoch rounds, plus the round's seats."""
    job_id, r, active = revealed_round(
        client, suite, suite.deployer, fed, members, totalEpochs=40, epochsPerRound=20, **job
    )
    who = by_address(members)
    seats = [who[a.lower()] for a in committee(client, suite, job_id, r)]
    return job_id, r, active, seats


def _worst_settlements(client, suite, n: int, committee_size: int = 0) -> dict[str, tuple]:
    """Gas of each settling call in its costliest shape, with the round's (members, seats)."""
    fed, members = _federation(client, suite, n)
    out: dict[str, tuple] = {}

    # Every update rejected: the last verdict tallies and slashes (and suspends) everyone.
    job_id, r, active, seats = _revealed_round(client, suite, fed, members,
                                               committeeSize=committee_size)  # fmt: skip
    receipts = [submit_verdict(client, suite, job_id, r, v, []) for v in seats]
    assert round_info(client, suite, job_id, r)["finalized"]
    out["tally, all rejected"] = (receipts[-1]["gasUsed"], len(active), len(seats))
    client.increase_time(3600)

    # Half rejected, one committee member absent: the finalizing confirmation slashes both kinds.
    # The committee is drawn on chain: in some draws the absent seat leaves an update without
    # enough votes, nothing is accepted and the tally finalizes at once, or the absent seat
    # holds more than a third of the weight and the round fails. Draw again then.
    for _draw in range(6):
        fed, members = _federation(client, suite, n)  # fresh: earlier ones may be suspended
        job_id, r, active, seats = _revealed_round(client, suite, fed, members,
                                                   committeeSize=committee_size)  # fmt: skip
        half = [m.address for m in active[::2]]
        for v in seats[1:]:
            submit_verdict(client, suite, job_id, r, v, half)
        _past(client, round_info(client, suite, job_id, r)["verdictDeadline"])
        tx(client, suite.jobs.functions.closeVerdicts(job_id), suite.deployer)
        rd = round_info(client, suite, job_id, r)
        if not rd["finalized"] and not rd["timedOut"]:
            break
        client.increase_time(3600)
    for v in seats[1:]:
        receipt = tx(client, suite.jobs.functions.confirm(job_id, r, h("model")), v)
        if round_info(client, suite, job_id, r)["finalized"]:
            break
    assert round_info(client, suite, job_id, r)["finalized"]
    out["finalize, half rejected, one absent"] = (receipt["gasUsed"], len(active), len(seats))

    # All but one assignment lapse at closeAcceptance (a third federation: half the second's
    # members are suspended now).
    fed, members = _federation(client, suite, n)
    job_id = create_job(client, suite, suite.deployer, fed, totalEpochs=40, epochsPerRound=20,
                        committeeSize=committee_size)  # fmt: skip
    r = start_round(client, suite, job_id, suite.deployer)
    who = by_address(members)
    active = [who[a.lower()] for a in round_members(client, suite, job_id, r)]
    k = len(committee(client, suite, job_id, r))
    tx(client, suite.jobs.functions.accept(job_id, r), active[0])
    client.increase_time(ACCEPT_WINDOW + 1)
    receipt = tx(client, suite.jobs.functions.closeAcceptance(job_id), suite.deployer)
    out["closeAcceptance, all but one lapse"] = (receipt["gasUsed"], len(active), k)
    return out


def _check(found: dict[str, tuple]) -> None:
    for what, (gas, members, seats) in found.items():
        assert gas <= _settle_gas(members, seats), (what, gas, members, seats)
        assert gas <= _settle_gas(members), (what, gas, members)  # committee not given


def test_the_formula_assumes_the_largest_committee_and_stays_minable():
    assert _settle_gas(8) == _settle_gas(8, MAX_COMMITTEE) > _settle_gas(8, 7) > _settle_gas(8, 0)
    assert _settle_gas(0) == _settle_gas(1)
    assert all(_settle_gas(m + 1) >= _settle_gas(m) for m in range(300))
    assert _settle_gas(256) == SETTLE_GAS_CAP < 30_000_000


def test_floors_cover_the_costliest_settlements(client, suite):
    _check(_worst_settlements(client, suite, 8))


def test_timeout_with_every_assignment_lapsing_and_an_absent_committee(client, suite):
    fed, _ = _federation(client, suite, 8)
    job_id = create_job(client, suite, suite.deployer, fed, totalEpochs=40, epochsPerRound=20)
    r = start_round(client, suite, job_id, suite.deployer)
    n, k = len(round_members(client, suite, job_id, r)), len(committee(client, suite, job_id, r))
    client.increase_time(ACCEPT_WINDOW + 1)
    lapsed = tx(client, suite.jobs.functions.timeoutRound(job_id), suite.deployer)
    # Revealed updates, a committee that never votes: absent members lose the liveness penalty.
    job2, r2, active, seats = _revealed_round(client, suite, *_federation(client, suite, 8))
    client.increase_time(10_000)
    absent = tx(client, suite.jobs.functions.timeoutRound(job2), suite.deployer)
    assert round_info(client, suite, job2, r2)["timedOut"]
    _check({
        "timeout, all lapse": (lapsed["gasUsed"], n, k),
        "timeout, committee absent": (absent["gasUsed"], len(active), len(seats)),
    })  # fmt: skip


def test_floors_cover_a_large_committee(client, suite):
    if client.kind != "embedded":
        pytest.skip("gas is the same on anvil; once is enough for the larger round")
    found = _worst_settlements(client, suite, 12, committee_size=12)
    assert {(m, seats) for _gas, m, seats in found.values()} == {(12, 12)}
    _check(found)


def test_start_round_floor_covers_every_draw(client, suite):
    """startRound's gas depends on how many distinct members its draw seats, which depends on
    the block it lands in: the floor covers every seat going to a different member."""
    milon = Milon(suite)
    fed, _ = _federation(client, suite, 9, stake=10 * MIN_STAKE)  # lapses do not suspend
    for size in (3, 7, 9, 0):  # 9 and 0 (the default, 7): with 9 members 9 seats seat everyone
        job_id = create_job(client, suite, suite.deployer, fed, totalEpochs=40, epochsPerRound=20,
                            committeeSize=size)  # fmt: skip
        for _ in range(2):
            r = milon.start_round(suite.deployer, job_id)
            record = client.history[-1]
            assert record.action == "startRound" and record.ok
            k = size or 7
            assert record.gas_used <= _start_gas(9, min(9, k)), (size, record.gas_used)
            seats = committee(client, suite, job_id, r)
            assert len(seats) <= k
            client.increase_time(ACCEPT_WINDOW + 1)
            tx(client, suite.jobs.functions.timeoutRound(job_id), suite.deployer)


# ---------------------------------------------------------------------------- a real race


def _pending_count(client) -> int:
    block = client.w3.provider.make_request("eth_getBlockByNumber", ["pending", False])
    return len(block["result"]["transactions"])


def _race(client, calls) -> list[BaseException]:
    """Send ``calls`` from threads with automine off; mine them in one block."""
    errors: list[BaseException] = []

    def run(call) -> None:
        try:
            call()
        except BaseException as exc:  # reported by the main thread
            errors.append(exc)

    client.w3.provider.make_request("evm_setAutomine", [False])
    threads = [threading.Thread(target=run, args=(c,)) for c in calls]
    try:
        for t in threads:
            t.start()
        deadline = time.monotonic() + 30
        while _pending_count(client) < len(calls):
            assert time.monotonic() < deadline, "the calls never reached the pool"
            time.sleep(0.05)
        client.w3.provider.make_request("evm_mine", [])
    finally:
        client.w3.provider.make_request("evm_setAutomine", [True])
        for t in threads:
            t.join(timeout=60)
        client.forget_nonces()
    return errors


def test_two_last_verdicts_then_two_last_confirmations_in_one_block(client, suite, accounts):
    if client.kind == "embedded":
        pytest.skip("the embedded chain sends a fixed gas cap; the race needs estimates (anvil)")
    owner, members = accounts[0], accounts[1:4]
    _fed, job_id, r, _ = round_to_revealed(
        client, suite, owner, members, totalEpochs=6, epochsPerRound=6
    )
    milon = Milon(suite)
    n = len(members)
    every = (1 << n) - 1
    seats = committee(client, suite, job_id, r)
    who = by_address(members)
    assert len(seats) == 3  # everyone: fewer members than the default committee
    milon.submit_verdict(who[seats[0].lower()], job_id, r, every, bytes(n), n)
    errors = _race(client, [
        lambda v=who[s.lower()]: milon.submit_verdict(v, job_id, r, every, bytes(n), n)
        for s in seats[1:]
    ])  # fmt: skip
    assert not errors, f"a verdict failed: {errors[0]!r}"
    rd = round_info(client, suite, job_id, r)
    assert rd["tallied"] and rd["acceptedBits"] == every and not rd["finalized"]

    # Two of three equal seats reach two thirds: the first two confirmations race.
    errors = _race(client, [
        lambda v=who[s.lower()]: milon.confirm(v, job_id, r, h("model"), n) for s in seats[:2]
    ])  # fmt: skip
    assert not errors, f"a confirmation failed: {errors[0]!r}"
    assert round_info(client, suite, job_id, r)["finalized"] is True
