"""TrainingJobs: job creation checks, escrow, cancellation, views and governed parameters."""

from __future__ import annotations

import pytest

from milon_app.chain.bindings import Param

from .helpers import (
    DEFAULT_PARAMS,
    ETHER,
    JOB_CANCELLED,
    JOB_OPEN,
    PARAM_BOUNDS,
    ZERO_ADDRESS,
    approve,
    balance,
    create_job,
    events,
    federation_with_members,
    fund,
    governed_suite,
    h,
    job_info,
    job_params,
    reverts,
    set_param,
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
        ({"committeeSize": 2}, "BadCommitteeSize"),
        ({"committeeSize": 32}, "BadCommitteeSize"),
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
    fed = federation_with_members(client, suite, [m, accounts[4]])
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


def test_committee_size_is_zero_or_within_the_governed_bounds(client, suite, accounts):
    owner = accounts[1]
    fed = federation_with_members(client, suite, [accounts[2]])
    for size in (0, 3, 7, 31):
        job_id = create_job(client, suite, owner, fed.fed_id, committeeSize=size)
        assert job_info(client, suite, job_id)["params"][8] == size
    fund(client, suite, owner, 10 * ETHER)
    approve(client, suite, owner, suite.jobs.address, 10 * ETHER)
    with reverts("BadCommitteeSize", 32, 3, 31):
        tx(client, suite.jobs.functions.createJob(job_params(fed.fed_id, committeeSize=32)), owner)


@pytest.fixture
def gov_jobs(client, suite, accounts):
    """A TrainingJobs whose governance is a plain account (accounts[9])."""
    return client.deploy(
        "TrainingJobs", suite.token.address, suite.registry.address, accounts[9].address,
        sender=accounts[0],
    )  # fmt: skip


def test_params_start_at_their_defaults_within_their_bounds(client, gov_jobs):
    f = gov_jobs.functions
    assert client.call(f.params()) == DEFAULT_PARAMS
    assert client.call(f.PARAM_COUNT()) == len(DEFAULT_PARAMS) == len(Param) == 20
    for pid, (lo, hi) in enumerate(PARAM_BOUNDS):
        assert client.call(f.paramBounds(pid)) == [lo, hi], Param(pid).name
        assert lo <= DEFAULT_PARAMS[pid] <= hi
    with reverts("UnknownParam", 20):
        client.call(f.paramBounds(20))


NON_COMMITTEE = [p for p in Param if p not in (Param.COMMITTEE_MIN, Param.COMMITTEE_DEFAULT,
                                               Param.COMMITTEE_MAX)]  # fmt: skip


@pytest.mark.parametrize("param", NON_COMMITTEE, ids=lambda p: p.name.lower())
def test_set_param_accepts_its_bounds_and_refuses_beyond(client, gov_jobs, accounts, param):
    gov, f, pid = accounts[9], gov_jobs.functions, int(param)
    lo, hi = PARAM_BOUNDS[pid]
    with reverts("NotGovernance", accounts[1].address):
        tx(client, f.setParam(pid, lo), accounts[1])
    old = client.call(f.params())[pid]
    for value in (lo, hi):
        receipt = tx(client, f.setParam(pid, value), gov)
        assert events(gov_jobs, receipt, "ParamSet") == [
            {"id": pid, "oldValue": old, "newValue": value}
        ]
        assert client.call(f.params())[pid] == value
        old = value
    if lo > 0:
        with reverts("ParamOutOfRange", pid, lo - 1, lo, hi):
            tx(client, f.setParam(pid, lo - 1), gov)
    with reverts("ParamOutOfRange", pid, hi + 1, lo, hi):
        tx(client, f.setParam(pid, hi + 1), gov)
    assert client.call(f.params())[pid] == hi
    others = [v for i, v in enumerate(client.call(f.params())) if i != pid]
    assert others == [v for i, v in enumerate(DEFAULT_PARAMS) if i != pid]


def test_set_param_refuses_unknown_ids(client, gov_jobs, accounts):
    with reverts("UnknownParam", 20):
        tx(client, gov_jobs.functions.setParam(20, 1), accounts[9])
    with reverts("UnknownParam", 2**256 - 1):
        tx(client, gov_jobs.functions.setParam(2**256 - 1, 1), accounts[9])


def test_committee_bounds_keep_min_default_max_ordered(client, gov_jobs, accounts):
    gov, f = accounts[9], gov_jobs.functions
    cmin, cdef, cmax = (int(p) for p in (Param.COMMITTEE_MIN, Param.COMMITTEE_DEFAULT,
                                         Param.COMMITTEE_MAX))  # fmt: skip

    def committee_params():
        return client.call(f.params())[cmin : cmax + 1]

    # Each out of its hard bounds [3, 64].
    for pid in (cmin, cdef, cmax):
        with reverts("ParamOutOfRange", pid, 2, 3, 64):
            tx(client, f.setParam(pid, 2), gov)
        with reverts("ParamOutOfRange", pid, 65, 3, 64):
            tx(client, f.setParam(pid, 65), gov)
    # Within the hard bounds but out of order: (min, default, max) = (3, 7, 31).
    with reverts("ParamOutOfRange", cmin, 8, 8, 31):  # min above the default
        tx(client, f.setParam(cmin, 8), gov)
    with reverts("ParamOutOfRange", cdef, 32, 3, 31):  # default above the max
        tx(client, f.setParam(cdef, 32), gov)
    with reverts("ParamOutOfRange", cmax, 6, 3, 6):  # max below the default
        tx(client, f.setParam(cmax, 6), gov)
    assert committee_params() == [3, 7, 31]
    # Equal values are in order; all the way up, then all the way down.
    for pid, v in ((cmax, 64), (cdef, 64), (cmin, 64)):
        tx(client, f.setParam(pid, v), gov)
    assert committee_params() == [64, 64, 64]
    with reverts("ParamOutOfRange", cmax, 63, 64, 63):
        tx(client, f.setParam(cmax, 63), gov)
    for pid, v in ((cmin, 3), (cdef, 3), (cmax, 3)):
        tx(client, f.setParam(pid, v), gov)
    assert committee_params() == [3, 3, 3]


def test_create_job_follows_the_governed_committee_bounds(client, suite, accounts):
    gov = accounts[9]
    s = governed_suite(client, suite, gov)
    owner = accounts[1]
    fed = federation_with_members(client, s, [accounts[2]])
    set_param(client, s.jobs, gov, Param.COMMITTEE_MAX, 40)
    create_job(client, s, owner, fed.fed_id, committeeSize=40)
    set_param(client, s.jobs, gov, Param.COMMITTEE_MIN, 5)
    fund(client, s, owner, 10 * ETHER)
    approve(client, s, owner, s.jobs.address, 10 * ETHER)
    with reverts("BadCommitteeSize", 4, 5, 40):
        tx(client, s.jobs.functions.createJob(job_params(fed.fed_id, committeeSize=4)), owner)


def test_max_epochs_per_round_bounds_new_jobs(client, suite, accounts):
    gov = accounts[9]
    s = governed_suite(client, suite, gov)
    owner = accounts[1]
    fed = federation_with_members(client, s, [accounts[2]])
    set_param(client, s.jobs, gov, Param.MAX_EPOCHS_PER_ROUND, 5)
    fund(client, s, owner, 10 * ETHER)
    approve(client, s, owner, s.jobs.address, 10 * ETHER)
    with reverts("BadEpochsPerRound", 6, 5):
        tx(client, s.jobs.functions.createJob(job_params(fed.fed_id, epochsPerRound=6)), owner)
    create_job(client, s, owner, fed.fed_id, epochsPerRound=5)


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
