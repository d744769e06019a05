"""Attack 2: sybils that joined late try to get the honest contributors slashed.

v1: any active member's proposal counted as a validator vote, so a sybil that joined late
(or one of several cheap sybils) proposed the base model with nobody accepted: every
honest contributor was slashed and the round settled on the sybil's word.
v2: the committee votes by stake, per update, the author's seat left out; with an honest
stake majority on the committee the sybils' rejections and their base-model confirmation
are outvoted, their own junk updates are rejected, and they earn nothing as validators.
"""

from __future__ import annotations

import pytest

from tests.attacks.common import World
from tests.unit.contracts.helpers import ETHER, h

MODEL = h("honest-aggregate")


@pytest.mark.parametrize(
    "sybil_stakes",
    [
        pytest.param([12 * ETHER], id="one-late-sybil"),
        pytest.param([ETHER, ETHER, 2 * ETHER], id="three-low-stake-sybils"),
    ],
)
def test_sybils_cannot_reject_the_honest_majority(world: World, sybil_stakes: list[int]):
    """Three honest members (10 MILON each) form a federation and the job is posted; then
    the sybils join (before the round starts: v2 draws the committee at ``startRound``, so a
    sybil joining later would not even be seated). The sybils take their epochs and reveal
    junk, then vote to accept only each other's junk and reject every honest update, and
    confirm the base model, hoping the honest contributors are slashed and the sybils paid.
    The honest 30 MILON outweigh the sybils on every update: honest updates are accepted and
    paid, nobody honest is slashed, the sybils' updates are rejected (they are slashed),
    their base-model confirmation is ignored and they get no validators' pay."""
    honest = world.members[:3]
    sybils = world.members[3 : 3 + len(sybil_stakes)]
    fed = world.federation(honest)
    job = world.job(fed, totalEpochs=12, epochsPerRound=12)
    for s, stake in zip(sybils, sybil_stakes, strict=True):
        world.join(s, fed, stake=stake)  # late: after the job was posted
    r = world.start(job)
    everyone = [*honest, *sybils]
    assert set(world.committee(job, r)) == {m.address for m in everyone}
    world.accept(everyone, job, r)
    world.train(everyone, job, r)
    before = world.stakes(fed, everyone)

    world.votes(sybils, job, r, sybils)  # reject every honest update, accept the junk
    world.votes(honest, job, r, honest)  # the last vote tallies
    rd = world.milon.round(job, r)
    assert rd.accepted_bits == world.bits(job, r, honest)
    assert rd.rejected_bits == world.bits(job, r, sybils)

    world.confirm(sybils, job, r, rd.base_model_hash)  # "nothing was accepted"
    assert not world.milon.round(job, r).finalized
    world.confirm(honest, job, r, MODEL)
    rd = world.milon.round(job, r)
    assert rd.finalized and rd.new_model_hash == MODEL

    world.assert_honest_whole(fed, honest, before, validators=honest)
    credited, paid, slashed = world.credited(), world.validator_paid(), world.slashed()
    for s in sybils:
        a = s.address.lower()
        assert a not in credited and a not in paid and world.claimable(s) == 0
        assert slashed[a] == before[a] // 10  # slashBps: 10 % of its stake
        assert world.slash_reasons(s) == ["rejected-update"]
    assert set(slashed) == {s.address.lower() for s in sybils}
