"""TrainingJobs: job creation checks, escrow, cancellation, views and governed parameters."""

from __future__ import annotations

import pytest

from .helpers import (
    ETHER,
    JOB_CANCELLED,
    JOB_OPEN,
    ZERO_ADDRESS,
    approve,
    b32,
    balance,
    create_job,
    events,
    federation_with_members,
    fund,
    h,
    job_info,
    job_params,
    reverts,
    start_round,
    tx,
)


def test_create_job_escrows_and_records(client, suite, accounts):
    owner, m = accounts[1], accounts[2]
    fed = federation_with_members(client, suite, [m])
    params = job_params(fed.fed_id, totalEpochs=6, epochsPerRound=3, rewardPerEpoch=2 * ETHER)
    fund(client, suite, owner, 12 * ETHER)
    approve(client, suite, owner, suite.jobs.address, 12 * ETHER)
    receipt = tx(client, suite.jobs.functions.createJob(params), owner)
    assert events(suite.jobs, receipt, "JobCreated") == [
        {"jobId": 1, "owner": owner.address, "fedId": fed.fed_id, "escrow": 12 * ETHER}
    ]
    assert client.call(suite.jobs.functions.jobCount()) == 1
    assert balance(client, suite, suite.jobs.address) == 12 * ETHER
    assert balance(client, suite, owner.address) == 0
    j = job_info(client, suite, 1)
    assert j["owner"] == owner.address
    assert tuple(j["params"]) == params
    assert j["globalModelHash"] == h("model-0")
    assert (j["currentRound"], j["epochsDone"], j["escrowRemaining"], j["status"]) == (
        0,
        0,
        12 * ETHER,
        JOB_OPEN,
    )
    assert j["finalModelHash"] == b"\0" * 32


@pytest.mark.parametrize(
    ("overrides", "error"),
    [
        ({"fedId": 99}, "UnknownFederation"),
        ({"fedId": 0}, "UnknownFederation"),
        ({"totalEpochs": 0, "epochsPerRound": 0}, "ZeroEpochs"),
        ({"epochsPerRound": 0}, "BadEpochsPerRound"),
        ({"totalEpochs": 5, "epochsPerRound": 6}, "BadEpochsPerRound"),
        ({"rewardPerEpoch": 0}, "ZeroReward"),
        ({"aggregationRule": 5}, "BadAggregationRule"),
        ({"validatorQuorum": 0}, "ZeroQuorum"),
        ({"roundDuration": 0}, "ZeroRoundDuration"),
    ],
)
def test_create_job_rejects_bad_params(client, suite, accounts, overrides, error):
    owner = accounts[1]
    fed = federation_with_members(client, suite, [accounts[2]])
    fund(client, suite, owner, 100 * ETHER)
    approve(client, suite, owner, suite.jobs.address, 100 * ETHER)
    with reverts(error):
        tx(client, suite.jobs.functions.createJob(job_params(fed.fed_id, **overrides)), owner)


def test_create_job_accepts_every_aggregation_rule_and_caps_epochs_per_round(
    client, suite, accounts
):
    owner = accounts[1]
    fed = federation_with_members(client, suite, [accounts[2]])
    for rule in range(5):
        create_job(
            client, suite, owner, fed.fed_id, aggregationRule=rule, totalEpochs=1, epochsPerRound=1
        )
    assert client.call(suite.jobs.functions.jobCount()) == 5
    fund(client, suite, owner, 20_000 * ETHER)
    approve(client, suite, owner, suite.jobs.address, 20_000 * ETHER)
    too_many = job_params(fed.fed_id, totalEpochs=20_000, epochsPerRound=10_001)
    with reverts("BadEpochsPerRound", 10_001, 10_000):
        tx(client, suite.jobs.functions.createJob(too_many), owner)


def test_create_job_without_allowance_fails(client, suite, accounts):
    fed = federation_with_members(client, suite, [accounts[2]])
    fund(client, suite, accounts[1], 10 * ETHER)
    with reverts("ERC20InsufficientAllowance"):
        tx(client, suite.jobs.functions.createJob(job_params(fed.fed_id)), accounts[1])


def test_cancel_job_refunds_between_rounds_only(client, suite, accounts):
    owner, m, other = accounts[1], accounts[2], accounts[3]
    fed = federation_with_members(client, suite, [m])
    job_id = create_job(client, suite, owner, fed.fed_id)
    with reverts("NotJobOwner", other.address):
        tx(client, suite.jobs.functions.cancelJob(job_id), other)
    start_round(client, suite, job_id, owner)
    with reverts("RoundInProgress", job_id, 1):
        tx(client, suite.jobs.functions.cancelJob(job_id), owner)
    client.increase_time(301)  # nobody accepted: the round can be closed
    tx(client, suite.jobs.functions.timeoutRound(job_id), other)
    receipt = tx(client, suite.jobs.functions.cancelJob(job_id), owner)
    assert events(suite.jobs, receipt, "JobCancelled") == [{"jobId": job_id, "refund": 10 * ETHER}]
    assert balance(client, suite, owner.address) == 10 * ETHER
    assert balance(client, suite, suite.jobs.address) == 0
    j = job_info(client, suite, job_id)
    assert (j["status"], j["escrowRemaining"]) == (JOB_CANCELLED, 0)
    with reverts("JobNotOpen", job_id):
        tx(client, suite.jobs.functions.cancelJob(job_id), owner)
    with reverts("JobNotOpen", job_id):
        tx(client, suite.jobs.functions.startRound(job_id), owner)


def test_unknown_job(client, suite, accounts):
    with reverts("UnknownJob", 7):
        client.call(suite.jobs.functions.job(7))
    with reverts("UnknownJob", 0):
        tx(client, suite.jobs.functions.startRound(0), accounts[1])
    with reverts("UnknownJob", 3):
        tx(client, suite.jobs.functions.accept(3, 1), accounts[1])


@pytest.mark.parametrize(
    ("fn", "good", "bad", "event", "bounds"),
    [
        ("setAcceptWindow", 120, 59, "AcceptWindowSet", (60, 30 * 86_400)),
        ("setRevealWindow", 30 * 86_400, 30 * 86_400 + 1, "RevealWindowSet", (60, 30 * 86_400)),
        ("setProposalWindow", 60, 0, "ProposalWindowSet", (60, 30 * 86_400)),
        ("setMaxEpochsPerRound", 5, 0, "MaxEpochsPerRoundSet", (1, 1_000_000)),
        ("setMaxRoundMembers", 256, 257, "MaxRoundMembersSet", (1, 256)),
    ],
)
def test_governed_params_bounds_and_events(client, suite, accounts, fn, good, bad, event, bounds):
    gov = accounts[9]
    jobs = client.deploy(
        "TrainingJobs", suite.token.address, suite.registry.address, gov.address, sender=accounts[0]
    )
    name = fn[3].lower() + fn[4:]
    old = client.call(getattr(jobs.functions, name)())
    with reverts("NotGovernance", accounts[1].address):
        tx(client, getattr(jobs.functions, fn)(good), accounts[1])
    receipt = tx(client, getattr(jobs.functions, fn)(good), gov)
    assert events(jobs, receipt, event) == [{"oldValue": old, "newValue": good}]
    assert client.call(getattr(jobs.functions, name)()) == good
    with reverts("ParamOutOfRange", b32(name), bad, *bounds):
        tx(client, getattr(jobs.functions, fn)(bad), gov)


def test_constructor_rejects_zero_addresses(client, suite, accounts):
    with reverts("ZeroAddress"):
        client.deploy(
            "TrainingJobs",
            suite.token.address,
            suite.registry.address,
            ZERO_ADDRESS,
            sender=accounts[0],
        )
    with reverts("ZeroAddress"):
        client.deploy("ModelRegistry", ZERO_ADDRESS, sender=accounts[0])
