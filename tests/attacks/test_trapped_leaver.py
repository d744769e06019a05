"""Attack 9: raise the leave cooldown to trap members that are already leaving.

v1: ``withdrawStake`` computed ``leaveRequestedAt + leaveCooldown`` with the cooldown in
force at withdrawal, so a proposal raising the cooldown (up to 365 days) after members had
asked to leave kept their stakes locked long past what they were promised, within reach of
further slashing.
v2: ``requestLeave`` fixes ``withdrawableAt`` with the cooldown in force then; a later change
applies only to leaves requested after it.
"""

from __future__ import annotations

from tests.attacks.common import World
from tests.unit.contracts.helpers import ETHER, delegate_all, govern, reverts

YEAR = 365 * 24 * 3600


def test_raised_cooldown_does_not_trap_a_member_already_leaving(world: World):
    """A member asks to leave under the 60 s cooldown. A token majority then passes a
    proposal raising the cooldown to 365 days, hoping to keep the leaver's stake locked.
    The leaver's ``withdrawableAt`` does not move and it withdraws its whole stake as soon as
    its 60 s are up; a member asking to leave after the change waits the new year."""
    leaver, later, stayer = world.members[:3]
    fed = world.federation([leaver, later, stayer])
    delegate_all(world.client, world.suite)
    reg = world.suite.registry
    assert world.client.call(reg.functions.leaveCooldown()) == 60

    world.milon.request_leave(leaver, fed)
    promised = world.milon.member(fed, leaver.address).withdrawable_at
    (ev,) = world.logs(reg, "LeaveRequested")
    assert (
        ev["readyAt"] == promised == world.milon.member(fed, leaver.address).leave_requested_at + 60
    )

    govern(world.client, world.suite, [(reg, reg.functions.setLeaveCooldown(YEAR))], "lock leavers")
    assert world.client.call(reg.functions.leaveCooldown()) == YEAR
    assert world.milon.member(fed, leaver.address).withdrawable_at == promised
    assert world.client.now() >= promised  # the proposal took longer than 60 s

    balance = world.milon.balance(leaver.address)
    world.milon.withdraw_stake(leaver, fed)
    assert world.milon.balance(leaver.address) - balance == 10 * ETHER
    assert world.stake(fed, leaver) == 0

    world.milon.request_leave(later, fed)
    ready = world.milon.member(fed, later.address).withdrawable_at
    assert ready == world.milon.member(fed, later.address).leave_requested_at + YEAR
    with reverts("CooldownActive", ready):
        world.milon.withdraw_stake(later, fed)
    assert world.stake(fed, stayer) == 10 * ETHER and world.slashed() == {}
