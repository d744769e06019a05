"""Attack 5: replay an update hash that was already revealed in the job.

v1: ``reveal`` checked only the commitment, so a member could commit to and reveal an update
hash revealed before (its own from an earlier round, or another member's) and be paid again
for work it never did in the round.
v2: a hash revealed once in a job is refused ever after (UpdateReplayed); the replayer cannot
reveal, so it ends the round as a no-show and is slashed.
"""

from __future__ import annotations

import pytest
from eth_account.signers.local import LocalAccount

from tests.attacks.common import World
from tests.unit.contracts.helpers import ETHER, Update, h, make_update, reverts


def _replayer_is_a_noshow(
    world: World,
    fed: int,
    job: int,
    r: int,
    replayer: LocalAccount,
    honest: list[LocalAccount],
    stakes_before: dict[str, int],
) -> None:
    """After its refused reveal: the reveal window runs out, the committee (replayer
    included) accepts the honest updates, and the round settles."""
    world.after(job, "reveal_deadline")
    world.votes(honest, job, r, honest)
    world.vote(replayer, job, r, honest)
    world.confirm(honest, job, r, h(f"model-{r}"))
    rd = world.milon.round(job, r)
    assert rd.finalized and rd.accepted_bits == world.bits(job, r, honest)
    a = replayer.address.lower()
    assert a not in world.credited(round=r)
    assert world.slashed() == {a: ETHER}  # 10 % of 10 MILON
    assert world.slash_reasons(replayer) == ["missing-update"]
    world.assert_honest_whole(fed, honest, stakes_before, validators=honest)


@pytest.mark.parametrize("source", ["own", "another-members"])
def test_replay_of_an_earlier_rounds_update(world: World, source: str):
    """Four members train round 1 honestly. In round 2 the replayer commits (with a fresh
    salt) to a round-1 update hash, its own or another member's, both public since their
    reveal, hoping to be paid for round 2 without training. Its reveal reverts UpdateReplayed;
    it is slashed as a no-show and not credited for round 2, while the three honest members
    are paid for both rounds and keep their stakes."""
    replayer = world.members[0]
    honest = world.members[1:4]
    everyone = [replayer, *honest]
    fed = world.federation(everyone)
    job = world.job(fed, totalEpochs=8, epochsPerRound=4)
    r1 = world.honest_round(job, everyone, h("model-1"))
    before = world.stakes(fed, everyone)

    r2 = world.start(job)
    world.accept(everyone, job, r2)
    victim = replayer if source == "own" else honest[0]
    old = make_update(victim, job, r1).update_hash
    assert world.milon.assignment(job, r1, victim.address).update_hash == old  # revealed in r1
    fake = Update(replayer, old, 100, h("fresh-salt"))
    ups = [make_update(m, job, r2) for m in honest]
    world.commit([fake, *ups], job, r2)
    world.reveal(ups, job, r2)
    with reverts("UpdateReplayed", old):
        world.reveal([fake], job, r2)
    _replayer_is_a_noshow(world, fed, job, r2, replayer, honest, before)
    assert replayer.address.lower() in world.credited(round=r1)  # its honest round 1 is paid


def test_replay_of_another_members_update_in_the_same_round(world: World):
    """The replayer knows (shares a data set and seed with, or was leaked) an honest member's
    update of this round and commits to the same hash, hoping to be paid for its copy. The
    honest member reveals first; the copy's reveal reverts UpdateReplayed, so the replayer
    is a no-show and slashed, and the honest member alone is paid for the update."""
    replayer = world.members[0]
    honest = world.members[1:4]
    everyone = [replayer, *honest]
    fed = world.federation(everyone)
    job = world.job(fed, totalEpochs=8, epochsPerRound=8)
    r = world.start(job)
    world.accept(everyone, job, r)
    before = world.stakes(fed, everyone)
    ups = [make_update(m, job, r) for m in honest]
    copy = Update(replayer, ups[0].update_hash, ups[0].num_samples, h("replayer-salt"))
    world.commit([copy, *ups], job, r)
    world.reveal(ups, job, r)
    with reverts("UpdateReplayed", ups[0].update_hash):
        world.reveal([copy], job, r)
    _replayer_is_a_noshow(world, fed, job, r, replayer, honest, before)
