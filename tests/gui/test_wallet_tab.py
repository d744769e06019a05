"""Wallet tab: balances from the chain, claiming real rewards, the transaction history."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QGuiApplication

from milon_app.compute.datasets import DatasetSpec
from milon_app.compute.model_spec import digits_mlp
from milon_app.gui.tabs.wallet import WalletTab
from milon_app.node.owner import JobRequest
from tests.gui.conftest import refreshed, wait_until

ETHER = 10**18


def test_balances_and_copy(qtbot, ctx):
    tab = WalletTab(ctx)
    qtbot.addWidget(tab)
    refreshed(qtbot, tab)
    assert tab.milon.text() == "5,000,000.00 MILON"
    assert tab.eth.text().endswith("ETH") and not tab.eth.text().startswith("0.0000")
    assert not tab.claim_button.isEnabled()
    qtbot.mouseClick(tab.copy_button, Qt.MouseButton.LeftButton)
    assert QGuiApplication.clipboard().text() == ctx.session.address


def test_claim_rewards_earned_by_training(qtbot, ctx):
    s = ctx.session
    s.core.join(1, 20 * ETHER, 400, "inprocess")
    req = JobRequest(fed_id=1, spec=digits_mlp(), dataset=DatasetSpec(kind="builtin", name="digits"),
                     total_epochs=8, epochs_per_round=8, reward_per_epoch=ETHER)
    s.core.owner.create_job(req)
    wait_until(qtbot, lambda: s.milon.claimable(s.address) > 0, 120_000)
    tab = WalletTab(ctx)
    qtbot.addWidget(tab)
    refreshed(qtbot, tab)
    owed = s.milon.claimable(s.address)
    assert tab.claim_button.isEnabled()
    before = s.milon.balance(s.address)
    qtbot.mouseClick(tab.claim_button, Qt.MouseButton.LeftButton)
    wait_until(qtbot, lambda: s.milon.claimable(s.address) == 0)
    assert s.milon.balance(s.address) == before + owed
    wait_until(qtbot, lambda: "Claimed" in tab.message.text())
    refreshed(qtbot, tab)
    actions = [tab.txs.item(r, 1).text() for r in range(tab.txs.rowCount())]
    assert actions[0] == "claim" and "join" in actions and "createJob" in actions
    assert all(tab.txs.item(r, 2).text() == "ok" for r in range(tab.txs.rowCount()))
