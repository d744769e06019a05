"""Token-holder governance end to end: delegate, propose, vote, queue, execute via the timelock."""

from __future__ import annotations

import pytest

from milon_app.chain.bindings import Param
from milon_app.chain.governance import JOBS_PARAMETERS, Governance, ProposalState
from milon_app.errors import BadInputError

from .helpers import (
    ETHER,
    GOVERNANCE,
    b32,
    balance,
    create_federation,
    delegate_all,
    events,
    finish_round,
    govern,
    h,
    join,
    member_info,
    param,
    reverts,
    round_to_revealed,
    tx,
)

STAKE = 10 * ETHER


def test_governance_changes_slash_rate_and_the_new_rate_is_enforced(client, suite, accounts):
    delegate_all(client, suite)
    receipt = govern(
        client,
        suite,
        [(suite.registry, suite.registry.functions.setSlashBps(2_500))],
        "Raise the slash rate to 25%",
    )
    assert events(suite.registry, receipt, "SlashBpsSet") == [
        {"oldValue": 1_000, "newValue": 2_500}
    ]
    assert client.call(suite.registry.functions.slashBps()) == 2_500

    owner, members = accounts[0], accounts[1:3]
    fed, job_id, r, _ = round_to_revealed(
        client, suite, owner, members, totalEpochs=2, epochsPerRound=2
    )
    receipt = finish_round(client, suite, job_id, r, members, [members[0].address])
    assert events(suite.jobs, receipt, "MemberSlashed") == [
        {"jobId": job_id, "round": r, "member": members[1].address, "amount": STAKE // 4}
    ]
    assert member_info(client, suite, fed.fed_id, members[1].address)["stake"] == STAKE - STAKE // 4


def test_governance_admits_members_and_records_releases(client, suite, accounts):
    delegate_all(client, suite)
    applicant = accounts[2]
    fed = create_federation(client, suite, accounts[1], name="curated", admission=GOVERNANCE)
    calls = [
        (suite.registry, suite.registry.functions.admitMember(fed, applicant.address)),
        (suite.models, suite.models.functions.recordRelease(1, h("final-model"), "ipfs://model")),
        (suite.jobs, suite.jobs.functions.setParam(int(Param.ACCEPT_WINDOW), 600)),
    ]
    receipt = govern(
        client, suite, calls, "Admit a member, record a release, widen the accept window"
    )
    assert events(suite.registry, receipt, "MemberAdmitted") == [
        {"fedId": fed, "account": applicant.address}
    ]
    assert events(suite.models, receipt, "ModelReleased") == [
        {"id": 1, "jobId": 1, "modelHash": h("final-model"), "uri": "ipfs://model"}
    ]
    assert events(suite.jobs, receipt, "ParamSet") == [{"id": 0, "oldValue": 300, "newValue": 600}]
    assert param(client, suite.jobs, Param.ACCEPT_WINDOW) == 600
    join(client, suite, applicant, fed)
    assert member_info(client, suite, fed, applicant.address)["active"] is True
    assert client.call(suite.models.functions.releaseCount()) == 1
    job_id, model_hash, uri, recorded_at = client.call(suite.models.functions.release(1))
    assert (job_id, model_hash, uri) == (1, h("final-model"), "ipfs://model") and recorded_at > 0


def test_governance_bounds_checks_apply_through_the_timelock(client, suite):
    delegate_all(client, suite)
    with reverts("ParamOutOfRange", b32("slashBps"), 10_001, 0, 10_000):
        govern(
            client,
            suite,
            [(suite.registry, suite.registry.functions.setSlashBps(10_001))],
            "Too much",
        )
    with reverts("ParamOutOfRange", int(Param.PARTICIPATION_BPS), 5_000, 5_001, 10_000):
        govern(
            client,
            suite,
            [(suite.jobs, suite.jobs.functions.setParam(int(Param.PARTICIPATION_BPS), 5_000))],
            "Half the committee decides",
        )


def test_governance_proposals_built_by_name_change_the_protocol(client, suite, accounts):
    """The proposal builder (milon gov propose-param) maps each name to its setter."""
    deployer = suite.deployer
    gov = Governance(suite)
    gov.delegate(deployer)
    client.mine(1)
    assert set(JOBS_PARAMETERS) == {p.name.lower().replace("_", "-") for p in Param}
    for name, value in (("committee-max", 40), ("confirm-window", 900), ("gov-slash-cap-bps", 500)):
        _, state = gov.pass_proposal(deployer, [deployer], gov.set_parameter(name, value))
        assert state is ProposalState.EXECUTED
    assert param(client, suite.jobs, Param.COMMITTEE_MAX) == 40
    assert param(client, suite.jobs, Param.CONFIRM_WINDOW) == 900
    assert client.call(suite.registry.functions.govSlashCapBps()) == 500
    with pytest.raises(BadInputError, match="unknown parameter"):
        gov.set_parameter("validator-quorum", 2)  # v1's, gone


def test_governance_slash_with_a_reason_pays_the_treasury(client, suite, accounts):
    deployer = suite.deployer
    gov = Governance(suite)
    gov.delegate(deployer)
    client.mine(1)
    member = accounts[1]
    fed = create_federation(client, suite, accounts[1])
    join(client, suite, member, fed, stake=STAKE)
    with pytest.raises(BadInputError, match="reason"):
        gov.slash_member(fed, member.address, ETHER, "")
    treasury = balance(client, suite, suite.timelock.address)
    call = gov.slash_member(fed, member.address, STAKE // 10, "leaked the validation set")
    _, state = gov.pass_proposal(deployer, [deployer], call)
    assert state is ProposalState.EXECUTED
    assert member_info(client, suite, fed, member.address)["stake"] == STAKE - STAKE // 10
    assert balance(client, suite, suite.timelock.address) - treasury == STAKE // 10
    # More than the cap (10 % of what is left) fails at execution: nothing moves.
    too_much = gov.slash_member(fed, member.address, STAKE // 10, "again", "slash again")
    with reverts("GovSlashOverCap", STAKE // 10, (STAKE - STAKE // 10) // 10):
        gov.pass_proposal(deployer, [deployer], too_much)
    assert member_info(client, suite, fed, member.address)["stake"] == STAKE - STAKE // 10


def test_model_registry_direct_calls(client, suite, accounts):
    with reverts("NotGovernance", accounts[1].address):
        tx(client, suite.models.functions.recordRelease(1, h("m"), "u"), accounts[1])
    with reverts("UnknownRelease", 1):
        client.call(suite.models.functions.release(1))
    gov = accounts[9]
    models = client.deploy("ModelRegistry", gov.address, sender=accounts[0])
    with reverts("ZeroModelHash"):
        tx(client, models.functions.recordRelease(1, b"\0" * 32, "u"), gov)
    tx(client, models.functions.recordRelease(3, h("a"), ""), gov)
    tx(client, models.functions.recordRelease(4, h("b"), "uri-b"), gov)
    assert client.call(models.functions.releaseCount()) == 2
    assert client.call(models.functions.release(2))[:3] == (4, h("b"), "uri-b")
    with reverts("UnknownRelease", 0):
        client.call(models.functions.release(0))
    assert client.call(models.functions.governance()) == gov.address
