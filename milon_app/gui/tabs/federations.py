"""Federations tab: browse what is on chain, join with a stake, top up, leave, withdraw.

"Join with an invite…" joins the federation a pasted invite names, when the
invite is for this node's own chain and deployment (checked on chain as
``milon join`` checks it); another network is the setup wizard's job.

Joining registers the capacity score from the Node tab's benchmark (or one
typed in) and this node's peer addresses, so members can fetch its blobs. A
member slashed below the minimum stake is suspended until it tops up; a
leaving member's stake unlocks at its ``withdrawable_at`` once the rounds it
accepted have closed.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from PySide6.QtWidgets import (
    QComboBox,
    QHBoxLayout,
    QLineEdit,
    QPushButton,
    QSpinBox,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from milon_app.chain.bindings import Admission, Federation, Member
from milon_app.errors import BadInputError
from milon_app.gui.context import GuiContext
from milon_app.gui.invite import InviteJoinDialog
from milon_app.gui.tabs.base import Tab
from milon_app.gui.widgets import fill, form_box, hint, selected_key, table
from milon_app.units import parse_amount, short_address, short_amount


@dataclass(frozen=True)
class FedRow:
    fed_id: int
    fed: Federation
    mine: Member


@dataclass(frozen=True)
class FedData:
    rows: list[FedRow]
    members: dict[int, list[tuple[str, Member]]]
    now: int


def _status(m: Member, now: int = 0) -> str:
    if m.suspended:
        return "suspended: top up"
    if m.active:
        return "member"
    if m.stake and now and now < m.withdrawable_at:
        return f"leaving: stake locked {_wait(m.withdrawable_at - now)}"
    if m.stake:
        return "stake to withdraw"
    return ""


def _wait(seconds: int) -> str:
    return f"{seconds // 60} min more" if seconds >= 60 else f"{seconds} s more"


class FederationsTab(Tab):
    title = "Federations"

    def __init__(self, ctx: GuiContext) -> None:
        super().__init__(ctx)
        self.feds = table(
            ["ID", "Name", "Members", "Total capacity", "Min stake", "Admission", "You"], stretch=1
        )
        self.feds.itemSelectionChanged.connect(self._show_members)
        self.members = table(["Member", "Stake", "Capacity", "Status", "Peer"], stretch=4)
        self.empty_hint = hint("")
        self.stake = QLineEdit("50")
        self.capacity = QSpinBox()
        self.capacity.setRange(1, 10_000_000)
        self.capacity.setValue(100)
        self.join_button = QPushButton("Join")
        self.join_button.clicked.connect(self.join)
        self.leave_button = QPushButton("Request to leave")
        self.leave_button.clicked.connect(self.leave)
        self.withdraw_button = QPushButton("Withdraw stake")
        self.withdraw_button.clicked.connect(self.withdraw)
        self.top_up_button = QPushButton("Add to stake")
        self.top_up_button.setToolTip(
            "Add the amount above to your stake (a suspended member "
            "returns once it reaches the minimum)"
        )
        self.top_up_button.clicked.connect(self.top_up)
        self.invite_button = QPushButton("Join with an invite…")
        self.invite_button.setToolTip(
            "Paste an invite (`milon fed invite`) to a federation on this node's chain"
        )
        self.invite_button.clicked.connect(self.open_invite_dialog)
        self.invite_dialog: InviteJoinDialog | None = None
        self._offered: int | None = None  # the federation an invite named, to select once
        self.new_name = QLineEdit()
        self.new_name.setPlaceholderText("name of the new federation")
        self.new_min = QLineEdit("10")
        self.new_admission = QComboBox()
        self.new_admission.addItems(["open", "by governance vote"])
        self.create_button = QPushButton("Create federation")
        self.create_button.clicked.connect(self.create_federation)
        self._data: FedData | None = None
        self._layout()

    def _layout(self) -> None:
        top = QWidget()
        tv = QVBoxLayout(top)
        tv.addWidget(self.feds, 2)
        tv.addWidget(self.empty_hint)
        tv.addWidget(self.members, 2)
        join = form_box(
            "Join the selected federation",
            [
                ("Stake (MILON)", self.stake),
                ("Capacity score", self.capacity),
            ],
        )
        row = QHBoxLayout()
        for b in (self.join_button, self.top_up_button, self.leave_button, self.withdraw_button):
            row.addWidget(b)
        join_v = QVBoxLayout()
        join_v.addWidget(join)
        join_v.addLayout(row)
        join_v.addWidget(self.invite_button)
        join_v.addWidget(
            hint(
                "Your stake is locked while you are a member and can be slashed when an update "
                "of yours is rejected or missing; slashed below the minimum, you are suspended "
                "until you add to it. Leaving stops new work at once: your node finishes the "
                "rounds it accepted, and you withdraw after the cooldown."
            )
        )
        create = form_box(
            "Found a federation",
            [
                ("Name", self.new_name),
                ("Min stake (MILON)", self.new_min),
                ("Admission", self.new_admission),
            ],
        )
        side = QWidget()
        sv = QVBoxLayout(side)
        sv.addLayout(join_v)
        sv.addWidget(create)
        sv.addWidget(self.create_button)
        sv.addStretch(1)
        split = QSplitter()
        split.addWidget(top)
        split.addWidget(side)
        split.setSizes([760, 400])
        outer = QVBoxLayout(self)
        outer.addWidget(split, 1)
        outer.addWidget(self.message)

    # -- reading -------------------------------------------------------------------------------
    def load(self) -> FedData:
        s = self.ctx.session
        m = s.milon
        rows, members = [], {}
        for fed_id in range(1, m.federation_count() + 1):
            rows.append(FedRow(fed_id, m.federation(fed_id), m.member(fed_id, s.address)))
            members[fed_id] = [(a, m.member(fed_id, a)) for a in m.members(fed_id)]
        return FedData(rows, members, s.core.suite.client.now())

    def show_data(self, data: FedData) -> None:
        self._data = data
        fill(
            self.feds,
            [
                [
                    r.fed_id,
                    r.fed.name,
                    r.fed.member_count,
                    r.fed.total_capacity,
                    short_amount(r.fed.min_stake),
                    "open" if r.fed.admission is Admission.OPEN else "governance vote",
                    _status(r.mine, data.now),
                ]
                for r in data.rows
            ],
            keys=[r.fed_id for r in data.rows],
        )
        if not data.rows:
            self.empty_hint.setText("No federation on this chain yet: found one on the right.")
        else:
            self.empty_hint.setText("Select a federation to see its members.")
            if self.feds.currentRow() < 0:
                self.feds.selectRow(0)
            self._select_offered(data)
        if self.ctx.session.capacity and self.capacity.value() == 100:
            self.capacity.setValue(self.ctx.session.capacity)
        self._show_members()

    def _show_members(self) -> None:
        fed_id = selected_key(self.feds)
        if self._data is None or fed_id is None:
            return
        rows = self._data.members.get(fed_id, [])
        now = self._data.now
        fill(
            self.members,
            [
                [
                    short_address(a),
                    short_amount(mb.stake),
                    mb.capacity,
                    _status(mb, now),
                    mb.peer_info.split("/p2p/")[-1][:16] if mb.peer_info else "",
                ]
                for a, mb in rows
            ],
        )
        mine = next((r.mine for r in self._data.rows if r.fed_id == fed_id), None)
        member = bool(mine and (mine.active or mine.suspended))
        self.join_button.setEnabled(mine is None or not (member or mine.stake))
        self.top_up_button.setEnabled(member)
        self.leave_button.setEnabled(member)
        self.withdraw_button.setEnabled(bool(mine and not member and mine.stake))

    def offer(self, fed_id: int) -> None:
        """Select ``fed_id`` (the setup wizard's invite named it) once it is listed."""
        self._offered = fed_id
        if self._data is not None:
            self._select_offered(self._data)

    def _select_offered(self, data: FedData) -> None:
        fed_id, self._offered = self._offered, None
        if fed_id is None:
            return
        ids = [r.fed_id for r in data.rows]
        if fed_id not in ids:
            self.say(f"The invite's federation {fed_id} is not on this chain", error=True)
            return
        self.feds.selectRow(ids.index(fed_id))
        self.say(
            f"Federation {fed_id} from your invite is selected: enter your stake and capacity, "
            "then press Join"
        )

    # -- actions -------------------------------------------------------------------------------
    def _fed(self) -> int:
        fed_id = selected_key(self.feds)
        if fed_id is None:
            raise BadInputError("select a federation first")
        return int(fed_id)

    def join(self) -> None:
        try:
            fed_id = self._fed()
            stake = parse_amount(self.stake.text(), "stake")
        except BadInputError as exc:
            self.say(str(exc), error=True)
            return
        capacity = self.capacity.value()
        self.act(f"Join federation {fed_id}", lambda: self._join_now(fed_id, stake, capacity))

    def _join_now(self, fed_id: int, stake: int, capacity: int) -> None:
        """Refuse a stake under the minimum or over the balance, then join. Blocking."""
        s = self.ctx.session
        node = s.core
        fed = node.milon.federation(fed_id)
        if stake < fed.min_stake:
            raise BadInputError(
                f"stake {short_amount(stake)} MILON is below this federation's minimum of "
                f"{short_amount(fed.min_stake)}"
            )
        balance = node.milon.balance(s.address)
        if stake > balance:
            raise BadInputError(
                f"stake {short_amount(stake)} MILON exceeds your balance of "
                f"{short_amount(balance)}"
            )
        from milon_app.node.peer_info import peer_info_text

        info = peer_info_text(node.transport.listen_addrs())  # fits the registry's limit
        node.join(fed_id, stake, capacity, info or f"node:{s.address}")

    def open_invite_dialog(self) -> None:
        if self.invite_dialog is not None:  # one at a time, not one more child per click
            self.invite_dialog.deleteLater()
        self.invite_dialog = InviteJoinDialog(self.capacity.value(), self)
        self.invite_dialog.join_requested.connect(self.join_invite)
        self.invite_dialog.open()

    def join_invite(self, text: str, stake_text: str, capacity: int) -> None:
        """Join the invite's federation: same chain and deployment as this node's (no new
        settings), checked on chain as `milon join` checks it, then the Join button's rules."""
        s = self.ctx.session
        try:
            stake = parse_amount(stake_text, "stake") if stake_text else None
        except BadInputError as exc:
            self.say(str(exc), error=True)
            return

        def run() -> int:
            from milon_app.chain.invite import parse_invite
            from milon_app.session.invite_join import check_on_chain, check_same_chain

            invite = parse_invite(text)
            check_same_chain(invite, s.core.suite.manifest)
            min_stake = check_on_chain(invite)
            self._join_now(invite.federation, min_stake if stake is None else stake, capacity)
            return invite.federation

        self.act("Join with an invite", run, lambda fed_id: f"Joined federation {fed_id}")

    def top_up(self) -> None:
        s = self.ctx.session
        try:
            amount = parse_amount(self.stake.text(), "amount to add")
            if amount == 0:
                raise BadInputError("the amount to add must be more than 0 MILON")
        except BadInputError as exc:
            self.say(str(exc), error=True)
            return

        def run(fed_id: int) -> str:
            before = s.milon.member(fed_id, s.address)
            if amount > s.milon.balance(s.address):
                raise BadInputError(f"adding {short_amount(amount)} MILON exceeds your balance")
            s.milon.add_stake(s.account, fed_id, amount)
            after = s.milon.member(fed_id, s.address)
            back = " — reinstated" if before.suspended and not after.suspended else ""
            return f"Stake now {short_amount(after.stake)} MILON{back}"

        self._on_selected("Add to stake in federation", run, lambda text: str(text))

    def leave(self) -> None:
        s = self.ctx.session
        self._on_selected(
            "Leave federation",
            lambda f: s.milon.request_leave(s.account, f),
            lambda _r: (
                "Leave requested: no new work; your node finishes the "
                "rounds it accepted. Withdraw your stake after the cooldown."
            ),
        )

    def withdraw(self) -> None:
        s = self.ctx.session
        self._on_selected(
            "Withdraw stake from federation", lambda f: s.milon.withdraw_stake(s.account, f)
        )

    def _on_selected(
        self, what: str, fn: Callable[[int], object], done: Callable[[object], str] | None = None
    ) -> None:
        try:
            fed_id = self._fed()
        except BadInputError as exc:
            self.say(str(exc), error=True)
            return
        self.act(f"{what} {fed_id}", lambda: fn(fed_id), done)

    def create_federation(self) -> None:
        s = self.ctx.session
        name = self.new_name.text().strip()
        try:
            if not name:
                raise BadInputError("give the new federation a name")
            min_stake = parse_amount(self.new_min.text(), "minimum stake")
        except BadInputError as exc:
            self.say(str(exc), error=True)
            return
        admission = Admission.OPEN if self.new_admission.currentIndex() == 0 else Admission(1)
        self.act(
            f"Create federation {name!r}",
            lambda: s.milon.create_federation(s.account, name, b"\x00" * 32, min_stake, admission),
            lambda fed_id: f"Federation {fed_id} created",
        )
