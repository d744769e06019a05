"""Attack 1: one member finalizes a round on its own.

v1: a job's validator quorum defaulted to 1, so any active member's single proposal settled
a round: a member that joined after the reveals could propose the base model and have every
contributor slashed, and a contributor could accept only its own update and be paid alone.
v2: verdicts come from a stake-weighted committee drawn at ``startRound``; a late joiner is
not on it, and one seat's verdict or confirmation is below the participation and
confirmation thresholds, so the honest majority's verdict is what settles the round.
"""

from __future__ import annotations

from tests.attacks.common import World
from tests.unit.contracts.helpers import ETHER, h, reverts

JUNK = h("attacker-model")


def test_late_joiner_is_not_on_the_committee(world: World):
    """Three honest members train a round; after their reveals the attacker joins the
    federation and calls ``submitVerdict`` (rejecting everyone) and ``confirm`` (the base
    model), hoping, as in v1, that one call settles the round and slashes the contributors.
    Both revert NotOnCommittee, the round cannot be forced closed early, and the committee
    drawn at the start settles it: every honest member is paid, nobody is slashed."""
    honest = world.members[:3]
    attacker = world.members[3]
    fed, job, r, before = world.trained_round(honest)

    world.join(attacker, fed)
    assert attacker.address not in world.committee(job, r)
    base = world.milon.round(job, r).base_model_hash
    with reverts("NotOnCommittee", attacker.address):
        world.milon.submit_verdict(attacker, job, r, 0, bytes(3), 3)
    with reverts("NotOnCommittee", attacker.address):
        world.milon.confirm(attacker, job, r, base, 3)
    with reverts("VerdictsOpen"):
        world.milon.close_verdicts(attacker, job, 3)
    with reverts("RoundNotStuck"):
        world.milon.timeout_round(attacker, job, 3)

    world.votes(honest, job, r, honest)
    world.confirm(honest, job, r, h("model-1"))
    rd = world.milon.round(job, r)
    assert rd.finalized and rd.new_model_hash == h("model-1") and rd.epochs_trained == 10
    world.assert_honest_whole(fed, honest, before, validators=honest)
    assert world.claimable(attacker) == 0
    assert world.slashed() == {}


def test_contributor_cannot_settle_its_own_round(world: World):
    """A contributor on the committee reveals a junk update, votes to accept only its own
    update and confirms its own model hash, hoping (as with v1's quorum of 1) to be paid the
    round while the three honest contributors are slashed. Its single vote does not tally
    (``confirm`` reverts NotTallied, ``closeVerdicts`` VerdictsOpen), its confirmation is a
    quarter of the committee weight, below the 2/3 needed; the honest majority rejects the
    junk update and accepts the rest. The attacker is slashed for its rejected update and gets
    neither epochs' pay nor validators' pay; every honest member is paid and keeps its stake."""
    attacker = world.members[0]
    honest = world.members[1:4]
    fed = world.federation([attacker, *honest])
    job = world.job(fed, totalEpochs=12, epochsPerRound=12)
    r = world.start(job)
    everyone = [attacker, *honest]
    assert set(world.committee(job, r)) == {m.address for m in everyone}
    world.accept(everyone, job, r)
    world.train(everyone, job, r)
    before = world.stakes(fed, everyone)

    world.vote(attacker, job, r, [attacker])
    assert not world.milon.round(job, r).tallied
    with reverts("NotTallied"):
        world.milon.confirm(attacker, job, r, JUNK, 4)
    with reverts("VerdictsOpen"):
        world.milon.close_verdicts(attacker, job, 4)

    world.votes(honest, job, r, honest)  # the last vote tallies
    rd = world.milon.round(job, r)
    assert rd.tallied and not rd.finalized
    assert rd.accepted_bits == world.bits(job, r, honest)
    assert rd.rejected_bits == world.bits(job, r, [attacker])

    world.confirm([attacker], job, r, JUNK)
    assert not world.milon.round(job, r).finalized  # 10 of 40 weight confirms JUNK
    world.confirm(honest, job, r, h("model-1"))
    rd = world.milon.round(job, r)
    assert rd.finalized and rd.new_model_hash == h("model-1")

    world.assert_honest_whole(fed, honest, {k: before[k] for k in before}, validators=honest)
    a = attacker.address.lower()
    assert world.claimable(attacker) == 0
    assert a not in world.credited() and a not in world.validator_paid()
    assert world.slashed() == {a: ETHER}  # slashBps 10 % of its 10 MILON
    assert world.slash_reasons(attacker) == ["rejected-update"]
    assert world.stake(fed, attacker) == before[a] - ETHER
