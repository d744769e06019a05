"""Simulate tab: ``milon demo`` inside the app, on the simulated network's own chain.

A newcomer learns what the knobs do (the rule, byzantine members, the data
mode and its skew, the committee's size) by running a whole federation and
watching every other tab react: the demo's nodes publish on the session's
bus, so the Training, Jobs and Wallet tabs show the run live. The run
blocks for minutes, so it goes through the task runner; its per-round
callback fires on that worker and reaches the table through a signal.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QProgressBar,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
)

from milon_app.chain.bindings import DEPLOYED_COMMITTEE
from milon_app.demo import RULES, DemoOptions, DemoReport, DemoStopped, RoundRow
from milon_app.errors import BadInputError
from milon_app.gui.context import GuiContext
from milon_app.gui.tabs.base import Tab
from milon_app.gui.tasks import describe_error
from milon_app.gui.widgets import fill, form_box, hint, show_error, table, value_label
from milon_app.node.behaviour import ATTACKS
from milon_app.units import short_address, short_amount

DATASETS = ("digits", "wine", "breast_cancer")
PARTITIONS = ("iid", "dirichlet:1", "dirichlet:0.3", "dirichlet:0.1", "shards:2")
COLUMNS = ["Round", "Outcome", "Accuracy", "Epochs per node", "Accepted", "Rejected (reason)",
           "Committee", "Rewards (MILON)", "Validators paid (MILON)", "Gas"]
LIVE_HINT = (
    "The run uses this app's simulated chain and event bus: while it runs, the Training "
    "tab charts the demo nodes' loss, and the Jobs and Governance tabs show its job and "
    "proposal as they happen."
)


def _pct(value: float | None) -> str:
    return f"{value:.1%}" if value is not None else "—"


def _per_node(values: dict[str, Any], fmt: Any = str) -> str:
    return ", ".join(f"{short_address(a)}: {fmt(v)}" for a, v in values.items())


def _committee(row: RoundRow) -> str:
    """``0x12…cdef ✓``: a seat that voted, ``✗`` one that did not."""
    return ", ".join(f"{short_address(c['address'])} {'✓' if c['voted'] else '✗'}"
                     for c in row.committee) or "none"


def row_cells(row: RoundRow) -> list[Any]:
    """One table row; addresses shortened, every rejection with its reason."""
    return [
        row.round,
        row.outcome,
        _pct(row.accuracy),
        _per_node(row.epochs),
        ", ".join(short_address(a) for a in row.accepted) or "none",
        "; ".join(f"{short_address(a)}: {why}" for a, why in row.rejected.items()) or "none",
        _committee(row),
        _per_node(row.rewards, short_amount),
        _per_node(row.validator_rewards, short_amount) or "none",
        f"{row.gas_used:,}",
    ]


class SimulateTab(Tab):
    title = "Simulate"
    _round_done = Signal(object, int)  # RoundRow, total rounds: from the demo's worker thread

    def __init__(self, ctx: GuiContext) -> None:
        super().__init__(ctx)
        self.rows: list[RoundRow] = []
        self.live_rounds = 0  # rounds that reached the table while the run was going
        self.report: DemoReport | None = None
        self._round_done.connect(self._on_round)
        self._build()

    # -- layout --------------------------------------------------------------------------------
    def _build(self) -> None:
        sim = self.ctx.session.sim
        max_nodes = max(2, len(sim.spare_accounts) - 1) if sim is not None else 2
        self.nodes = self._spin(2, max_nodes, min(4, max_nodes))
        self.nodes.setToolTip(f"This chain has spare accounts for {max_nodes} demo nodes")
        self.rounds = self._spin(1, 100, 3)
        self.epochs = self._spin(0, 500, 0)
        self.epochs.setSpecialValueText("auto (5 per node)")
        self.rule = QComboBox()
        self.rule.addItems(list(RULES))
        self.byzantine = self._spin(0, 63, 0)
        self.attack = QComboBox()
        self.attack.addItems(list(ATTACKS))
        self.dataset = QComboBox()
        self.dataset.addItems(list(DATASETS))
        self.seed = self._spin(0, 2**31 - 1, 0)
        self.data_mode = QComboBox()
        self.data_mode.addItems(["federated", "shared"])
        self.partition = QComboBox()
        self.partition.setEditable(True)  # any dirichlet:ALPHA or shards:K, checked on Run
        self.partition.addItems(list(PARTITIONS))
        self.partition.setToolTip("How the nodes' data is split: iid, dirichlet:ALPHA (label "
                                  "skew, smaller is more skewed) or shards:K (K label shards each)")
        self.committee = self._spin(0, DEPLOYED_COMMITTEE[2], 0)
        self.committee.setSpecialValueText("governed default")
        self.committee.setToolTip("Validators drawn by stake each round (3..31, or all nodes "
                                  "when fewer)")
        self.validation = QComboBox()
        self.validation.addItems(["owner", "local"])
        self.validation.setToolTip("What the committee judges updates on: samples the owner "
                                   "publishes, or a held-out share of each validator's own data")
        self.governance = QCheckBox("pass a proposal afterwards")
        self.governance.setChecked(True)
        self.baseline = QCheckBox("train a centralized baseline")
        self.baseline.setChecked(True)
        self.run_button = QPushButton("Run simulation")
        self.run_button.setDefault(True)
        self.run_button.clicked.connect(self.run)
        form = form_box("Options", [
            ("Nodes", self.nodes),
            ("Rounds", self.rounds),
            ("Epochs per round", self.epochs),
            ("Aggregation rule", self.rule),
            ("Byzantine nodes", self.byzantine),
            ("Attack", self.attack),
            ("Dataset", self.dataset),
            ("Seed", self.seed),
            ("Data", self.data_mode),
            ("Data split", self.partition),
            ("Committee size", self.committee),
            ("Judged on", self.validation),
            ("Governance", self.governance),
            ("Baseline", self.baseline),
        ])
        form.setMaximumWidth(420)
        self.bar = QProgressBar()
        self.bar.setRange(0, 1)
        self.bar.setValue(0)
        self.bar.setFormat("Not started")
        self.table = table(COLUMNS, stretch=4)
        self.final = value_label()
        self.central = value_label()
        self.slashed = value_label()
        self.slashed.setWordWrap(True)
        self.gov = value_label()
        self.gov.setWordWrap(True)
        self.wall = value_label()
        summary = QGroupBox("Summary")
        sg = QGridLayout(summary)
        for i, (label, widget) in enumerate([
            ("Final accuracy", self.final), ("Centralized baseline", self.central),
            ("Slashed", self.slashed), ("Governance", self.gov), ("Wall time", self.wall),
        ]):
            sg.addWidget(hint(label), i // 2, (i % 2) * 2)
            sg.addWidget(widget, i // 2, (i % 2) * 2 + 1)
        sg.setColumnStretch(1, 1)
        sg.setColumnStretch(3, 1)
        left = QVBoxLayout()
        left.addWidget(form)
        buttons = QHBoxLayout()
        buttons.addWidget(self.run_button)
        buttons.addStretch(1)
        left.addLayout(buttons)
        left.addWidget(hint(LIVE_HINT))
        left.addStretch(1)
        right = QVBoxLayout()
        right.addWidget(self.bar)
        right.addWidget(self.table, 1)
        right.addWidget(summary)
        body = QHBoxLayout()
        body.addLayout(left)
        body.addLayout(right, 1)
        outer = QVBoxLayout(self)
        outer.addLayout(body, 1)
        outer.addWidget(self.message)

    @staticmethod
    def _spin(low: int, high: int, value: int) -> QSpinBox:
        box = QSpinBox()
        box.setRange(low, high)
        box.setValue(value)
        return box

    # -- running -------------------------------------------------------------------------------
    def options(self) -> DemoOptions:
        session = self.ctx.session
        return DemoOptions(
            nodes=self.nodes.value(),
            rounds=self.rounds.value(),
            epochs_per_round=self.epochs.value(),
            rule=self.rule.currentText(),
            byzantine=self.byzantine.value(),
            attack=self.attack.currentText(),
            dataset=self.dataset.currentText(),
            seed=self.seed.value(),
            data_mode=self.data_mode.currentText(),
            committee=self.committee.value(),
            partition=self.partition.currentText().strip(),
            validation=self.validation.currentText(),
            governance=self.governance.isChecked(),
            baseline=self.baseline.isChecked(),
            transport=session.transport_kind(),
        )

    @property
    def running(self) -> bool:
        return not self.run_button.isEnabled()

    def run(self) -> None:
        """Check the options here (a typo should not cost a deployment), then run off-thread."""
        try:
            opts = self.options()
            opts.check()
        except BadInputError as exc:
            self._fail(exc)
            return
        self.rows, self.report, self.live_rounds = [], None, 0
        fill(self.table, [])
        self._show_summary(None)
        self.run_button.setEnabled(False)
        self.run_button.setText("Running…")
        self.bar.setRange(0, opts.rounds)
        self.bar.setValue(0)
        self.bar.setFormat(f"Round 1 of {opts.rounds}: setting up the nodes…")
        self.say(f"Running a {opts.nodes}-node simulation for {opts.rounds} round(s)…")
        session = self.ctx.session
        self.ctx.runner.run(
            lambda: session.run_demo(opts, self._round_done.emit),
            self._finished,
            self._fail,
            what="simulation",
        )

    def _on_round(self, row: RoundRow, total: int) -> None:
        self.rows.append(row)
        self.live_rounds += 1
        fill(self.table, [row_cells(r) for r in self.rows], keys=[r.round for r in self.rows])
        self.table.scrollToBottom()
        self.bar.setValue(row.round)
        left = "" if row.round >= total else f" · round {row.round + 1} running"
        self.bar.setFormat(f"{row.round} of {total} rounds done{left}")

    def _finished(self, report: DemoReport) -> None:
        self.report = report
        if len(self.rows) < len(report.rounds):  # a queued round signal still on its way
            self.rows = list(report.rounds)
            fill(self.table, [row_cells(r) for r in self.rows], keys=[r.round for r in self.rows])
        self.run_button.setEnabled(True)
        self.run_button.setText("Run simulation")
        self.bar.setValue(self.bar.maximum())
        self.bar.setFormat(f"Done: {len(report.rounds)} round(s) in {report.wall_seconds:.0f} s")
        self._show_summary(report)
        self.say(f"Simulation finished: job {report.job_id}, final accuracy "
                 f"{_pct(report.final_accuracy)}")
        self.ctx.notify("Simulation finished", f"Final accuracy {_pct(report.final_accuracy)}")

    def _fail(self, exc: BaseException) -> None:
        self.run_button.setEnabled(True)
        self.run_button.setText("Run simulation")
        if self.bar.value() == 0:
            self.bar.setRange(0, 1)
            self.bar.setFormat("Not started")
        if isinstance(exc, DemoStopped):  # the app is closing: no dialog on the way out
            self.say("Simulation stopped")
            return
        self.say(f"Simulation failed: {describe_error(exc)}", error=True)
        show_error(self, "Simulation failed", exc)

    def _show_summary(self, report: DemoReport | None) -> None:
        if report is None:
            for w in (self.final, self.central, self.slashed, self.gov, self.wall):
                w.setText("—")
            return
        self.final.setText(_pct(report.final_accuracy))
        self.central.setText(_pct(report.centralized_accuracy) if report.centralized_accuracy
                             is not None else "not trained")
        cut = {a: v for a, v in report.slashed.items() if v}
        self.slashed.setText(_per_node(cut, short_amount) + " MILON" if cut else "nobody")
        g = report.governance
        self.gov.setText(f"proposal {g.get('state', '?')}: {g.get('description', '')}"
                         if g else "not run")
        self.wall.setText(f"{report.wall_seconds:.1f} s · {report.total_gas:,} gas")

