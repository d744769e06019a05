"""Attack: declare an absurd capacity for one job's model and take that job's epochs.

Capacity per job model (``FederationRegistry.setModelCapacity``) gives every member a new
lever: a declaration keyed by a job's ``modelSpecHash`` that the job's split reads instead of
the general capacity. A grabber keeps an ordinary general capacity (1, like everyone else's)
and declares ``2**64-1`` for the model of the job it wants, hoping to take all of that job's
epochs (and the pay), or to hold them hostage by not delivering.

What bounds it is what bounds the general capacity (``test_capacity_grab``): the per-member
cap (half the round, twice the equal share), the delivery record that scales whichever
capacity the split reads, the bench after a failed round, and the slashes for accepted work
that never comes. The delivery record is per federation, so a failure on one model also
shrinks the grabber's share of every other job.

Before capacity per model the lever did not exist (the declaration reverts: no such
function), so this test fails on the old contracts; it would also fail on contracts that
accepted the declaration but split by the general capacity, because it checks that the
declaration is in force (it lifts the grabber from the equal share, 3, to the cap, 6).
"""

from __future__ import annotations

from tests.attacks.common import World
from tests.attacks.test_capacity_grab import _grab_and_fail
from tests.unit.contracts.helpers import ETHER, h

U64_MAX = 2**64 - 1
ROUND = 12  # epochs per round; 4 members: equal share 3, cap min(2 x 3, 12 / 2) = 6
CNN = h("cnn-spec")  # the grabbed job's model
MLP = h("model-spec")  # another job's model, nobody declared for it


def test_huge_model_capacity_takes_at_most_the_cap_and_costs_the_grabber(world: World):
    """Four members, general capacity 4 each; the grabber (stake 5 against 10, so the honest
    seats keep more than 2/3 of each update's weight without it) declares 2**64-1 for the CNN
    job's model. Round 1: it gets the cap, 6 of 12 (not 12), never delivers: slashed as a
    no-show (10 %) and an absent validator (1 %), unpaid; the honest members get 2 each and
    are paid. Its delivery record drops to a quarter, federation-wide: the MLP job (no
    declaration) now offers it 1 of 12 instead of 3. Round 2 it sits out; round 3 its
    declaration, a quarter of 2**64-1, still hits the cap, and failing again costs it another
    10 % and 1 %: the cap bounds each grab, each failed grab costs stake, honest members are
    paid every round and never slashed."""
    grabber = world.members[0]
    honest = world.members[1:4]
    fed = world.federation([grabber, *honest], stakes=[5 * ETHER] + [10 * ETHER] * 3,
                           caps=[4, 4, 4, 4])  # fmt: skip
    job = world.job(fed, totalEpochs=3 * ROUND, epochsPerRound=ROUND, modelSpecHash=CNN)
    mlp = world.job(fed, totalEpochs=ROUND, epochsPerRound=ROUND, modelSpecHash=MLP)
    world.milon.set_model_capacity(grabber, fed, CNN, U64_MAX)
    assert world.milon.member(fed, grabber.address).capacity == 4  # looks like everyone
    assert world.milon.model_capacity(fed, grabber.address, CNN) == U64_MAX
    cands = world.milon.round_candidates(fed, CNN)
    assert [(c.capacity, c.per_model) for c in cands] == [(U64_MAX, True)] + [(4, False)] * 3
    before = world.stakes(fed, [grabber, *honest])
    a = grabber.address.lower()

    # The grabber takes the cap (6 of 12, the equal share being 3), accepts, never delivers
    # nor votes; the honest members train and settle the round without it.
    r1 = _grab_and_fail(world, job, grabber, honest)
    assert world.milon.assignment(job, r1, grabber.address).weight == U64_MAX  # in force
    assert world.slash_reasons(grabber) == ["missing-update", "absent-validator"]
    first = ETHER // 2 + (5 * ETHER - ETHER // 2) // 100
    assert world.slashed() == {a: first}
    assert world.credited(round=r1) == {m.address.lower(): 2 * 9 * ETHER // 10 for m in honest}
    assert world.milon.delivery_factor_bps(fed, grabber.address) == 2_500  # (0+2)/(6+2)

    # The record is the federation's: the other model's job offers it less than the equal share.
    r_mlp = world.start(mlp)
    assert world.milon.assignment(mlp, r_mlp, grabber.address).weight == 1  # 4 x 2/8
    assert [world.epochs(mlp, r_mlp, m) for m in [grabber, *honest]] == [1, 4, 4, 3]

    r2 = world.honest_round(job, honest, h("model-2"))  # benched: honest members share 12
    assert world.epochs(job, r2, grabber) == 0
    assert [world.epochs(job, r2, m) for m in honest] == [4, 4, 4]
    assert world.credited(round=r2) == {m.address.lower(): 4 * 9 * ETHER // 10 for m in honest}

    r3 = _grab_and_fail(world, job, grabber, honest)  # a quarter of 2**64-1: still the cap
    assert world.milon.assignment(job, r3, grabber.address).weight == U64_MAX * 2 // 8
    stake_after_r1 = 5 * ETHER - first
    second = stake_after_r1 // 10 + (stake_after_r1 - stake_after_r1 // 10) // 100
    assert world.slashed() == {a: first + second}
    assert world.credited(round=r3) == {m.address.lower(): 2 * 9 * ETHER // 10 for m in honest}
    assert world.milon.job(job).epochs_done == 6 + 12 + 6

    world.assert_honest_whole(fed, honest, before, validators=honest)
    assert world.stake(fed, grabber) == 5 * ETHER - first - second
    assert a not in world.credited()
    assert a not in world.validator_paid(round=r1) and a not in world.validator_paid(round=r3)
    # in round 2 it voted with the rest and holds that validator share, nothing for its grabs
    assert world.claimable(grabber) == world.validator_paid(round=r2).get(a, 0)
