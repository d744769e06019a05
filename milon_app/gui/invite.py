""""Join with an invite" in the window: the wizard's invite field and the Federations tab's dialog.

Both check an invite exactly as ``milon join`` does
(:mod:`milon_app.session.invite_join`), on the task runner because the checks
ask the invite's RPCs. A refused invite shows its reason and writes nothing.
"""

from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QHBoxLayout,
    QLineEdit,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from milon_app.chain.invite import Invite, parse_invite
from milon_app.gui.tasks import TaskRunner, describe_error
from milon_app.gui.widgets import error_label, hint
from milon_app.units import short_amount

PLACEHOLDER = "milon://join/… (from `milon fed invite` or the federation's owner)"


def checked_invite(text: str) -> tuple[Invite, int]:
    """The invite and its federation's minimum stake, once the chain agrees. Blocking."""
    from milon_app.session.invite_join import check_on_chain

    invite = parse_invite(text)
    return invite, check_on_chain(invite)


class InviteField(QWidget):
    """Paste an invite, press "Use invite": checked on chain on a worker, then ``accepted``
    carries it; a refusal shows the reason here, and ``cleared`` drops any earlier one.

    Signals, not stored callbacks: a callback holding its page would make a reference cycle,
    and Python's collector may then delete the widgets later on any thread (a crash in Qt)."""

    accepted_invite = Signal(object)  # the Invite
    cleared = Signal()

    def __init__(self, runner: TaskRunner) -> None:
        super().__init__()
        self.runner = runner
        self.checking = False
        self.accepted = ""  # the text of the invite the chain agreed with
        self._asked = 0  # the latest check: an older answer arriving late is ignored
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        row = QHBoxLayout()
        self.edit = QLineEdit()
        self.edit.setPlaceholderText(PLACEHOLDER)
        self.button = QPushButton("Use invite")
        self.button.clicked.connect(self.use)
        self.edit.returnPressed.connect(self.use)
        row.addWidget(self.edit, 1)
        row.addWidget(self.button)
        lay.addLayout(row)
        self.status = hint("Or choose the network below.")
        lay.addWidget(self.status)
        self.error = error_label()
        lay.addWidget(self.error)

    def use(self) -> None:
        text = self.edit.text().strip()
        self.cleared.emit()
        self.accepted = ""
        self.error.setText("")
        if not text:
            self.error.setText("paste an invite first (it starts with milon://join/)")
            return
        self._asked += 1
        asked = self._asked
        self.checking = True
        self.status.setText("Checking the invite on its chain…")
        self.runner.run(
            lambda: checked_invite(text),
            lambda got: self._checked(asked, text, got),
            lambda exc: self._failed(asked, exc),
            what="check the invite",
        )

    def unused(self) -> bool:
        """Text is in the field that the chain has not agreed with (refused, or not checked)."""
        text = self.edit.text().strip()
        return bool(text) and text != self.accepted

    def _checked(self, asked: int, text: str, got: tuple[Invite, int]) -> None:
        if asked != self._asked:
            return
        self.checking = False
        invite, min_stake = got
        self.accepted = text
        self.status.setText(
            f"Invite checked on chain {invite.manifest.chain_id}: federation {invite.federation} "
            f"(minimum stake {short_amount(min_stake)} MILON). Its settings are filled in below; "
            "nothing is written before Finish."
        )
        self.accepted_invite.emit(invite)

    def _failed(self, asked: int, exc: BaseException) -> None:
        if asked != self._asked:
            return
        self.checking = False
        self.status.setText("")
        self.error.setText(f"Invite refused: {describe_error(exc)}. Nothing was written.")


class InviteJoinDialog(QDialog):
    """The invite and what to stake; OK emits them (the tab checks and joins)."""

    join_requested = Signal(str, str, int)  # invite, stake as typed, capacity

    def __init__(self, capacity: int, parent: QWidget | None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Join with an invite")
        lay = QVBoxLayout(self)
        lay.addWidget(
            hint(
                "An invite to a federation on the chain this node already uses. One for "
                "another network is refused: switch networks with the setup wizard or "
                "`milon join --force`."
            )
        )
        form = QFormLayout()
        self.invite = QLineEdit()
        self.invite.setPlaceholderText(PLACEHOLDER)
        self.stake = QLineEdit()
        self.stake.setPlaceholderText("empty: the federation's minimum")
        self.capacity = QSpinBox()
        self.capacity.setRange(1, 10_000_000)
        self.capacity.setValue(capacity)
        form.addRow("Invite", self.invite)
        form.addRow("Stake (MILON)", self.stake)
        form.addRow("Capacity score", self.capacity)
        lay.addLayout(form)
        self.error = error_label()
        lay.addWidget(self.error)
        buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
        )
        self.ok = buttons.button(QDialogButtonBox.StandardButton.Ok)
        self.ok.setText("Join")
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        lay.addWidget(buttons)

    def accept(self) -> None:
        if not self.invite.text().strip():
            self.error.setText("paste an invite first (it starts with milon://join/)")
            return
        self.join_requested.emit(
            self.invite.text().strip(), self.stake.text().strip(), self.capacity.value()
        )
        super().accept()
