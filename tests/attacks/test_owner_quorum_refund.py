"""Attack 7: the job owner makes every round unfinalizable and takes its escrow back.

v1: the owner chose ``validatorQuorum``; a quorum above the number of members meant no round
could ever finalize, so each timed out after the members had trained, and the owner cancelled
the job and got the whole escrow back: free training.
v2: the owner no longer chooses a quorum. ``committeeSize`` must lie within the governed
bounds ``[committeeMin, committeeMax]`` (else BadCommitteeSize), and a committee larger than
the federation is clamped to all its members, whose thresholds are shares of the seated
weight, so a round can always be settled by the members themselves and the trainers paid.
"""

from __future__ import annotations

import pytest

from milon_app.chain.bindings import Param
from tests.attacks.common import World
from tests.unit.contracts.helpers import ETHER, create_job, h, reverts

MODEL = h("model-1")


@pytest.mark.parametrize("size", [1, 2, 32, 255])
def test_committee_size_outside_the_governed_bounds_is_refused(world: World, size: int):
    """The owner posts a job asking for a committee of ``size`` (one it controls, or one no
    federation can fill). ``createJob`` reverts BadCommitteeSize(size, 3, 31) and takes no
    escrow."""
    fed = world.federation(world.members[:3])
    p = world.milon.params()
    lo, hi = p[Param.COMMITTEE_MIN], p[Param.COMMITTEE_MAX]
    assert (lo, hi) == (3, 31)
    with reverts("BadCommitteeSize", size, lo, hi):
        create_job(world.client, world.suite, world.owner, fed, committeeSize=size)
    assert world.milon.job_count() == 0


@pytest.mark.parametrize("size", [0, 31])
def test_oversized_committee_is_clamped_and_trainers_are_paid(world: World, size: int):
    """The owner asks for the largest committee allowed (31; or the default, 7) over a
    federation of three, hoping, as in v1, that the round can never gather its votes so that
    it times out after the members trained and the owner cancels for a full refund. The
    committee is clamped to the three members; they vote and confirm; the round finalizes and
    every trainer is paid for its epochs and as a validator. The owner could not cancel while
    the round ran (RoundInProgress), and gets back only what the round did not pay out."""
    members = world.members[:3]
    fed = world.federation(members)
    job = world.job(fed, totalEpochs=12, epochsPerRound=6, committeeSize=size)
    r = world.start(job)
    assert set(world.committee(job, r)) == {m.address for m in members}
    assert world.milon.round(job, r).committee_count == 3
    world.accept(members, job, r)
    world.train(members, job, r)
    with reverts("RoundInProgress", job, r):
        world.milon.cancel_job(world.owner, job)
    before = world.stakes(fed, members)
    world.votes(members, job, r, members)
    world.confirm(members, job, r, MODEL)
    assert world.milon.round(job, r).finalized

    world.assert_honest_whole(fed, members, before, validators=members)
    paid = sum(world.credited().values()) + sum(world.validator_paid().values())
    assert sum(world.credited().values()) == 6 * ETHER * 9 // 10
    escrow = world.milon.job(job).escrow_remaining
    assert escrow == 12 * ETHER - paid
    owner_before = world.milon.balance(world.owner.address)
    world.milon.cancel_job(world.owner, job)  # between rounds: only the unspent escrow
    assert world.milon.balance(world.owner.address) - owner_before == escrow
    assert world.slashed() == {}
