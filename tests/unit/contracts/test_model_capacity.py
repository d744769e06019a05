"""Capacity per job model: FederationRegistry.setModelCapacity and the split that reads it.

A member declares the capacity it measured on a job's model, keyed by the job's
``modelSpecHash`` (the spec fixes the layers and the batch size, so jobs with the same spec
share the measurement). ``startRound`` splits a job's epochs by the capacity each member
declared for that job's model, else by its general one, under the same per-member cap and
delivery record as before.
"""

from __future__ import annotations

import random

from .helpers import (
    ACCEPT_WINDOW,
    DELIVERY_PRIOR,
    ETHER,
    assignment,
    create_job,
    delivery_after,
    events,
    federation_with_members,
    h,
    reverts,
    round_info,
    round_split_reference,
    share_cap_reference,
    start_round,
    tx,
)

SPEC_A = h("model-spec")  # the helpers' default job spec
SPEC_B = h("cnn-spec")
NO_KEY = bytes(32)
U64_MAX = 2**64 - 1


def declare(client, suite, who, fed, key, capacity):
    return tx(client, suite.registry.functions.setModelCapacity(fed, key, capacity), who)


def model_capacity(client, suite, fed, who, key) -> int:
    return int(client.call(suite.registry.functions.modelCapacity(fed, who.address, key)))


def caps_for(client, suite, fed, key, limit=128) -> list[int]:
    return list(client.call(suite.registry.functions.roundCandidates(fed, key, limit))[1])


def epochs_of(client, suite, job_id, r, members):
    return [assignment(client, suite, job_id, r, m.address)[0] for m in members]


def test_a_declaration_is_an_active_members_own_and_zero_withdraws_it(client, suite, accounts):
    a, b, outsider = accounts[1:4]
    fed = federation_with_members(client, suite, [a, b], [5, 7]).fed_id
    receipt = declare(client, suite, a, fed, SPEC_A, 900)
    assert events(suite.registry, receipt, "ModelCapacitySet") == [
        {"fedId": fed, "account": a.address, "key": SPEC_A, "capacity": 900}
    ]
    assert model_capacity(client, suite, fed, a, SPEC_A) == 900
    assert model_capacity(client, suite, fed, b, SPEC_A) == 0  # per member
    assert model_capacity(client, suite, fed, a, SPEC_B) == 0  # per model
    member = client.call(suite.registry.functions.member(fed, a.address))
    assert member[1] == 5  # the general capacity is untouched
    assert client.call(suite.registry.functions.federation(fed))[6] == 12  # total: general

    with reverts("NotMember", fed, outsider.address):
        declare(client, suite, outsider, fed, SPEC_A, 1)
    with reverts("ZeroKey"):
        declare(client, suite, a, fed, NO_KEY, 1)
    with reverts("UnknownFederation", 99):
        declare(client, suite, a, 99, SPEC_A, 1)
    tx(client, suite.registry.functions.requestLeave(fed), b)
    with reverts("NotMember", fed, b.address):  # a leaving member declares nothing
        declare(client, suite, b, fed, SPEC_A, 1)

    declare(client, suite, a, fed, SPEC_A, 0)
    assert model_capacity(client, suite, fed, a, SPEC_A) == 0


def test_candidates_carry_the_models_capacity_else_the_general_one(client, suite, accounts):
    a, b, c = accounts[1:4]
    fed = federation_with_members(client, suite, [a, b, c], [5, 7, 9]).fed_id
    declare(client, suite, a, fed, SPEC_A, 50)
    declare(client, suite, c, fed, SPEC_A, 1)
    declare(client, suite, b, fed, SPEC_B, 30)
    accounts_a, caps_a, stakes_a = client.call(
        suite.registry.functions.roundCandidates(fed, SPEC_A, 9)
    )
    assert accounts_a == [a.address, b.address, c.address]
    assert caps_a == [50, 7, 1] and stakes_a == [10 * ETHER] * 3
    assert caps_for(client, suite, fed, SPEC_B) == [5, 30, 9]
    assert caps_for(client, suite, fed, NO_KEY) == [5, 7, 9]
    assert caps_for(client, suite, fed, SPEC_A, limit=2) == [50, 7]
    declare(client, suite, a, fed, SPEC_A, 0)  # withdrawn: the general one again
    assert caps_for(client, suite, fed, SPEC_A) == [5, 7, 1]


def test_each_job_is_split_by_the_capacity_for_its_own_model(client, suite, accounts):
    """A GPU that lost to the CPUs on the small benchmark (general capacity 1) but is 8x as
    fast on job B's model: job A (nobody measured its model) is split by the general
    capacities, jobs B and C (the same spec) by the per-model ones."""
    owner, members = accounts[0], accounts[1:5]
    general = [1, 4, 2, 2]
    fed = federation_with_members(client, suite, members, general).fed_id
    declare(client, suite, members[0], fed, SPEC_B, 8)
    declare(client, suite, members[1], fed, SPEC_B, 1)
    on_b = [8, 1, 2, 2]
    jobs = {
        name: create_job(
            client, suite, owner, fed, totalEpochs=12, epochsPerRound=12, modelSpecHash=spec
        )
        for name, spec in (("A", SPEC_A), ("B", SPEC_B), ("C", SPEC_B))
    }
    for name, weights in (("A", general), ("B", on_b), ("C", on_b)):
        job_id = jobs[name]
        r = start_round(client, suite, job_id, owner)
        assert epochs_of(client, suite, job_id, r, members) == round_split_reference(12, weights)
        got = [assignment(client, suite, job_id, r, m.address)[2] for m in members]
        assert got == weights, name  # the weight the split used: the capacity it read
    assert round_split_reference(12, general) == [1, 5, 3, 3]
    assert round_split_reference(12, on_b) == [6, 1, 3, 2]


def test_a_huge_model_capacity_takes_at_most_the_cap(client, suite, accounts):
    owner, members = accounts[0], accounts[1:4]
    fed = federation_with_members(client, suite, members, [1, 1, 1]).fed_id
    declare(client, suite, members[0], fed, SPEC_A, U64_MAX)
    job_id = create_job(client, suite, owner, fed, totalEpochs=9, epochsPerRound=9)
    r = start_round(client, suite, job_id, owner)
    assert round_info(client, suite, job_id, r)["shareCap"] == share_cap_reference(9, [1] * 3) == 5
    assert epochs_of(client, suite, job_id, r, members) == [5, 2, 2]
    assert assignment(client, suite, job_id, r, members[0].address)[2] == U64_MAX


def test_split_matches_the_reference_with_model_capacities(client, suite, accounts):
    """Random general capacities, random per-model declarations (some withdrawn again), jobs
    on two models in turn; every round lapses, so the delivery records (per federation, shared
    by every model) fall and scale whichever capacity the next split reads."""
    rng = random.Random(16)
    owner, members = accounts[0], accounts[1:7]
    general = [rng.randint(1, 40) for _ in members]
    fed = federation_with_members(client, suite, members, general).fed_id
    declared: dict[bytes, list[int]] = {SPEC_A: [0] * len(members), SPEC_B: [0] * len(members)}
    records = [(0, 0)] * len(members)  # (taken, delivered)
    for step, epochs in enumerate((5, 13, 7, 60)):
        key = (SPEC_A, SPEC_B)[step % 2]
        for i, m in enumerate(members):
            if rng.random() < 0.5:
                value = rng.choice([0, rng.randint(1, 400)])
                declare(client, suite, m, fed, key, value)
                declared[key][i] = value
        caps = [d or g for d, g in zip(declared[key], general, strict=True)]
        job_id = create_job(client, suite, owner, fed, totalEpochs=epochs, epochsPerRound=epochs,
                            modelSpecHash=key)  # fmt: skip
        r = start_round(client, suite, job_id, owner)
        weights = [
            max(1, c * (d + DELIVERY_PRIOR) // (t + DELIVERY_PRIOR))
            for c, (t, d) in zip(caps, records, strict=True)
        ]
        got = epochs_of(client, suite, job_id, r, members)
        assert got == round_split_reference(epochs, weights), (epochs, weights)
        for i, m in enumerate(members):
            if got[i]:
                assert assignment(client, suite, job_id, r, m.address)[2] == weights[i]
        client.increase_time(ACCEPT_WINDOW + 1)
        tx(client, suite.jobs.functions.timeoutRound(job_id), owner)  # all lapse
        records = [delivery_after(rec, e, 0) if e else rec
                   for rec, e in zip(records, got, strict=True)]  # fmt: skip
