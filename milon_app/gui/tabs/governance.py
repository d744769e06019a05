"""The Governance tab: follow proposals, delegate, vote, queue, execute, propose.

Every governed parameter is listed with what it means and its current value
(:mod:`milon_app.gui.tabs.governance_params`); picking one opens the form on it.

Voting power comes from delegated tokens at a proposal's snapshot block, the
most common surprise, so the tab says plainly when the user has none and
offers the one click that fixes it. On dev chains (simulated or anvil) it
can also mine blocks and advance time, so a proposal can be walked through
its whole life by hand.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QFrame,
    QGroupBox,
    QHBoxLayout,
    QLineEdit,
    QProgressBar,
    QPushButton,
    QScrollArea,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from milon_app.chain.governance import Governance, ProposalState, Support
from milon_app.chain.proposals import ProposalLog, ProposalStatus, proposal_status
from milon_app.gui.context import GuiContext
from milon_app.gui.tabs.base import Tab
from milon_app.gui.tabs.governance_forms import (
    AdvanceBox,
    NoPowerBanner,
    ProposalForm,
    VotesBox,
    amount,
    build_call,
    check_address,
    quorum_text,
    time_left,
)
from milon_app.gui.tabs.governance_params import ParametersBox
from milon_app.gui.widgets import fill, hint, selected_key, table, value_label
from milon_app.node import events as ev
from milon_app.session.parameters import ParameterValue, read_parameters
from milon_app.units import duration, short_address

THE_PROPOSAL = "the proposal"  # how refusals name the selected proposal
MINE_BLOCKS = 25  # more than the dev voting period (20 blocks): enough to close a vote
COLUMNS = (
    "Proposal", "Description", "State", "For", "Against", "Abstain",
    "Quorum", "%", "Time left",
)
AMOUNT_COLUMNS = (3, 4, 5, 6, 7)


@dataclass(frozen=True)
class Row:
    status: ProposalStatus
    voted: bool  # whether the user has voted on it


@dataclass(frozen=True)
class GovView:
    """One refresh's worth of chain reads, as plain data for the GUI thread."""

    block: int
    now: int  # chain time
    balance: int
    votes: int
    delegate: str  # "" when the user's tokens are delegated to nobody
    dev_chain: bool
    rows: list[Row]
    params: list[ParameterValue]


class GovernanceTab(Tab):
    title = "Governance"

    def __init__(self, ctx: GuiContext) -> None:
        super().__init__(ctx)
        self._log: ProposalLog | None = None
        self._rows: dict[str, Row] = {}  # keyed by the decimal id: Qt has no 256-bit ints
        self._seen: set[int] | None = None  # None until the first load: no notifications then

        self.banner = NoPowerBanner()
        self.delegate_self_btn = self.banner.delegate_self_btn
        self.delegate_self_btn.clicked.connect(lambda: self.delegate(""))
        self.votes_box = VotesBox()
        self.delegate_edit, self.delegate_btn = self.votes_box.edit, self.votes_box.delegate_btn
        self.delegate_btn.clicked.connect(lambda: self.delegate(self.delegate_edit.text()))
        self.table = table(COLUMNS, stretch=1)
        self.table.setWordWrap(False)  # addresses in descriptions do not wrap: elide instead
        self.table.itemSelectionChanged.connect(self._update_selected)
        header = self.table.horizontalHeaderItem(COLUMNS.index("Quorum"))
        if header is not None:
            header.setToolTip("for + abstain votes / the quorum at the proposal's snapshot")
        left = QWidget()
        lay = QVBoxLayout(left)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(self.table, 1)
        lay.addWidget(self._build_selected())
        self.params_box = ParametersBox(lambda name: self.form.pick_parameter(name))
        lay.addWidget(self.params_box, 1)

        self.form = ProposalForm()
        self.form.propose_btn.clicked.connect(self.propose)
        self.advance_box = AdvanceBox(MINE_BLOCKS)
        self.mine_btn, self.warp_btn = self.advance_box.mine_btn, self.advance_box.warp_btn
        self.mine_btn.clicked.connect(self.mine)
        self.warp_btn.clicked.connect(self.warp)
        side = QWidget()
        side_lay = QVBoxLayout(side)
        side_lay.addWidget(self.votes_box)
        side_lay.addWidget(self.form)
        side_lay.addWidget(self.advance_box)
        side_lay.addStretch(1)
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QFrame.Shape.NoFrame)
        scroll.setWidget(side)

        split = QSplitter(Qt.Orientation.Horizontal)
        split.addWidget(left)
        split.addWidget(scroll)
        split.setStretchFactor(0, 3)
        split.setStretchFactor(1, 2)
        split.setSizes([700, 420])
        root = QVBoxLayout(self)
        root.addWidget(self.banner)
        root.addWidget(split, 1)
        root.addWidget(self.message)
        ctx.bridge.governance.connect(self._on_event)
        self._update_selected()

    # -- building ------------------------------------------------------------------------------
    def _build_selected(self) -> QGroupBox:
        box = QGroupBox("Selected proposal")
        self.selected_label = value_label("Select a proposal in the table.")
        self.selected_label.setMinimumWidth(1)  # a long description must not widen the pane
        lines = self.selected_label.fontMetrics().lineSpacing()
        self.selected_label.setMinimumHeight(2 * lines + 2)  # two lines, no jump on selection
        self.quorum_bar = QProgressBar()
        self.quorum_bar.setRange(0, 100)
        self.quorum_bar.setFormat("quorum %p%")
        self.reason_edit = QLineEdit()
        self.reason_edit.setPlaceholderText("reason (optional, recorded on chain)")
        self.vote_btns: dict[Support, QPushButton] = {}
        votes = QHBoxLayout()
        votes.addWidget(self.reason_edit, 1)
        for support in (Support.FOR, Support.AGAINST, Support.ABSTAIN):
            btn = QPushButton(f"Vote {support.name.lower()}")
            btn.clicked.connect(lambda _c=False, s=support: self.vote(s))
            self.vote_btns[support] = btn
            votes.addWidget(btn)
        self.queue_btn = QPushButton("Queue")
        self.queue_btn.clicked.connect(self.queue)
        self.execute_btn = QPushButton("Execute")
        self.execute_btn.clicked.connect(self.execute)
        steps = QHBoxLayout()
        steps.addWidget(hint("A succeeded proposal is queued in the timelock, then executed."), 1)
        steps.addWidget(self.queue_btn)
        steps.addWidget(self.execute_btn)
        lay = QVBoxLayout(box)
        lay.addWidget(self.selected_label)
        lay.addWidget(self.quorum_bar)
        lay.addLayout(votes)
        lay.addLayout(steps)
        return box

    # -- loading -------------------------------------------------------------------------------
    def load(self) -> GovView:
        s = self.ctx.session
        suite = s.core.suite
        client = suite.client
        if self._log is None or self._log.suite is not suite:
            self._log = ProposalLog(suite)
        gov = s.governance()
        block = client.block_number()
        rows = [
            Row(proposal_status(gov, p, block), gov.has_voted(p.id, s.address))
            for p in self._log.read()
        ]
        return GovView(
            block=block,
            now=client.now(),
            balance=s.milon.balance(s.address),
            votes=gov.votes(s.address),
            delegate=gov.delegate_of(s.address) or "",
            dev_chain=s.dev_chain,
            rows=rows,
            params=read_parameters(s.milon),
        )

    def show_data(self, data: Any) -> None:
        view: GovView = data
        me = self.ctx.session.address
        self.votes_box.show_votes(view.votes, view.balance, view.delegate, me)
        self.banner.show_for(view.votes, view.balance, view.delegate)
        self.advance_box.setVisible(view.dev_chain)
        self.params_box.show_values(view.params)
        ordered = sorted(view.rows, key=lambda r: r.status.proposal.block, reverse=True)
        self._rows = {str(r.status.proposal.id): r for r in ordered}
        fill(self.table, [self._cells(r.status, view.now) for r in ordered], list(self._rows))
        right = Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter
        for i, r in enumerate(ordered):
            items = [self.table.item(i, c) for c in range(len(COLUMNS))]
            if items[0] is not None and items[1] is not None:
                items[0].setToolTip(str(r.status.proposal.id))
                items[1].setToolTip(r.status.proposal.call.description)
            for c in AMOUNT_COLUMNS:
                item = items[c]
                if item is not None:
                    item.setTextAlignment(right)
        self._notify_new(ordered)
        self._update_selected()

    @staticmethod
    def _cells(st: ProposalStatus, now: int) -> list[str]:
        progress, percent = quorum_text(st)
        return [
            f"{str(st.proposal.id)[:8]}…", st.proposal.call.description, st.state.name.lower(),
            amount(st.for_), amount(st.against), amount(st.abstain), progress, percent,
            time_left(st, now),
        ]

    def _notify_new(self, rows: list[Row]) -> None:
        ids = {r.status.proposal.id for r in rows}
        if self._seen is not None:
            for r in reversed(rows):  # oldest first
                p = r.status.proposal
                if p.id not in self._seen:
                    self.ctx.notify("New proposal", f"{p.call.description} ({str(p.id)[:8]}…)")
        self._seen = ids | (self._seen or set())

    def _on_event(self, _e: ev.Event) -> None:
        if self.isVisible():
            self.refresh()

    def selected(self) -> Row | None:
        key = selected_key(self.table)
        return self._rows.get(key) if key is not None else None

    def _update_selected(self) -> None:
        row = self.selected()
        state = row.status.state if row else None
        for btn in self.vote_btns.values():
            btn.setEnabled(state is ProposalState.ACTIVE and row is not None and not row.voted)
        self.queue_btn.setEnabled(state is ProposalState.SUCCEEDED)
        self.execute_btn.setEnabled(state is ProposalState.QUEUED)
        if row is None:
            self.selected_label.setText("Select a proposal in the table.")
            self.quorum_bar.setValue(0)
            self.quorum_bar.setFormat("quorum %p%")
            return
        st = row.status
        voted = " · you have voted" if row.voted else ""
        self.selected_label.setText(
            f"{st.proposal.call.description}\nid {str(st.proposal.id)[:12]}… · "
            f"{st.state.name.lower()}"
            f" · voting blocks {st.proposal.vote_start} to {st.proposal.vote_end}{voted}"
        )
        self.selected_label.setToolTip(f"proposal id {st.proposal.id}")
        self.quorum_bar.setValue(round(100 * (st.quorum_fraction or 0.0)))
        self.quorum_bar.setFormat(f"quorum {quorum_text(st)[0]} (%p%)")

    # -- actions -------------------------------------------------------------------------------
    def _need_selected(self, what: str) -> Row | None:
        row = self.selected()
        if row is None:
            self.say(f"{what}: select a proposal first", error=True)
        return row

    def delegate(self, text: str) -> None:
        s = self.ctx.session
        to = text.strip()

        def run() -> tuple[str, int]:
            target = check_address(to, "delegate address") if to else s.address
            gov = s.governance()
            gov.delegate(s.account, target)
            return target, gov.votes(target)

        def done(result: tuple[str, int]) -> str:
            target, votes = result
            name = "yourself" if target == s.address else short_address(target)
            return f"Delegated your votes to {name}: it now has {amount(votes)} votes"

        self.act("Delegate", run, done)

    def vote(self, support: Support) -> None:
        row = self._need_selected("Vote")
        if row is None:
            return
        s, p, reason = self.ctx.session, row.status.proposal, self.reason_edit.text().strip()

        def run() -> int:
            gov = s.governance()
            gov.can_vote(p.id, s.address, name=THE_PROPOSAL, voter_name="you").require()
            gov.vote(s.account, p.id, support, reason)
            return gov.votes_at(s.address, p.vote_start)

        def done(weight: int) -> str:
            self.reason_edit.clear()
            zero = " (no votes were delegated to you at its snapshot)" if weight == 0 else ""
            return f"Voted {support.name.lower()} with {amount(weight)} votes{zero}"

        self.act(f"Vote {support.name.lower()}", run, done)

    def _lifecycle(self, what: str, step: Callable[[Governance, ProposalStatus], None]) -> None:
        row = self._need_selected(what)
        if row is None:
            return
        s, st = self.ctx.session, row.status

        def run() -> str:
            gov = s.governance()
            step(gov, st)
            return gov.state(st.proposal.id).name.lower()

        self.act(what, run, lambda state: f"{what}: the proposal is now {state}")

    def queue(self) -> None:
        def step(gov: Governance, st: ProposalStatus) -> None:
            gov.can_queue(st.proposal.id, name=THE_PROPOSAL).require()
            gov.queue(self.ctx.session.account, st.proposal.call)

        self._lifecycle("Queue", step)

    def execute(self) -> None:
        def step(gov: Governance, st: ProposalStatus) -> None:
            gov.can_execute(st.proposal.id, name=THE_PROPOSAL).require()
            gov.execute(self.ctx.session.account, st.proposal.call)

        self._lifecycle("Execute", step)

    def propose(self) -> None:
        s, req = self.ctx.session, self.form.request()

        def run() -> tuple[int, str, int, int]:
            gov = s.governance()
            call = build_call(gov, s.milon, req)
            gov.can_propose(call).require()
            pid = gov.propose(s.account, call)
            return pid, call.description, gov.snapshot(pid), gov.votes(s.address)

        def done(result: tuple[int, str, int, int]) -> str:
            pid, text, snapshot, votes = result
            self.form.description.clear()
            warn = (" You have no voting power: delegate before that block to vote on it."
                    if votes == 0 else "")
            return f"Proposed {str(pid)[:8]}… {text!r}: voting opens after block {snapshot}.{warn}"

        self.act("Propose", run, done)

    def mine(self) -> None:
        client = self.ctx.session.core.suite.client
        self.act(f"Mine {MINE_BLOCKS} blocks", lambda: client.mine(MINE_BLOCKS))

    def warp(self) -> None:
        s = self.ctx.session

        def run() -> int:
            delay = s.governance().timelock_delay() + 1
            s.core.suite.client.increase_time(delay)  # mines a block carrying the new time
            return delay

        self.act("Advance time", run, lambda d: f"Advanced chain time by {duration(d)}")
