"""Attack 8: governance slashes any member's whole stake, for no stated cause.

v1: ``FederationRegistry.slash`` let the governance timelock take any amount of any stake,
with an empty reason, so a token majority could confiscate members' stakes at will (several
times over in one proposal).
v2: a governance slash needs a reason (EmptyReason), takes at most ``govSlashCapBps`` of the
stake (default 10 %, never above 50 %: GovSlashOverCap), at most once per member per block,
hence once per proposal (GovSlashAgain), and what it takes goes to the treasury (the
timelock). Every proposal here runs the real Governor flow: propose, vote, queue, execute.
"""

from __future__ import annotations

import pytest

from tests.attacks.common import World
from tests.unit.contracts.helpers import ETHER, b32, delegate_all, govern, reverts

STAKE = 10 * ETHER


@pytest.fixture
def fed(world: World) -> int:
    fed_id = world.federation(world.members[:3])
    delegate_all(world.client, world.suite)
    return fed_id


def _slash(world: World, fed: int, who: str, amount: int, reason: bytes) -> tuple[object, object]:
    reg = world.suite.registry
    return (reg, reg.functions.slash(fed, who, amount, reason))


@pytest.mark.parametrize(
    ("case", "calls", "error"),
    [
        ("no reason, whole stake", [(STAKE, bytes(32))], "EmptyReason"),
        ("over the cap", [(STAKE // 2, b32("fraud"))], "GovSlashOverCap"),
        (
            "twice in one proposal",
            [(ETHER, b32("fraud")), (ETHER // 2, b32("again"))],
            "GovSlashAgain",
        ),
    ],
)
def test_governance_slash_beyond_its_limits_reverts(world: World, fed: int, case, calls, error):
    """A token majority passes a proposal slashing a member's stake without cause, beyond
    the cap, or twice in one proposal (two slash calls executed in the same block), hoping to
    confiscate the stake. Executing the proposal reverts with the named error; no stake
    moves and the treasury gets nothing."""
    victim = world.members[0]
    actions = [_slash(world, fed, victim.address, amount, why) for amount, why in calls]
    args = {
        "EmptyReason": (),
        "GovSlashOverCap": (STAKE // 2, STAKE // 10),  # (amount, cap: 10 % of 10 MILON)
        "GovSlashAgain": (fed, victim.address),
    }[error]
    treasury = world.milon.balance(world.suite.timelock.address)
    with reverts(error, *args):
        govern(world.client, world.suite, actions, f"slash {victim.address}: {case}")
    assert all(world.stake(fed, m) == STAKE for m in world.members[:3])
    assert world.milon.balance(world.suite.timelock.address) == treasury
    assert world.slashed() == {}


def test_capped_slash_with_a_reason_goes_to_the_treasury(world: World, fed: int):
    """The most one proposal may do: slash one member, with a stated reason, by the cap (10 %
    of its stake). It executes; the member keeps 90 %, the amount goes to the timelock, the
    Slashed event names the reason and the timelock as the slasher, and the other members
    are untouched."""
    victim, others = world.members[0], world.members[1:3]
    treasury = world.milon.balance(world.suite.timelock.address)
    cap = STAKE * world.client.call(world.suite.registry.functions.govSlashCapBps()) // 10_000
    assert cap == ETHER
    govern(
        world.client,
        world.suite,
        [_slash(world, fed, victim.address, cap, b32("proven-fraud"))],
        "slash the fraudster by the cap",
    )
    assert world.stake(fed, victim) == STAKE - cap
    assert world.milon.balance(world.suite.timelock.address) == treasury + cap
    (ev,) = world.logs(world.suite.registry, "Slashed")
    assert ev["reason"] == b32("proven-fraud") and ev["amount"] == cap
    assert ev["by"] == world.suite.timelock.address
    assert all(world.stake(fed, m) == STAKE for m in others)
    assert world.milon.member(fed, victim.address).active  # 9 MILON is above the minimum
