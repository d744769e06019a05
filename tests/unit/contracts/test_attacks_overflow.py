"""Amounts at the top of their ranges: a revert with a named error, no wrap, nothing moved.

Checked arithmetic reverts with Panic(0x11) (arithmetic overflow), solc's named
error for it; too-large transfers fail with OpenZeppelin's ERC20 errors.
Values that do not fit their ABI type (a uint32 of 2**32 + 1, which would wrap
to 1) are refused by the ABI decoder with an empty revert before any code runs.
Rewards cannot overflow at settlement: a member's reward is at most the job's
escrow, whose multiplication is checked at createJob, and ERC20Votes caps the
token supply at 2**208 - 1, so stakes (committee weights) and their sums fit too.
"""

from __future__ import annotations

from typing import Any

import pytest
from eth_abi.abi import encode

from milon_app.chain.bindings import Param
from milon_app.chain.errors import ContractRevert

from .helpers import (
    ETHER,
    approve,
    balance,
    create_federation,
    create_job,
    federation_with_members,
    fund,
    job_info,
    job_params,
    join,
    member_info,
    param,
    reverts,
    start_round,
    tx,
)

MAX = 2**256 - 1
OVERFLOW = 0x11  # Panic code of checked arithmetic


def _books(client, suite, *who: Any) -> tuple[int, ...]:
    addrs = [suite.registry.address, suite.jobs.address, *(w.address for w in who)]
    return tuple(balance(client, suite, a) for a in addrs)


def test_add_stake_beyond_uint256_reverts_with_overflow_and_moves_nothing(client, suite, accounts):
    m = accounts[1]
    fed = federation_with_members(client, suite, [m]).fed_id
    approve(client, suite, m, suite.registry.address, MAX)
    before, stake = _books(client, suite, m), member_info(client, suite, fed, m.address)["stake"]
    with reverts("Panic", OVERFLOW):
        tx(client, suite.registry.functions.addStake(fed, MAX), m)
    # Exactly up to the top: the sum fits, the tokens do not exist.
    with reverts("ERC20InsufficientBalance"):
        tx(client, suite.registry.functions.addStake(fed, MAX - stake), m)
    assert _books(client, suite, m) == before
    assert member_info(client, suite, fed, m.address)["stake"] == stake


def test_join_and_transfer_of_max_amounts_fail_with_erc20_errors(client, suite, accounts):
    m = accounts[1]
    fed = create_federation(client, suite, accounts[2])
    fund(client, suite, m, 5 * ETHER)
    approve(client, suite, m, suite.registry.address, MAX)
    before = _books(client, suite, m)
    with reverts("ERC20InsufficientBalance"):
        tx(client, suite.registry.functions.join(fed, MAX, 1, "p"), m)
    with reverts("ERC20InsufficientBalance"):
        tx(client, suite.token.functions.transfer(accounts[2].address, MAX), m)
    with reverts("FaucetAmountTooLarge"):
        tx(client, suite.token.functions.faucet(m.address, MAX), m)
    assert _books(client, suite, m) == before
    assert not member_info(client, suite, fed, m.address)["active"]


def test_escrow_multiplication_overflow_reverts_before_any_job_exists(client, suite, accounts):
    owner = accounts[1]
    fed = create_federation(client, suite, owner)
    approve(client, suite, owner, suite.jobs.address, MAX)
    fund(client, suite, owner, 10 * ETHER)
    before = _books(client, suite, owner)
    huge = job_params(fed, totalEpochs=2, epochsPerRound=1, rewardPerEpoch=MAX // 2 + 1)
    with reverts("Panic", OVERFLOW):
        tx(client, suite.jobs.functions.createJob(huge), owner)
    fits = job_params(fed, totalEpochs=2**32 - 1, epochsPerRound=1, rewardPerEpoch=MAX // 2**32)
    with reverts("ERC20InsufficientBalance"):  # the product fits in uint256 but is unfunded
        tx(client, suite.jobs.functions.createJob(fits), owner)
    assert client.call(suite.jobs.functions.jobCount()) == 0
    assert _books(client, suite, owner) == before


def test_max_epochs_job_escrows_exactly_and_per_round_cap_holds(client, suite, accounts):
    owner, m = accounts[1], accounts[2]
    fed = federation_with_members(client, suite, [m, accounts[3]]).fed_id
    limit = param(client, suite.jobs, Param.MAX_EPOCHS_PER_ROUND)
    total = 2**32 - 1
    with reverts("BadEpochsPerRound", limit + 1, limit):
        tx(client, suite.jobs.functions.createJob(job_params(fed, totalEpochs=total,
                                                             epochsPerRound=limit + 1)), owner)  # fmt: skip
    job_id = create_job(client, suite, owner, fed, totalEpochs=total, epochsPerRound=limit,
                        rewardPerEpoch=1)  # fmt: skip
    assert job_info(client, suite, job_id)["escrowRemaining"] == total  # 1 wei per epoch, no wrap
    r = start_round(client, suite, job_id, owner)
    assert client.call(suite.jobs.functions.round(job_id, r))[0] == limit  # epochs
    # Two members: each takes half, the per-member cap (no more than half the round).
    assert client.call(suite.jobs.functions.assignment(job_id, r, m.address))[0] == limit // 2


def test_max_capacities_split_without_overflow(client, suite, accounts):
    top = 2**64 - 1
    members = accounts[1:4]
    fed = federation_with_members(client, suite, members, [top, top, top]).fed_id
    assert client.call(suite.registry.functions.federation(fed))[6] == 3 * top  # totalCapacity
    tx(client, suite.registry.functions.updateMember(fed, top, "p2"), members[0])
    job_id = create_job(client, suite, accounts[5], fed, totalEpochs=9, epochsPerRound=9)
    r = start_round(client, suite, job_id, accounts[5])
    shares = [
        client.call(suite.jobs.functions.assignment(job_id, r, m.address))[0] for m in members
    ]
    assert shares == [3, 3, 3]
    assert [
        client.call(suite.jobs.functions.assignment(job_id, r, m.address))[2] for m in members
    ] == [top] * 3  # the weights the split used: capacity x a newcomer's delivery factor (1)
    # RoundMath's own overflow checks (weights the registry cannot produce) are in
    # test_round_math.py, through the test harness.


def test_huge_stakes_weigh_committee_seats_without_overflow(client, suite, accounts):
    """A stake of most of the token supply: the committee's weight is the exact sum."""
    members = accounts[1:4]
    big = 90_000_000 * ETHER  # of the 100M supply
    fed = federation_with_members(client, suite, members[:2]).fed_id
    join(client, suite, members[2], fed, stake=big)
    job_id = create_job(client, suite, accounts[5], fed, totalEpochs=3, epochsPerRound=3)
    r = start_round(client, suite, job_id, accounts[5])
    rd = client.call(suite.jobs.functions.round(job_id, r))
    assert rd[16] == big + 20 * ETHER  # committeeWeight
    assert client.call(suite.jobs.functions.seat(job_id, r, members[2].address))[3] == big


def _raw(client, to: str, selector: bytes, types: list[str], values: list[Any], sender) -> None:
    """Send calldata web3 would refuse to encode (values too wide for their declared type)."""
    data = selector + encode(types, values)
    fn = type("Raw", (), {})()
    fn.address, fn.fn_name = to, "raw"
    fn._encode_transaction_data = lambda: "0x" + data.hex()
    fn.call = lambda params, block_identifier="latest": client.w3.eth.call(
        {**params, "to": to, "data": data}, block_identifier
    )
    fn.estimate_gas = lambda params: client.w3.eth.estimate_gas({**params, "to": to, "data": data})
    fn.build_transaction = lambda params: {**params, "to": to, "data": data}
    client.transact(fn, sender)


@pytest.mark.parametrize(
    "what",
    ["createJob.totalEpochs", "createJob.committeeSize", "join.capacity", "setSlashBps"],
)
def test_values_too_wide_for_their_type_are_refused_not_truncated(client, suite, accounts, what):
    owner = accounts[1]
    fed = create_federation(client, suite, owner)
    fund(client, suite, owner, 100 * ETHER)
    approve(client, suite, owner, suite.jobs.address, MAX)
    approve(client, suite, owner, suite.registry.address, MAX)
    sel = bytes.fromhex
    if what == "createJob.totalEpochs":  # 2**32 + 1 would wrap to a 1-epoch job
        p = list(job_params(fed, totalEpochs=1, epochsPerRound=1))
        p[4] = 2**32 + 1
        types = [
            "(uint256,bytes32,bytes32,bytes32,uint256,uint32,uint256,uint8,uint8,uint64,uint64)"
        ]
        selector = suite.jobs.functions.createJob(job_params(fed))._encode_transaction_data()
        args: tuple[Any, ...] = (suite.jobs.address, sel(selector[2:10]), types, [tuple(p)])
    elif what == "createJob.committeeSize":  # 256 + 7 would wrap to a committee of 7
        p = list(job_params(fed, totalEpochs=1, epochsPerRound=1))
        p[8] = 256 + 7
        types = [
            "(uint256,bytes32,bytes32,bytes32,uint32,uint32,uint256,uint8,uint256,uint64,uint64)"
        ]
        selector = suite.jobs.functions.createJob(job_params(fed))._encode_transaction_data()
        args = (suite.jobs.address, sel(selector[2:10]), types, [tuple(p)])
    elif what == "join.capacity":  # 2**64 + 1 would wrap to capacity 1
        selector = suite.registry.functions.join(fed, ETHER, 1, "p")._encode_transaction_data()
        types = ["uint256", "uint256", "uint256", "string"]
        args = (suite.registry.address, sel(selector[2:10]), types, [fed, ETHER, 2**64 + 1, "p"])
    else:  # 2**16 + 500 would wrap to 5% (sent by a non-governor: the type check comes first)
        selector = suite.registry.functions.setSlashBps(1)._encode_transaction_data()
        args = (suite.registry.address, sel(selector[2:10]), ["uint256"], [2**16 + 500])
    before = _books(client, suite, owner)
    with pytest.raises(ContractRevert) as info:
        _raw(client, *args, owner)
    assert info.value.error_name == "EmptyRevert", str(info.value)
    assert _books(client, suite, owner) == before
    assert client.call(suite.jobs.functions.jobCount()) == 0
    assert not member_info(client, suite, fed, owner.address)["active"]
