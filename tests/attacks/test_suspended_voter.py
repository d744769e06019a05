"""Attack 11: keep working and voting after being slashed below the minimum stake.

v1: a slash only lowered the stake; a member left below its federation's minimum stayed
active, kept being assigned epochs and kept proposing verdicts, with less and less at stake.
v2: a member slashed below the minimum is suspended: out of the active list, so it is neither
assigned epochs nor drawn on committees, and ``accept`` refuses it (NotEligible), until
``addStake`` brings it back to the minimum.
"""

from __future__ import annotations

from eth_account.signers.local import LocalAccount

from tests.attacks.common import World
from tests.unit.contracts.helpers import ETHER, fund, h, make_update, reverts

MIN = 10 * ETHER


def _federation(world: World) -> tuple[int, LocalAccount, list[LocalAccount]]:
    """M stakes exactly the minimum (10); the honest members 20 each."""
    m, honest = world.members[0], world.members[1:4]
    fed = world.federation([m, *honest], stakes=[MIN] + [2 * MIN] * 3, min_stake=MIN)
    return fed, m, honest


def _noshow_round(world: World, job: int, m: LocalAccount, honest: list[LocalAccount]) -> int:
    """M accepts and never delivers but votes with the honest majority; the round settles
    and M is slashed 10 % as a no-show: 9 MILON, below the minimum."""
    r = world.start(job)
    world.accept([m, *honest], job, r)
    ups = [make_update(x, job, r) for x in honest]
    world.commit(ups, job, r)
    world.after(job, "commit_deadline")
    world.reveal(ups, job, r)
    world.votes([*honest, m], job, r, honest)
    world.confirm(honest, job, r, h(f"model-{r}"))
    assert world.milon.round(job, r).finalized
    return r


def test_member_slashed_below_minimum_is_suspended_until_it_tops_up(world: World):
    """M (stake = the 10 MILON minimum) takes epochs, never delivers, and keeps voting, hoping
    to stay on committees and keep taking work with 9 MILON at stake. After its no-show slash
    it is suspended: the next round neither assigns it epochs nor seats it (``submitVerdict``
    reverts NotOnCommittee, ``accept`` NotAssigned) and the honest members share and are paid
    for all of it. Adding 1 MILON reinstates M, which is assigned and seated again."""
    fed, m, honest = _federation(world)
    job = world.job(fed, totalEpochs=24, epochsPerRound=8)
    before = world.stakes(fed, honest)

    _noshow_round(world, job, m, honest)
    info = world.milon.member(fed, m.address)
    assert info.stake == 9 * ETHER and info.suspended and not info.active
    (ev,) = world.logs(world.suite.registry, "MemberSuspended")
    assert (ev["account"], ev["stake"], ev["minStake"]) == (m.address, 9 * ETHER, MIN)
    assert m.address not in world.milon.active_members(fed)

    r2 = world.start(job)
    assert m.address not in world.round_members(job, r2)
    assert m.address not in world.committee(job, r2)
    with reverts("NotOnCommittee", m.address):
        world.vote(m, job, r2, [])
    with reverts("NotAssigned", m.address):
        world.milon.accept(m, job, r2)
    world.accept(honest, job, r2)
    world.train(honest, job, r2)
    world.votes(honest, job, r2, honest)
    world.confirm(honest, job, r2, h("model-2"))
    assert world.milon.round(job, r2).epochs_trained == 8
    world.assert_honest_whole(fed, honest, before, validators=honest)
    a = m.address.lower()
    assert a not in world.credited() and a not in world.validator_paid()
    assert world.claimable(m) == 0

    fund(world.client, world.suite, m, ETHER)
    world.milon.add_stake(m, fed, ETHER)
    info = world.milon.member(fed, m.address)
    assert info.active and not info.suspended and info.stake == MIN
    r3 = world.start(job)
    assert world.epochs(job, r3, m) > 0 and m.address in world.committee(job, r3)


def test_member_suspended_mid_round_cannot_accept(world: World):
    """M is assigned epochs in job B's round while it is still in good standing; before it
    answers, its no-show in job A's round (same federation) suspends it. It then tries to
    accept job B's epochs anyway: NotEligible(M). Its assignment lapses, its epochs go to
    the honest members, who are paid for all of job B's round."""
    fed, m, honest = _federation(world)
    job_a = world.job(fed, totalEpochs=8, epochsPerRound=8)
    job_b = world.job(fed, totalEpochs=8, epochsPerRound=8)
    before = world.stakes(fed, honest)

    ra = world.start(job_a)
    world.accept([m, *honest], job_a, ra)
    ups = [make_update(x, job_a, ra) for x in honest]
    world.commit(ups, job_a, ra)
    world.after(job_a, "commit_deadline")
    rb = world.start(job_b)  # M is still active: assigned and seated in job B
    assert world.epochs(job_b, rb, m) == 2
    world.reveal(ups, job_a, ra)
    world.votes([*honest, m], job_a, ra, honest)
    world.confirm(honest, job_a, ra, h("model-a"))
    assert world.milon.member(fed, m.address).suspended

    with reverts("NotEligible", m.address):
        world.milon.accept(m, job_b, rb)
    world.accept(honest, job_b, rb)
    world.close_acceptance(job_b)
    assert sum(world.epochs(job_b, rb, x) for x in honest) == 8
    world.train(honest, job_b, rb)
    world.votes(honest, job_b, rb, honest)
    world.close_verdicts(job_b)  # M's seat, drawn before its suspension, stays empty
    world.confirm(honest, job_b, rb, h("model-b"))
    assert world.milon.round(job_b, rb).epochs_trained == 8
    world.assert_honest_whole(fed, honest, before, validators=honest)
    assert world.claimable(m) == 0
    assert world.slash_reasons(m) == ["missing-update", "lapsed-assignment", "absent-validator"]
