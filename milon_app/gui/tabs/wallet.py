"""Wallet tab: address, balances, stake, rewards to claim, transaction history.

Rewards are pull payments on the jobs contract; nothing reaches the
wallet until the user claims, so the pending amount and the button sit
side by side.
"""

from __future__ import annotations

from dataclasses import dataclass

from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import (
    QGroupBox,
    QHBoxLayout,
    QPushButton,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from milon_app.chain.client import TxRecord
from milon_app.errors import BadInputError
from milon_app.gui.context import GuiContext
from milon_app.gui.tabs.base import Tab
from milon_app.gui.widgets import fill, form_box, hint, table, value_label
from milon_app.units import format_amount, short_amount


@dataclass(frozen=True)
class WalletData:
    eth: int
    milon: int
    staked: int
    claimable: int
    votes: int
    credited: int
    txs: list[TxRecord]


class WalletTab(Tab):
    title = "Wallet"

    def __init__(self, ctx: GuiContext) -> None:
        super().__init__(ctx)
        s = ctx.session
        self.address = value_label(s.address)
        self.copy_button = QPushButton("Copy address")
        self.copy_button.clicked.connect(self.copy_address)
        self.eth = value_label()
        self.milon = value_label()
        self.staked = value_label()
        self.votes = value_label()
        self.claimable = value_label()
        self.credited = value_label()
        self.claim_button = QPushButton("Claim rewards")
        self.claim_button.clicked.connect(self.claim)
        self.txs = table(["When", "Action", "Status", "Block", "Gas", "Transaction"], stretch=5)
        self.keeping = hint(
            f"Keystore password kept by: {s.secret_store}" if s.secret_store else ""
        )
        self._layout()

    def _layout(self) -> None:
        acct = form_box("Account", [("Address", self.address), ("ETH (gas)", self.eth),
                                    ("MILON", self.milon), ("Staked", self.staked),
                                    ("Voting power", self.votes)])
        row = QHBoxLayout()
        row.addWidget(self.copy_button)
        row.addStretch(1)
        rewards = form_box("Rewards", [("Claimable now", self.claimable),
                                       ("Credited to this node", self.credited)])
        left = QWidget()
        lv = QVBoxLayout(left)
        lv.addWidget(acct)
        lv.addLayout(row)
        lv.addWidget(rewards)
        lv.addWidget(self.claim_button)
        lv.addWidget(hint("Rewards for accepted epochs are held by the jobs contract until "
                          "you claim them."))
        lv.addWidget(self.keeping)
        lv.addStretch(1)
        history = QGroupBox("Transactions from this app")
        hv = QVBoxLayout(history)
        hv.addWidget(self.txs)
        split = QSplitter()
        split.addWidget(left)
        split.addWidget(history)
        split.setSizes([420, 760])
        outer = QVBoxLayout(self)
        outer.addWidget(split, 1)
        outer.addWidget(self.message)

    def load(self) -> WalletData:
        s = self.ctx.session
        m = s.milon
        client = s.core.suite.client
        staked = sum(m.member(f, s.address).stake for f in range(1, m.federation_count() + 1))
        return WalletData(
            eth=client.balance(s.address),
            milon=m.balance(s.address),
            staked=staked,
            claimable=m.claimable(s.address),
            votes=m.votes(s.address),
            credited=s.core.state.total_rewards(),
            txs=client.transactions(s.address),
        )

    def show_data(self, d: WalletData) -> None:
        import datetime as dt

        self.eth.setText(f"{short_amount(d.eth, 4)} ETH")
        self.milon.setText(f"{short_amount(d.milon)} MILON")
        self.milon.setToolTip(format_amount(d.milon))
        self.staked.setText(f"{short_amount(d.staked)} MILON")
        self.votes.setText(f"{short_amount(d.votes)} votes")
        self.claimable.setText(f"{short_amount(d.claimable)} MILON")
        self.claimable.setToolTip(format_amount(d.claimable))
        self.credited.setText(f"{short_amount(d.credited)} MILON")
        self.claim_button.setEnabled(d.claimable > 0)
        fill(self.txs, [
            [dt.datetime.fromtimestamp(t.ts).strftime("%H:%M:%S"), t.action,
             "ok" if t.ok else "reverted", t.block, t.gas_used, t.tx_hash] for t in d.txs
        ])

    def copy_address(self) -> None:
        QGuiApplication.clipboard().setText(self.ctx.session.address)
        self.say("Address copied to the clipboard")

    def claim(self) -> None:
        s = self.ctx.session

        def run() -> int:
            amount = s.milon.claimable(s.address)
            if amount <= 0:
                raise BadInputError("nothing to claim yet")
            s.milon.claim(s.account)
            return amount

        self.act("Claim rewards", run, lambda amount: f"Claimed {short_amount(amount)} MILON")
