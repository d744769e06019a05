"""Attack: claim the same rewards twice, or tamper with a member's reward balance from outside.

For gas, an account's reward balance slot stays open once it joined or was first credited: it
holds what the account can claim plus one, so a round's credit updates a non-zero slot (~5k
gas) instead of writing one from zero (22k), and a claim leaves the one behind. The registry
opens it (and the member's delivery record) through ``memberJoined`` as the member joins.
What that must not open:
- a second claim of rewards already paid (or of the one left behind): NothingToClaim;
- a claim by an account that was never credited: NothingToClaim;
- an outsider calling ``memberJoined`` to touch another member's records: NotRegistry.
Honest members claim exactly what they were credited, round after round, and the contract
pays out exactly that much.
"""

from __future__ import annotations

from tests.attacks.common import World
from tests.unit.contracts.helpers import balance, reverts, tx

MODEL_1 = bytes.fromhex("21" * 32)
MODEL_2 = bytes.fromhex("22" * 32)


def test_rewards_are_claimed_once_and_only_the_registry_opens_records(world: World):
    workers = world.members[0:3]
    attacker, outsider = workers[0], world.members[5]
    fed = world.federation(workers)
    held_before = balance(world.client, world.suite, world.suite.jobs.address)
    job = world.job(fed, totalEpochs=6, epochsPerRound=3)
    before = world.stakes(fed, workers)
    jobs = world.suite.jobs.functions

    # A member's slots are open from its join, with nothing to claim.
    assert world.claimable(attacker) == 0
    with reverts("NotRegistry", outsider.address):
        tx(world.client, jobs.memberJoined(fed, attacker.address), outsider)
    with reverts("NothingToClaim"):
        tx(world.client, jobs.claim(), attacker)

    r1 = world.honest_round(job, workers, MODEL_1)
    owed = world.claimable(attacker)
    assert owed == world.credited()[attacker.address.lower()] + world.validator_paid().get(
        attacker.address.lower(), 0
    )
    held = balance(world.client, world.suite, world.suite.jobs.address)
    mine = balance(world.client, world.suite, attacker.address)
    world.milon.claim(attacker)
    assert balance(world.client, world.suite, attacker.address) - mine == owed
    assert held - balance(world.client, world.suite, world.suite.jobs.address) == owed
    assert world.claimable(attacker) == 0
    with reverts("NothingToClaim"):  # the same rewards, or the one wei the slot keeps
        tx(world.client, jobs.claim(), attacker)
    with reverts("NothingToClaim"):  # never credited at all
        tx(world.client, jobs.claim(), outsider)

    # The next round credits the open slot again; the member claims that round's pay only.
    r2 = world.honest_round(job, workers, MODEL_2)
    assert r2 == r1 + 1
    again = world.claimable(attacker)
    assert again == world.credited(round=r2)[attacker.address.lower()] + world.validator_paid(
        round=r2
    ).get(attacker.address.lower(), 0)
    mine = balance(world.client, world.suite, attacker.address)
    world.milon.claim(attacker)
    assert balance(world.client, world.suite, attacker.address) - mine == again
    with reverts("NothingToClaim"):
        tx(world.client, jobs.claim(), attacker)

    # The others claim both rounds at once: the contract keeps nothing of the job's escrow.
    world.assert_honest_whole(fed, workers[1:], before)
    assert world.slashed() == {}
    for w in workers[1:]:
        world.milon.claim(w)
        assert world.claimable(w) == 0
    assert world.milon.job(job).escrow_remaining == 0  # completed: the rest went back
    assert balance(world.client, world.suite, world.suite.jobs.address) == held_before
