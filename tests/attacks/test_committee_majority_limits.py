"""What a colluding committee *majority* can and cannot do: the protocol's stated limit.

v2 assumes more than half of a committee's weight is honest (as proof-of-stake chains do).
A coalition holding more than that can decide verdicts: reject honest updates (their
authors are slashed ``slashBps``) and accept junk. These tests pin the damage it can do to
what docs/threat-model.md says: it cannot pay a member that did not reveal, pay more than
the escrowed reward per accepted epoch, finalize with less than the confirmation share of
the committee's weight, or take more than ``slashBps`` of anyone's stake in a round.
"""

from __future__ import annotations

from tests.attacks.common import World
from tests.unit.contracts.helpers import ETHER, h, make_update, reverts

MODEL = h("model-1")


def _setup(world: World) -> tuple[int, int, int, list, list]:
    """Two colluders holding 60 of 90 committee weight, three honest members with 10 each."""
    bad = world.members[:2]
    honest = world.members[2:5]
    fed = world.federation([*bad, *honest], stakes=[30 * ETHER, 30 * ETHER] + [10 * ETHER] * 3)
    job = world.job(fed, totalEpochs=10, epochsPerRound=10)
    r = world.start(job)
    assert len(world.committee(job, r)) == 5  # every member sits (fewer than the default 7)
    return fed, job, r, bad, honest


def test_a_colluding_majority_can_reject_honest_work_but_only_at_the_slash_rate(world: World):
    fed, job, r, bad, honest = _setup(world)
    everyone = [*bad, *honest]
    before = world.stakes(fed, everyone)
    world.accept(everyone, job, r)
    world.train(everyone, job, r)
    world.votes(bad, job, r, bad)  # the majority accepts only its own
    world.votes(honest, job, r, everyone)
    world.confirm(bad, job, r, MODEL)
    rd = world.milon.round(job, r)
    assert rd.finalized and rd.accepted_bits == world.bits(job, r, bad)
    slash_bps = world.milon.suite.client.call(world.suite.registry.functions.slashBps())
    for m in honest:  # the stated limit: a rejected honest member loses slashBps, no more
        lost = before[m.address.lower()] - world.stake(fed, m)
        assert lost == before[m.address.lower()] * slash_bps // 10_000
    credited = world.credited()
    reward = 2 * ETHER  # 2 epochs each, 1 MILON per epoch
    for m in bad:  # and it is paid for its own epochs at the job's rate, never more
        assert credited[m.address.lower()] <= reward


def test_a_majority_cannot_pay_a_member_that_did_not_reveal(world: World):
    _, job, r, bad, honest = _setup(world)
    everyone = [*bad, *honest]
    world.accept(everyone, job, r)
    ups = [make_update(m, job, r) for m in everyone]
    world.commit(ups, job, r)
    world.reveal(ups[1:], job, r)  # bad[0] committed but never reveals
    world.after(job, "reveal_deadline")
    with reverts("VerdictOnUnrevealed"):
        world.vote(bad[1], job, r, everyone)  # a bit on an unrevealed update is refused


def test_less_than_the_confirmation_share_cannot_finalize(world: World):
    _, job, r, bad, honest = _setup(world)
    everyone = [*bad, *honest]
    world.accept(everyone, job, r)
    world.train(everyone, job, r)
    world.votes(everyone, job, r, everyone)
    world.confirm(bad[:1], job, r, h("junk-model"))  # 30 of 90: below 2/3
    assert not world.milon.round(job, r).finalized
    world.confirm(honest, job, r, MODEL)  # 30 more, for another hash: still below
    assert not world.milon.round(job, r).finalized
