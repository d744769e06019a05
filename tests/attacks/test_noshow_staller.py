"""Attack 6: declare a large capacity, take the epochs and never answer.

v1: an assignment nobody answered was simply left out of settlement: the staller lost
nothing, its epochs were not trained that round, and its declared capacity won it the same
large share again next round, round after round.
v2: after ``acceptDeadline`` anyone may ``closeAcceptance``: unanswered assignments lapse,
each costs ``lapseBps`` (2 %) of the stake and its epochs are re-split over the members that
accepted; the lapse counts as epochs taken and not delivered and benches the staller for the
job's next round, so its later shares shrink; a seat that never votes loses ``livenessBps``.
"""

from __future__ import annotations

from eth_account.signers.local import LocalAccount

from tests.attacks.common import World
from tests.unit.contracts.helpers import ETHER, h

ROUND = 12


def _round_without(
    world: World, job: int, staller: LocalAccount, honest: list[LocalAccount]
) -> tuple[int, int]:
    """A round in which the staller neither answers its assignment nor votes; the honest
    members accept, train, vote and confirm. Returns (round, epochs offered to the staller)."""
    r = world.start(job)
    offered = world.epochs(job, r, staller)
    world.accept(honest, job, r)
    if offered:
        receipt = world.close_acceptance(job)  # after the accept window; anyone may call it
        assert world.milon.assignment(job, r, staller.address).state.name == "LAPSED"
        assert receipt["status"] == 1
    assert sum(world.epochs(job, r, m) for m in honest) == ROUND  # all 12 re-split
    world.train(honest, job, r)
    world.votes(honest, job, r, honest)
    world.close_verdicts(job)  # the staller's seat never votes
    world.confirm(honest, job, r, h(f"model-{r}"))
    assert world.milon.round(job, r).finalized
    return r, offered


def test_staller_lapses_is_penalised_and_its_share_shrinks(world: World):
    """The staller (capacity 40 against three honest members' 10; stake 5 against their 10,
    so the honest seats keep more than 2/3 of each update's weight without it) is offered the
    capped share of 12 epochs, 6, and never accepts, declines or votes, for three rounds,
    hoping to hold the job's epochs hostage at no cost. Each time ``closeAcceptance`` lapses
    it: 2 % of its stake goes, its epochs go to the three honest members (all 12 of the round
    end up with them), who train them and are paid. Its record (0 delivered of 6 taken) quarters its
    weight and the lapse benches it: offered 6, then 0, then 3. Every absent vote costs 1 %.
    The job completes on time; the staller is never paid."""
    staller = world.members[0]
    honest = world.members[1:4]
    fed = world.federation(
        [staller, *honest], stakes=[5 * ETHER] + [10 * ETHER] * 3, caps=[40, 10, 10, 10]
    )
    job = world.job(fed, totalEpochs=3 * ROUND, epochsPerRound=ROUND)
    before = world.stakes(fed, honest)

    offers = []
    rounds = []
    for _ in range(3):
        r, offered = _round_without(world, job, staller, honest)
        rounds.append(r)
        offers.append(offered)
        # each honest member is paid for every epoch it ended up with, re-split ones included
        assert world.credited(round=r) == {
            m.address.lower(): world.epochs(job, r, m) * 9 * ETHER // 10 for m in honest
        }
    assert offers == [6, 0, 3]
    lapsed = world.logs(world.suite.jobs, "AssignmentLapsed")
    assert [(e["round"], e["member"], e["epochs"]) for e in lapsed] == [
        (rounds[0], staller.address, 6),
        (rounds[2], staller.address, 3),
    ]
    assert world.milon.job(job).status.name == "COMPLETED"
    assert world.milon.job(job).epochs_done == 3 * ROUND

    stake = 5 * ETHER
    expected = []
    for reason, bps in [
        ("lapsed-assignment", 200),
        ("absent-validator", 100),
        ("absent-validator", 100),
        ("lapsed-assignment", 200),
        ("absent-validator", 100),
    ]:
        expected.append((reason, stake * bps // 10_000))
        stake -= stake * bps // 10_000
    got = [
        (bytes(e["reason"]).rstrip(b"\0").decode(), e["amount"])
        for e in world.logs(world.suite.registry, "Slashed")
    ]
    assert got == expected
    assert world.stake(fed, staller) == stake
    world.assert_honest_whole(fed, honest, before, validators=honest)
    a = staller.address.lower()
    assert a not in world.credited() and a not in world.validator_paid()
    assert world.claimable(staller) == 0
