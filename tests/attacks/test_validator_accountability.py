"""Attack 13: validators that answer for nothing.

v1: a validator's only act was a proposal; one that never proposed, or proposed against the
others, lost nothing, and honest validation earned nothing either.
v2: a committee member that does not vote (when there is something to judge) loses
``livenessBps`` (1 %) of its stake; one that agrees with the outcome on less than
``agreementBps`` (80 %) of the decided updates (its own left out) or does not confirm the
final model is not paid; the validators' pool (``validatorShareBps``, 10 % of every accepted
epoch's reward) goes to the rest by seat weight.
"""

from __future__ import annotations

from tests.attacks.common import World
from tests.unit.contracts.helpers import ETHER, h

MODEL = h("model-1")


def test_absent_and_contrarian_validators_are_not_paid(world: World):
    """Five equal seats, every member also a contributor (2 epochs each). A never votes,
    hoping to be paid for its update while skipping validation; C votes against two honest
    updates out of the four it judges (50 % agreement), hoping to sink them at no cost, then
    confirms the final model. Every update is accepted (the honest seats carry them without
    their authors); A loses 1 % of its stake (absent-validator); C keeps its stake but gets
    none of the pool; the three honest validators share the whole 1 MILON pool equally, and
    what rounding leaves goes back to the owner with the escrow."""
    honest = world.members[:3]
    absent, contrarian = world.members[3], world.members[4]
    everyone = [*honest, absent, contrarian]
    fed, job, r, before = world.trained_round(everyone, totalEpochs=10, epochsPerRound=10)

    world.votes(honest, job, r, everyone)
    world.vote(contrarian, job, r, [honest[2], absent, contrarian])  # rejects honest[0], [1]
    world.close_verdicts(job)
    rd = world.milon.round(job, r)
    assert rd.accepted_bits == world.bits(job, r, everyone) and rd.rejected_bits == 0
    owner_before = world.milon.balance(world.owner.address)
    assert world.confirm([*honest, contrarian], job, r, MODEL) == [*honest, contrarian]
    rd = world.milon.round(job, r)
    assert rd.finalized and world.milon.job(job).status.name == "COMPLETED"

    world.assert_honest_whole(fed, honest, before, validators=honest)
    pool = 10 * ETHER // 10
    assert world.validator_paid() == {m.address.lower(): pool // 3 for m in honest}
    assert world.credited() == {m.address.lower(): 2 * ETHER * 9 // 10 for m in everyone}
    assert world.slashed() == {absent.address.lower(): 10 * ETHER // 100}
    assert world.slash_reasons(absent) == ["absent-validator"]
    assert world.stake(fed, contrarian) == before[contrarian.address.lower()]
    assert world.milon.balance(world.owner.address) - owner_before == pool - 3 * (pool // 3)


def test_a_quarter_absent_does_not_block_the_honest_updates(world: World):
    """Four equal seats; member A contributes but never votes, hoping its absence leaves its
    rivals' updates undecided (unpaid) while its own is decided by the three who voted. Per
    docs/protocol.md an update is undecided only when less than 2/3 of the committee weight
    (author excluded) voted on it; here exactly 2/3 did on each honest update, so all four
    updates should be accepted and all four contributors paid (A losing only its 1 %)."""
    honest = world.members[:3]
    absent = world.members[3]
    everyone = [*honest, absent]
    fed, job, r, before = world.trained_round(everyone, totalEpochs=12, epochsPerRound=12)
    world.votes(honest, job, r, everyone)
    world.close_verdicts(job)
    rd = world.milon.round(job, r)
    # observed: accepted_bits holds only A's update; the three honest ones are undecided
    assert rd.accepted_bits == world.bits(job, r, everyone)
    world.confirm(honest, job, r, MODEL)
    world.assert_honest_whole(fed, honest, before, validators=honest)


def test_two_of_three_confirmations_finalize(world: World):
    """Three equal seats, all contribute and vote to accept everything; W then withholds its
    confirmation, hoping the round times out so nobody is paid (at no cost to W: only
    absence from voting is penalised). Per docs/protocol.md the round finalizes once 2/3 of
    the committee weight confirms one hash, which the two others provide."""
    honest = world.members[:2]
    withholder = world.members[2]
    everyone = [*honest, withholder]
    fed, job, r, before = world.trained_round(everyone, totalEpochs=9, epochsPerRound=9)
    world.votes(everyone, job, r, everyone)
    world.confirm(honest, job, r, MODEL)
    # observed: 20 of 30 weight is below 6,667 bps, the round stays open until it times out
    assert world.milon.round(job, r).finalized
    world.assert_honest_whole(fed, honest, before, validators=honest)
