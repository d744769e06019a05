"""Attack 14 (contract side): a member that asks to leave mid-round loses the work it took on.

The fault: a member that accepted epochs and then asked to leave could be treated as gone,
its update refused, and be slashed as a no-show for work it was still doing. (The node
side, that a leaving node finishes the rounds it accepted, is tested elsewhere.)
v2: ``requestLeave`` only takes the member out of new work; commit, reveal, its committee
seat and settlement of the round it accepted are unaffected, and ``withdrawStake`` waits
for that round to close (``pendingWork``) and the cooldown fixed at the request.
"""

from __future__ import annotations

from tests.attacks.common import World
from tests.unit.contracts.helpers import ETHER, h, reverts

MODEL = h("model-1")


def test_leaver_finishes_its_accepted_work_and_is_paid(world: World):
    """L accepts its 2 epochs, then asks to leave before committing. It still commits,
    reveals, votes and confirms; the committee accepts its update with the others'. L is paid
    for its epochs and as a validator, nobody is slashed, L could not withdraw while the
    round was open (WorkPending) but withdraws its whole stake once it closed, and it is not
    in the job's next round."""
    leaver = world.members[0]
    honest = world.members[1:4]
    everyone = [leaver, *honest]
    fed = world.federation(everyone)
    job = world.job(fed, totalEpochs=16, epochsPerRound=8)
    r = world.start(job)
    world.accept(everyone, job, r)
    world.milon.request_leave(leaver, fed)
    assert not world.milon.member(fed, leaver.address).active
    before = world.stakes(fed, everyone)

    world.train(everyone, job, r)  # the leaver commits and reveals like the others
    world.client.increase_time(61)  # past the cooldown fixed at the request
    with reverts("WorkPending", fed, leaver.address, 2):  # its assignment and its seat
        world.milon.withdraw_stake(leaver, fed)
    world.votes(everyone, job, r, everyone)
    assert world.confirm(everyone, job, r, MODEL) == everyone[:3]  # 3 of 4 seats finalize
    rd = world.milon.round(job, r)
    assert rd.finalized and rd.accepted_bits == world.bits(job, r, everyone)

    world.assert_honest_whole(fed, everyone, before, validators=everyone[:3])
    assert world.credited()[leaver.address.lower()] == 2 * ETHER * 9 // 10
    assert world.slashed() == {}
    owed = world.claimable(leaver)
    balance = world.milon.balance(leaver.address)
    world.milon.claim(leaver)
    world.milon.withdraw_stake(leaver, fed)
    assert world.milon.balance(leaver.address) - balance == owed + 10 * ETHER

    r2 = world.start(job)
    assert leaver.address not in world.round_members(job, r2)
    assert leaver.address not in world.committee(job, r2)
