"""The main window: tabs, a status bar, a tray icon and desktop notifications."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

from PySide6.QtCore import Qt, QTimer
from PySide6.QtGui import QAction, QCloseEvent, QIcon
from PySide6.QtWidgets import (
    QLabel,
    QMainWindow,
    QMenu,
    QStyle,
    QSystemTrayIcon,
    QTabWidget,
)

from milon_app.gui.context import GuiContext
from milon_app.gui.tabs.base import Tab
from milon_app.node import events as ev
from milon_app.units import short_address, short_amount
from milon_app.util import heap

REFRESH_MS = 2_000  # the visible tab re-reads the chain this often
SETTLE_MS = 20_000  # how often what survived is frozen out of full garbage collections


@dataclass(frozen=True)
class Notification:
    title: str
    message: str
    ts: float


class MainWindow(QMainWindow):
    def __init__(self, ctx: GuiContext, *, lazy: bool = False) -> None:
        """``lazy``: show the frame now, build the tabs with :meth:`build_tabs` once their
        modules (web3, pyqtgraph: about a second) are imported off the GUI thread."""
        super().__init__()
        self.ctx = ctx
        self._refreshing = True  # until quitting (stop_refreshing)
        self.notifications: list[Notification] = []
        ctx.notify = self.notify
        ctx.status = lambda text: self.statusBar().showMessage(text, 8_000)
        self.setWindowTitle("MILON")
        self.resize(1180, 760)
        self.tabs = QTabWidget()
        self.tabs.setDocumentMode(True)
        self.setCentralWidget(self.tabs)
        self.pages: dict[str, Tab] = {}
        if lazy:
            self.loading = QLabel("Loading MILON…")
            self.loading.setAlignment(Qt.AlignmentFlag.AlignCenter)
            self.tabs.addTab(self.loading, "MILON")
        else:
            self.build_tabs()
        self.tabs.currentChanged.connect(lambda _i: self.refresh_current())
        self._build_status_bar()
        self._build_tray()
        b = ctx.bridge
        b.heartbeat.connect(self._on_heartbeat)
        b.assignment.connect(self._on_assignment)
        b.round_changed.connect(self._on_round)
        b.committee.connect(self._on_committee)
        b.money.connect(self._on_money)
        b.error.connect(self._on_error)
        b.governance.connect(self._on_proposal)
        self._timer = QTimer(self)
        self._timer.timeout.connect(self.refresh_current)
        self._timer.start(REFRESH_MS)
        self._settle = QTimer(self)  # keep full garbage collections short (util/heap.py)
        self._settle.timeout.connect(heap.settle)
        self._settle.start(SETTLE_MS)
        QTimer.singleShot(0, self.refresh_current)

    def build_tabs(self) -> None:
        if self.pages:
            return
        for tab in self._make_tabs():
            self.pages[tab.title] = tab
            self.tabs.addTab(tab, tab.title)
        if self.tabs.count() > len(self.pages):  # the loading page of a lazy start
            self.tabs.removeTab(0)
        self.refresh_current()

    def _make_tabs(self) -> list[Tab]:
        from milon_app.gui.tabs.federations import FederationsTab
        from milon_app.gui.tabs.governance import GovernanceTab
        from milon_app.gui.tabs.jobs import JobsTab
        from milon_app.gui.tabs.node import NodeTab
        from milon_app.gui.tabs.owner import OwnerTab
        from milon_app.gui.tabs.simulate import SimulateTab
        from milon_app.gui.tabs.training import TrainingTab
        from milon_app.gui.tabs.wallet import WalletTab

        ctx = self.ctx
        tabs: list[Tab] = [
            NodeTab(ctx),
            FederationsTab(ctx),
            JobsTab(ctx),
            TrainingTab(ctx),
            GovernanceTab(ctx),
            WalletTab(ctx),
            OwnerTab(ctx),
        ]
        if ctx.session.kind == "simulated":
            tabs.append(SimulateTab(ctx))
        return tabs

    def page(self, title: str) -> Tab:
        return self.pages[title]

    def show_tab(self, title: str) -> Tab:
        tab = self.pages[title]
        self.tabs.setCurrentWidget(tab)
        return tab

    def refresh_current(self) -> None:
        current = self.tabs.currentWidget()
        if not self._refreshing:
            return
        if isinstance(current, Tab) and self.ctx.session.node is not None:
            current.refresh()

    # -- status bar ----------------------------------------------------------------------------
    def _build_status_bar(self) -> None:
        s = self.ctx.session
        self.chain_label = QLabel("chain: connecting…")
        self.peers_label = QLabel("peers: 0")
        self.state_label = QLabel("node: starting")
        self.address_label = QLabel(f"wallet: {short_address(s.address)}")
        self.address_label.setToolTip(s.address)
        bar = self.statusBar()
        for w in (self.chain_label, self.peers_label, self.state_label, self.address_label):
            w.setContentsMargins(8, 0, 8, 0)
            bar.addPermanentWidget(w)

    def _on_heartbeat(self, e: ev.Heartbeat) -> None:
        if e.node != self.ctx.session.address:
            return
        network = "simulated" if self.ctx.session.kind == "simulated" else "RPC"
        if e.chain_connected:
            self.chain_label.setText(f"chain: {network} · block {e.block}")
        else:
            self.chain_label.setText(f"chain: {network} · unreachable")
        self.peers_label.setText(f"peers: {e.peers}")
        state = "paused" if e.paused else "training" if e.busy else "idle"
        self.state_label.setText(f"node: {state}")
        self.pause_action.setText("Resume node" if e.paused else "Pause node")
        self.tray.setToolTip(f"MILON — node {state}, {e.peers} peers, block {e.block}")

    # -- tray and notifications ----------------------------------------------------------------
    def _build_tray(self) -> None:
        icon = QIcon(str(_icon_path())) if _icon_path().exists() else self.style().standardIcon(
            QStyle.StandardPixmap.SP_ComputerIcon
        )
        self.setWindowIcon(icon)
        self.tray = QSystemTrayIcon(icon, self)
        menu = QMenu()
        self.pause_action = QAction("Pause node", self)
        self.pause_action.triggered.connect(self.toggle_pause)
        show = QAction("Show window", self)
        show.triggered.connect(self.showNormal)
        quit_action = QAction("Quit", self)
        quit_action.triggered.connect(self.close)
        for action in (show, self.pause_action, quit_action):
            menu.addAction(action)
        self._tray_menu = menu
        self.tray.setContextMenu(menu)
        self.tray.setToolTip("MILON")
        if QSystemTrayIcon.isSystemTrayAvailable():
            self.tray.show()

    def toggle_pause(self) -> None:
        session = self.ctx.session
        paused = not session.paused
        self.ctx.runner.run(
            lambda: session.set_paused(paused),
            lambda _r: self._paused_changed(paused),
            what="pause node",
        )

    def _paused_changed(self, paused: bool) -> None:
        self.pause_action.setText("Resume node" if paused else "Pause node")
        self.state_label.setText("node: paused" if paused else "node: idle")
        self.notify("Node paused" if paused else "Node resumed",
                    "No new work is accepted." if paused else "Accepting work again.")

    def notify(self, title: str, message: str) -> None:
        now = time.time()
        if any(n.title == title and n.message == message and now - n.ts < 60
               for n in self.notifications[-20:]):
            return  # the same news from two sources (an event and a tab's refresh)
        self.notifications.append(Notification(title, message, now))
        if self.tray.isVisible() and QSystemTrayIcon.supportsMessages():
            self.tray.showMessage(title, message, QSystemTrayIcon.MessageIcon.Information, 6_000)
        self.statusBar().showMessage(f"{title}: {message}", 8_000)

    def _mine(self, e: ev.Event) -> bool:
        return e.node == self.ctx.session.address

    def _on_assignment(self, e: ev.Event) -> None:
        if isinstance(e, ev.EpochsAssigned) and self._mine(e):
            self.notify("New assignment", f"Job {e.job_id}, round {e.round}: {e.epochs} epochs")

    def _on_round(self, e: ev.Event) -> None:
        if isinstance(e, ev.RoundFinalized) and self._mine(e):
            self.notify(
                "Round finalized",
                f"Job {e.job_id}, round {e.round}: {e.accepted_count} updates accepted",
            )

    def _on_committee(self, e: ev.Event) -> None:
        if isinstance(e, ev.CommitteeDrawn) and e.seated and self._mine(e):
            self.notify(
                "Committee seat",
                f"Job {e.job_id}, round {e.round}: your node judges this round's updates",
            )

    def _on_money(self, e: ev.Event) -> None:
        if isinstance(e, ev.RewardCredited) and self._mine(e):
            self.notify("Reward", f"{short_amount(e.amount)} MILON for job {e.job_id}")
        elif isinstance(e, ev.ValidatorPaid) and self._mine(e):
            self.notify(
                "Validator reward",
                f"{short_amount(e.amount)} MILON for judging job {e.job_id}, round {e.round}",
            )
        elif isinstance(e, ev.Slashed) and e.member == self.ctx.session.address:
            self.notify("Stake slashed", f"{short_amount(e.amount)} MILON ({e.reason})")

    def _on_proposal(self, e: ev.ProposalStateChanged) -> None:
        if self._mine(e) and e.state == "created":
            self.notify("New proposal", f"{e.description} ({str(e.proposal_id)[:8]}…)")

    def _on_error(self, e: ev.NodeError) -> None:
        if self._mine(e):
            self.statusBar().showMessage(f"{e.where}: {e.message}", 10_000)

    def stop_refreshing(self) -> None:
        """Quitting: no tab reads the node from now on (its state DB is about to close)."""
        self._timer.stop()
        self._settle.stop()
        self._refreshing = False

    def closeEvent(self, event: QCloseEvent) -> None:
        self._timer.stop()
        self._settle.stop()
        self.tray.hide()
        super().closeEvent(event)


def _icon_path() -> Path:
    return Path(__file__).resolve().parent / "resources" / "milon.png"
