"""Attack 4: declare an absurd capacity and take the whole round.

v1: epochs were split by declared capacity alone, so ``updateMember(capacity=2**64-1)`` took
every epoch of the next round: the honest members got nothing to train, and a grabber that
then did not deliver stalled the job's progress for the round.
v2: a member's share is capped (at most ``maxShareBps`` of the round, default half, and
``maxShareOfEqualBps`` of the equal share, default 2x), its weight is scaled by its
delivery record, and a member slashed in the job's previous round sits the next one out.
"""

from __future__ import annotations

from eth_account.signers.local import LocalAccount

from tests.attacks.common import World
from tests.unit.contracts.helpers import ETHER, h, make_update

U64_MAX = 2**64 - 1
ROUND = 12  # epochs per round; 4 members: equal share 3, cap min(2 x 3, 12 / 2) = 6


def _grab_and_fail(
    world: World, job: int, attacker: LocalAccount, honest: list[LocalAccount]
) -> int:
    """The attacker takes its (capped) share, accepts it and never delivers; it does not
    vote either. The honest members train and settle the round without it."""
    r = world.start(job)
    assert world.milon.round(job, r).share_cap == 6
    assert world.epochs(job, r, attacker) == 6  # the cap, not 12
    assert [world.epochs(job, r, m) for m in honest] == [2, 2, 2]
    world.accept([attacker, *honest], job, r)
    ups = [make_update(m, job, r) for m in honest]
    world.commit(ups, job, r)
    world.after(job, "commit_deadline")  # the attacker never commits
    world.reveal(ups, job, r)
    world.votes(honest, job, r, honest)
    world.close_verdicts(job)  # the attacker's seat never votes
    world.confirm(honest, job, r, h(f"model-{r}"))
    rd = world.milon.round(job, r)
    assert rd.finalized and rd.epochs_trained == 6
    return r


def test_max_capacity_takes_at_most_the_cap(world: World):
    """A member sets its capacity to 2**64-1 before a round of 12 epochs in a federation of
    four, hoping to take all 12, then accepts and never delivers (its stake is 5 MILON, so the
    honest seats keep more than 2/3 of each update's weight while it stays away: see
    test_validator_accountability for what exactly 2/3 does). v2 gives it
    6 (half the round, twice the equal share); the three honest members get 2 each, train,
    and are paid; the attacker is slashed as a no-show (10 %) and for its absent vote (1 %),
    its delivery record drops to a quarter and it sits out the next round, whose 12 epochs
    the honest members share 4 each and are paid for. What it earns afterwards is only its
    share of the validators' pool for honest votes in round 2."""
    attacker = world.members[0]
    honest = world.members[1:4]
    fed = world.federation([attacker, *honest], stakes=[5 * ETHER] + [10 * ETHER] * 3)
    job = world.job(fed, totalEpochs=3 * ROUND, epochsPerRound=ROUND)
    world.milon.update_member(attacker, fed, U64_MAX, "peer")
    before = world.stakes(fed, [attacker, *honest])

    r1 = _grab_and_fail(world, job, attacker, honest)
    a = attacker.address.lower()
    assert world.slash_reasons(attacker) == ["missing-update", "absent-validator"]
    assert world.slashed() == {a: ETHER // 2 + (5 * ETHER - ETHER // 2) // 100}
    assert world.credited(round=r1) == {m.address.lower(): 2 * 9 * ETHER // 10 for m in honest}
    assert world.milon.delivery_factor_bps(fed, attacker.address) == 2_500  # (0+2)/(6+2)

    r2 = world.start(job)  # the attacker sits this one out
    assert world.epochs(job, r2, attacker) == 0
    assert attacker.address not in world.round_members(job, r2)
    assert [world.epochs(job, r2, m) for m in honest] == [4, 4, 4]
    world.accept(honest, job, r2)
    world.train(honest, job, r2)
    world.votes(honest, job, r2, honest)
    world.vote(attacker, job, r2, honest)  # it still holds a seat, and votes with the rest
    world.confirm(honest, job, r2, h("model-2"))
    assert world.milon.round(job, r2).finalized
    assert world.credited(round=r2) == {m.address.lower(): 4 * 9 * ETHER // 10 for m in honest}

    world.assert_honest_whole(fed, honest, before, validators=honest)
    assert a not in world.credited() and a not in world.validator_paid(round=r1)
    # in round 2 it did an honest validator's job (voted with the majority) and is paid for
    # that alone: a fraction of the validators' pool, nothing for the epochs it grabbed
    assert world.claimable(attacker) == world.validator_paid(round=r2).get(a, 0)


def test_failed_delivery_shrinks_the_next_share(world: World):
    """The same grab with a capacity just big enough to hit the cap (3 against 1, 1, 1): the
    attacker takes 6 of 12 epochs and fails them. Its delivery record (0 delivered of 6)
    divides its weight by four, so after sitting out round 2 it is offered the equal share,
    3, in round 3 instead of 6: failing to deliver shrinks what it is offered next."""
    attacker = world.members[0]
    honest = world.members[1:4]
    fed = world.federation(
        [attacker, *honest], stakes=[5 * ETHER] + [10 * ETHER] * 3, caps=[3, 1, 1, 1]
    )
    job = world.job(fed, totalEpochs=3 * ROUND, epochsPerRound=ROUND)
    before = world.stakes(fed, honest)

    r1 = _grab_and_fail(world, job, attacker, honest)
    r2 = world.honest_round(job, honest, h("model-2"))  # the attacker is benched
    r3 = world.start(job)
    assert world.milon.assignment(job, r3, attacker.address).weight == 1  # 3 x 2/8, floored
    assert [world.epochs(job, r3, m) for m in [attacker, *honest]] == [3, 3, 3, 3]
    world.assert_honest_whole(fed, honest, before, validators=honest)
    a = attacker.address.lower()
    assert a not in world.credited() and a not in world.validator_paid(round=r1)
    # what it holds is at most its validator share of round 2, where it voted like the rest
    assert world.claimable(attacker) == world.validator_paid(round=r2).get(a, 0)
