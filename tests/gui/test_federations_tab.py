"""Federations tab against a real session: join, leave, withdraw, found, bad input."""

from __future__ import annotations

from PySide6.QtCore import Qt

from milon_app.gui.tabs.federations import FederationsTab
from tests.gui.conftest import refreshed, wait_until

ETHER = 10**18


def make(qtbot, ctx):
    tab = FederationsTab(ctx)
    qtbot.addWidget(tab)
    refreshed(qtbot, tab)
    return tab


def test_lists_the_simulated_federation_and_its_members(qtbot, ctx):
    tab = make(qtbot, ctx)
    assert tab.feds.rowCount() == 1
    assert tab.feds.item(0, 1).text() == "Simulated federation"
    assert tab.feds.item(0, 2).text() == "3"
    assert tab.members.rowCount() == 3


def test_join_then_leave_then_withdraw(qtbot, ctx):
    s = ctx.session
    tab = make(qtbot, ctx)
    tab.feds.selectRow(0)
    tab.stake.setText("25")
    tab.capacity.setValue(321)
    before = s.milon.balance(s.address)
    qtbot.mouseClick(tab.join_button, Qt.MouseButton.LeftButton)
    wait_until(qtbot, lambda: s.milon.member(1, s.address).active)
    member = s.milon.member(1, s.address)
    assert member.stake == 25 * ETHER and member.capacity == 321
    assert s.milon.balance(s.address) == before - 25 * ETHER
    wait_until(qtbot, lambda: tab.feds.item(0, 6).text() == "member")
    assert tab.leave_button.isEnabled() and not tab.join_button.isEnabled()

    qtbot.mouseClick(tab.leave_button, Qt.MouseButton.LeftButton)
    wait_until(qtbot, lambda: s.milon.member(1, s.address).leave_requested_at > 0)
    wait_until(qtbot, lambda: tab.withdraw_button.isEnabled())
    assert "finishes the rounds it accepted" in tab.message.text()
    assert tab.feds.item(0, 6).text().startswith("leaving: stake locked")
    assert not tab.leave_button.isEnabled() and not tab.top_up_button.isEnabled()
    assert not tab.join_button.isEnabled()  # the stake is still locked
    cooldown = int(s.core.suite.client.call(s.core.suite.registry.functions.leaveCooldown()))
    s.core.suite.client.increase_time(cooldown + 1)
    qtbot.mouseClick(tab.withdraw_button, Qt.MouseButton.LeftButton)
    wait_until(qtbot, lambda: s.milon.member(1, s.address).stake == 0)
    assert s.milon.balance(s.address) == before


def test_stake_below_minimum_is_refused_and_nothing_changes(qtbot, ctx):
    s = ctx.session
    tab = make(qtbot, ctx)
    tab.feds.selectRow(0)
    tab.stake.setText("1")  # the simulated federation asks for 10
    qtbot.mouseClick(tab.join_button, Qt.MouseButton.LeftButton)
    wait_until(qtbot, lambda: "below this federation's minimum" in tab.message.text())
    assert not s.milon.member(1, s.address).active
    tab.stake.setText("ten")
    qtbot.mouseClick(tab.join_button, Qt.MouseButton.LeftButton)
    wait_until(qtbot, lambda: "not a MILON amount" in tab.message.text())


def test_found_a_federation(qtbot, ctx):
    s = ctx.session
    tab = make(qtbot, ctx)
    tab.new_name.setText("Radiology consortium")
    tab.new_min.setText("20")
    qtbot.mouseClick(tab.create_button, Qt.MouseButton.LeftButton)
    wait_until(qtbot, lambda: s.milon.federation_count() == 2)
    fed = s.milon.federation(2)
    assert fed.name == "Radiology consortium" and fed.min_stake == 20 * ETHER
    assert fed.creator == s.address
    wait_until(qtbot, lambda: tab.feds.rowCount() == 2)
    tab.new_name.setText("")
    qtbot.mouseClick(tab.create_button, Qt.MouseButton.LeftButton)
    assert "name" in tab.message.text()
    assert s.milon.federation_count() == 2


def test_a_suspended_member_tops_up_and_is_reinstated(qtbot, ctx):
    """Slashed below the minimum (by governance here), the member is suspended: the tab says
    so and "Add to stake" brings it back."""
    s = ctx.session
    tab = make(qtbot, ctx)
    tab.feds.selectRow(0)
    s.core.join(1, 10 * ETHER, 100, "inprocess")  # exactly the minimum
    gov = s.governance()
    gov.delegate(s.account)
    _pid, state = gov.pass_proposal(s.account, [s.account],
                                    gov.slash_member(1, s.address, ETHER, "test slash"))
    assert state.name == "EXECUTED"
    assert s.milon.member(1, s.address).suspended
    refreshed(qtbot, tab)
    assert tab.feds.item(0, 6).text() == "suspended: top up"
    assert tab.top_up_button.isEnabled() and tab.leave_button.isEnabled()
    assert not tab.join_button.isEnabled() and not tab.withdraw_button.isEnabled()
    tab.stake.setText("1")
    qtbot.mouseClick(tab.top_up_button, Qt.MouseButton.LeftButton)
    wait_until(qtbot, lambda: "reinstated" in tab.message.text(), 30_000)
    assert "Stake now 10.00 MILON" in tab.message.text()
    member = s.milon.member(1, s.address)
    assert member.active and not member.suspended and member.stake == 10 * ETHER
    wait_until(qtbot, lambda: tab.feds.item(0, 6).text() == "member")
    tab.stake.setText("0")
    qtbot.mouseClick(tab.top_up_button, Qt.MouseButton.LeftButton)
    assert "must be more than 0" in tab.message.text()
