"""Attack 3: a contributor on the committee approves its own update and rejects the rest.

v1: a contributor's proposal listed the updates it accepted; with the default quorum of 1 it
listed only itself, collected the round's escrow for its epochs and had the other
contributors slashed.
v2: the tally of an update leaves its author's seat out (both the vote and the weight), so
self-approval counts for nothing; rejecting the honest updates against the majority costs the
attacker its validators' pay, and its update is paid only if the others accept it.
"""

from __future__ import annotations

from tests.attacks.common import World
from tests.unit.contracts.helpers import ETHER, h, reverts

MODEL = h("honest-aggregate")


def test_self_approval_of_junk_is_rejected_and_slashed(world: World):
    """Contributor C (one of four equal seats) reveals junk, votes to accept only its own
    update and then confirms the honest model like everyone else, hoping its own vote carries
    its update and sinks the others. Its update is judged by the three other seats only, all
    of which reject it: C is slashed (rejected-update), credited nothing and, having disagreed
    with the outcome on every update it judged, gets no validators' pay; ``claim`` has nothing
    for it. The three honest updates are accepted 2:1 without their authors' seats and paid."""
    c = world.members[0]
    honest = world.members[1:4]
    everyone = [c, *honest]
    fed, job, r, before = world.trained_round(everyone, totalEpochs=12, epochsPerRound=12)

    world.vote(c, job, r, [c])
    world.votes(honest, job, r, honest)
    rd = world.milon.round(job, r)
    assert rd.accepted_bits == world.bits(job, r, honest)
    assert rd.rejected_bits == world.bits(job, r, [c])
    confirmed = world.confirm([c, *honest], job, r, MODEL)  # 3 of 4 seats reach 2/3
    assert confirmed == [c, *honest[:2]] and world.milon.round(job, r).finalized

    world.assert_honest_whole(fed, honest, before, validators=honest[:2])
    a = c.address.lower()
    assert a not in world.credited() and a not in world.validator_paid()
    assert world.slashed() == {a: ETHER}
    assert world.slash_reasons(c) == ["rejected-update"]
    assert world.claimable(c) == 0
    with reverts("NothingToClaim"):
        world.milon.claim(c)


def test_own_vote_does_not_break_a_tie(world: World):
    """Five equal seats; the honest four split 2:2 on C's update (honest validators may
    disagree on a borderline update). C votes for its own update and against all four honest
    ones, hoping its seat turns the 2:2 into a 3:2 acceptance and its rejections slash the
    others. Its seat is left out of its own update's tally, so the update stays undecided:
    C is neither paid for it nor slashed, collects no validators' pay (it disagreed with every
    decided outcome), and the honest updates are accepted 3:1 and paid."""
    c = world.members[0]
    honest = world.members[1:5]
    everyone = [c, *honest]
    fed, job, r, before = world.trained_round(everyone, totalEpochs=10, epochsPerRound=10)

    world.vote(c, job, r, [c])
    assert world.milon.seat(job, r, c.address).verdict == world.bits(job, r, [c])
    world.votes(honest[:2], job, r, everyone)  # these two accept C's update
    world.votes(honest[2:], job, r, honest)  # these two reject it
    rd = world.milon.round(job, r)
    c_bit = world.bits(job, r, [c])
    assert rd.accepted_bits == world.bits(job, r, honest)
    assert rd.rejected_bits == 0 and rd.accepted_bits & c_bit == 0  # undecided: 2 against 2
    confirmed = world.confirm(everyone, job, r, MODEL)  # 4 of 5 seats reach 2/3
    assert confirmed == everyone[:4]
    rd = world.milon.round(job, r)
    assert rd.finalized and rd.epochs_trained == 8  # C's 2 epochs were not paid for

    world.assert_honest_whole(fed, honest, before, validators=honest[:3])
    a = c.address.lower()
    assert a not in world.credited() and a not in world.validator_paid()
    assert world.claimable(c) == 0
    assert world.slashed() == {}
    assert world.stake(fed, c) == before[a]
    assert world.milon.pending_work(fed, c.address) == 0
