"""The Governance tab's parts: the "Create proposal" templates, input checks, cell text.

The form only collects text on the GUI thread (:meth:`ProposalForm.request`);
:func:`build_call` validates it and reads what it needs from the chain (a
release's model hash) on a worker thread, so a wrong entry is reported the
same way as a failed transaction.
"""

from __future__ import annotations

from dataclasses import dataclass

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QComboBox,
    QFrame,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QSpinBox,
    QStackedWidget,
    QVBoxLayout,
    QWidget,
)

from milon_app import units
from milon_app.chain.bindings import JobStatus, Milon
from milon_app.chain.governance import PARAMETERS, Governance, ProposalCall, ProposalState
from milon_app.chain.proposals import ProposalStatus
from milon_app.errors import BadInputError
from milon_app.gui.widgets import hint, value_label
from milon_app.session.parameters import (
    AMOUNT_PARAMETERS,
    check_parameter,
    check_slash,
    unit_of,
)
from milon_app.units import WEI, duration, parse_amount, short_address, short_amount

TEMPLATES = (
    ("param", "Change a parameter"),
    ("admit", "Admit a member"),
    ("remove", "Remove a member"),
    ("slash", "Slash a member"),
    ("release", "Approve a model release"),
)
MAX_UINT = 2**256 - 1
LABEL_WIDTH = 90


def check_address(text: str, what: str = "address") -> str:
    """A typed address: surrounding spaces are a paste artefact, an empty field says so."""
    value = text.strip()
    if not value:
        raise BadInputError(f"{what} is empty: enter an account address (0x + 40 hex digits)")
    return units.check_address(value, what)


def parse_value(name: str, text: str) -> int:
    """A parameter's new value: MILON for amounts, a whole number for the rest."""
    if name in AMOUNT_PARAMETERS:
        return parse_amount(text, name)
    try:
        value = int(text.strip())
    except ValueError:
        raise BadInputError(f"{name} must be a whole number, got {text.strip()!r}") from None
    if not 0 <= value <= MAX_UINT:
        raise BadInputError(f"{name} must be 0 or more, got {value}")
    return value


@dataclass(frozen=True)
class ProposalRequest:
    """What the form holds, as typed: plain data that may cross to a worker thread."""

    template: str
    parameter: str = ""
    value: str = ""
    fed_id: int = 0
    address: str = ""
    job_id: int = 0
    uri: str = ""
    amount: str = ""  # MILON, for a slash
    reason: str = ""  # a slash's stated reason (on chain, 1..32 bytes)
    description: str = ""


def build_call(gov: Governance, milon: Milon, req: ProposalRequest) -> ProposalCall:
    """Check the request and turn it into the governor call (worker thread: reads the chain)."""
    text = req.description.strip()
    if req.template == "param":
        value = parse_value(req.parameter, req.value)
        check_parameter(milon, req.parameter, value)
        return gov.set_parameter(req.parameter, value, text)
    if req.template == "slash":
        return _slash_call(gov, milon, req, text)
    if req.template in ("admit", "remove"):
        who = check_address(req.address, "member address")
        if req.template == "admit":
            return gov.admit_member(req.fed_id, who, text)
        return gov.remove_member(req.fed_id, who, text)
    if req.template == "release":
        if not req.uri.strip():
            raise BadInputError("the release URI is empty: say where the model can be fetched")
        if not 1 <= req.job_id <= milon.job_count():
            raise BadInputError(f"there is no job {req.job_id} on this chain")
        job = milon.job(req.job_id)
        if job.status is not JobStatus.COMPLETED or not any(job.final_model_hash):
            raise BadInputError(
                f"job {req.job_id} is {job.status.name.lower()}: only a completed job's final "
                "model can be released"
            )
        return gov.approve_release(req.job_id, job.final_model_hash, req.uri.strip(), text)
    raise BadInputError(f"unknown proposal template {req.template!r}")


def _slash_call(gov: Governance, milon: Milon, req: ProposalRequest, text: str) -> ProposalCall:
    who = check_address(req.address, "member address")
    amount = parse_amount(req.amount, "slash amount")
    if amount == 0:
        raise BadInputError("the slash amount must be more than 0 MILON")
    if not req.reason.strip():
        raise BadInputError("a slash needs a reason: it is recorded on chain with the slash")
    if not 1 <= req.fed_id <= milon.federation_count():
        raise BadInputError(f"there is no federation {req.fed_id} on this chain")
    check_slash(milon, req.fed_id, who, amount)
    return gov.slash_member(req.fed_id, who, amount, req.reason.strip(), text)


class ProposalForm(QGroupBox):
    """One template at a time: a combo picks it, a stacked page holds its fields."""

    def __init__(self) -> None:
        super().__init__("Create proposal")
        self.template = QComboBox()
        for key, label in TEMPLATES:
            self.template.addItem(label, key)
        self.pages = QStackedWidget()
        self.template.currentIndexChanged.connect(self.pages.setCurrentIndex)

        self.parameter = QComboBox()
        self.parameter.addItems(list(PARAMETERS))
        self.value = QLineEdit()
        self.value.setPlaceholderText("new value")
        self.meaning = hint("")
        self.parameter.currentTextChanged.connect(self._value_hint)
        self._value_hint(self.parameter.currentText())
        self._page([("Parameter", self.parameter), ("New value", self.value),
                    ("", self.meaning)])

        self.fed_id = _id_spin()
        self.address = QLineEdit()
        self.address.setPlaceholderText("0x… the member's account")
        self._page([("Federation", self.fed_id), ("Account", self.address)])
        self.remove_fed_id = _id_spin()
        self.remove_address = QLineEdit()
        self.remove_address.setPlaceholderText("0x… the member's account")
        self._page([("Federation", self.remove_fed_id), ("Account", self.remove_address)])
        self.slash_fed_id = _id_spin()
        self.slash_address = QLineEdit()
        self.slash_address.setPlaceholderText("0x… the member's account")
        self.slash_amount = QLineEdit()
        self.slash_amount.setPlaceholderText("MILON, at most gov-slash-cap-bps of its stake")
        self.slash_reason = QLineEdit()
        self.slash_reason.setMaxLength(32)
        self.slash_reason.setPlaceholderText("why (recorded on chain, up to 32 bytes)")
        self._page([("Federation", self.slash_fed_id), ("Account", self.slash_address),
                    ("Amount", self.slash_amount), ("Reason", self.slash_reason)])

        self.job_id = _id_spin()
        self.uri = QLineEdit()
        self.uri.setPlaceholderText("where the model can be fetched, e.g. ipfs://…")
        self._page([("Job", self.job_id), ("URI", self.uri)])

        self.description = QLineEdit()
        self.description.setPlaceholderText("optional: a sentence voters will read")
        self.propose_btn = QPushButton("Propose")
        lay = QVBoxLayout(self)
        lay.addWidget(rows_widget([("Kind", self.template)]))
        lay.addWidget(self.pages)
        lay.addWidget(rows_widget([("Description", self.description)]))
        lay.addWidget(self.propose_btn)
        lay.addWidget(
            hint(
                "A release uses the job's final model hash from the chain. Voting opens one "
                "block after proposing; only votes delegated before then count."
            )
        )
        lay.addStretch(1)

    def _page(self, rows: list[tuple[str, QWidget]]) -> None:
        self.pages.addWidget(rows_widget(rows))

    def _value_hint(self, name: str) -> None:
        units = {"MILON": "in MILON, e.g. 2.5", "bps": "basis points: 100 = 1%", "s": "seconds"}
        self.value.setPlaceholderText(f"new value ({units.get(unit_of(name), 'a whole number')})")
        self.meaning.setText(PARAMETERS.get(name, ""))

    def pick_parameter(self, name: str) -> None:
        """Open the parameter template on ``name`` (a row picked in the parameter list)."""
        self.select("param")
        self.parameter.setCurrentText(name)

    def select(self, template: str) -> None:
        keys = [k for k, _label in TEMPLATES]
        self.template.setCurrentIndex(keys.index(template))

    def request(self) -> ProposalRequest:
        """The current template's fields as typed (GUI thread: reads widgets only)."""
        key = str(self.template.currentData())
        fed, who = {
            "remove": (self.remove_fed_id, self.remove_address),
            "slash": (self.slash_fed_id, self.slash_address),
        }.get(key, (self.fed_id, self.address))
        return ProposalRequest(
            template=key,
            parameter=self.parameter.currentText(),
            value=self.value.text(),
            fed_id=fed.value(),
            address=who.text(),
            job_id=self.job_id.value(),
            uri=self.uri.text(),
            amount=self.slash_amount.text(),
            reason=self.slash_reason.text(),
            description=self.description.text(),
        )


def _add_rows(grid: QGridLayout, rows: list[tuple[str, QWidget]]) -> None:
    """Label and field pairs; labels share one width so stacked forms line up."""
    grid.setColumnStretch(1, 1)
    for i, (text, widget) in enumerate(rows):
        label = QLabel(text)
        label.setMinimumWidth(LABEL_WIDTH)
        label.setAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        grid.addWidget(label, i, 0)
        grid.addWidget(widget, i, 1)


def rows_widget(rows: list[tuple[str, QWidget]]) -> QWidget:
    widget = QWidget()
    grid = QGridLayout(widget)
    grid.setContentsMargins(0, 0, 0, 0)
    _add_rows(grid, rows)
    return widget


def _id_spin() -> QSpinBox:
    spin = QSpinBox()
    spin.setRange(1, 1_000_000_000)
    return spin


class NoPowerBanner(QFrame):
    """The most common surprise, said plainly: undelegated tokens do not vote."""

    def __init__(self) -> None:
        super().__init__()
        self.setObjectName("warning-banner")
        self.setStyleSheet(
            "#warning-banner { background: #fff3cd; border: 1px solid #e0c36c; "
            "border-radius: 4px; } #warning-banner QLabel { color: #5c4400; }"
        )
        self.label = QLabel("")
        self.label.setWordWrap(True)
        self.delegate_self_btn = QPushButton("Delegate to myself")
        lay = QHBoxLayout(self)
        lay.addWidget(self.label, 1)
        lay.addWidget(self.delegate_self_btn)
        self.hide()

    def show_for(self, votes: int, balance: int, delegate: str) -> None:
        """Shown only when nothing is delegated (delegating elsewhere is a choice)."""
        self.label.setText(
            f"You have no voting power: your {amount(balance)} MILON count only once they are "
            "delegated. Delegate to yourself (or to another member) before a proposal's voting "
            "opens to vote on it."
        )
        self.setVisible(votes == 0 and not delegate)


class VotesBox(QGroupBox):
    """The user's voting power and where their votes go."""

    def __init__(self) -> None:
        super().__init__("Your votes")
        self.power = value_label()
        self.balance = value_label()
        self.delegate = value_label()
        self.edit = QLineEdit()
        self.edit.setPlaceholderText("0x… another member's address")
        self.delegate_btn = QPushButton("Delegate")
        grid = QGridLayout(self)
        rows = [("Voting power", self.power), ("Balance", self.balance),
                ("Delegated to", self.delegate), ("Delegate to", self.edit)]
        _add_rows(grid, rows)
        grid.addWidget(self.delegate_btn, 3, 2)
        grid.addWidget(hint("Tokens vote only once delegated; delegating keeps them in your "
                            "wallet and can be changed at any time."), 4, 0, 1, 3)

    def show_votes(self, votes: int, balance: int, delegate: str, me: str) -> None:
        self.power.setText(f"{amount(votes)} votes")
        self.balance.setText(f"{amount(balance)} MILON")
        if not delegate:
            self.delegate.setText("nobody")
        else:
            self.delegate.setText("yourself" if delegate == me else short_address(delegate))
        self.delegate.setToolTip(delegate)


class AdvanceBox(QGroupBox):
    """Dev chains only: skip the voting period and the timelock instead of waiting them out."""

    def __init__(self, blocks: int) -> None:
        super().__init__("Advance chain (dev chain only)")
        self.mine_btn = QPushButton(f"Mine {blocks} blocks")
        self.warp_btn = QPushButton("Advance time past the timelock")
        row = QHBoxLayout()
        row.addWidget(self.mine_btn)
        row.addWidget(self.warp_btn)
        lay = QVBoxLayout(self)
        lay.addLayout(row)
        lay.addWidget(hint("Voting lasts a number of blocks and the timelock a span of time; "
                           "here both can be skipped to see a proposal through."))
        self.hide()  # shown once a load confirms a dev chain


# -- cell text ---------------------------------------------------------------------------------
def amount(wei: int) -> str:
    """Whole tokens without decimals (tallies are large), decimals only when they matter."""
    return short_amount(wei, 0 if wei % WEI == 0 else 2)


def time_left(st: ProposalStatus, now: int) -> str:
    if st.state is ProposalState.PENDING:
        return f"opens in {st.opens_in} blocks"
    if st.state is ProposalState.ACTIVE:
        return f"{st.blocks_left} blocks left"
    if st.state is ProposalState.QUEUED:
        return f"executable in {duration(st.eta - now)}" if st.eta > now else "executable now"
    return ""


def quorum_text(st: ProposalStatus) -> tuple[str, str]:
    """("votes / quorum", "percent"); the quorum is unknown until the snapshot block."""
    if st.quorum is None:
        return "after the snapshot", ""
    frac = st.quorum_fraction or 0.0
    return f"{amount(st.quorum_votes)} / {amount(st.quorum)}", f"{frac:.0%}"
