"""Token-holder governance end to end: delegate, propose, vote, queue, execute via the timelock."""

from __future__ import annotations

from .helpers import (
    ETHER,
    GOVERNANCE,
    b32,
    create_federation,
    delegate_all,
    events,
    govern,
    h,
    join,
    member_info,
    reverts,
    round_to_revealed,
    sorted_addresses,
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
    accepted = sorted_addresses(members[:1])
    receipt = tx(client, suite.jobs.functions.propose(job_id, r, h("m1"), accepted), members[0])
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
        (suite.jobs, suite.jobs.functions.setAcceptWindow(600)),
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
    assert client.call(suite.jobs.functions.acceptWindow()) == 600
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
