"""The job owner's dashboard: publish jobs, watch their rounds, take the model home.

The list shows this node's own jobs (or every job on chain, so an in-app
demo's job can be followed too); the selected job gets its rounds with
accuracy, the committee's verdict on every update of the selected round (who
voted what, and why), who trains what in the current round and who judges it,
an accuracy chart and an export of the model for deployment.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import (
    QCheckBox,
    QFileDialog,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSizePolicy,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from milon_app.gui.context import GuiContext
from milon_app.gui.job_wizard import JobWizard
from milon_app.gui.tabs.base import Tab
from milon_app.gui.widgets import fill, hint, selected_key, table
from milon_app.session.owner_view import JobDetail, OwnerView, VerdictCache, read_view
from milon_app.units import short_amount

ChooseFolder = Callable[[], str]  # "" when cancelled
EMPTY_MINE = (
    "No jobs yet — press “Create job…” to publish one: pick a federation, a model and a "
    "built-in dataset; its members train it round by round and you pay per accepted epoch."
)
EMPTY_ALL = "No jobs on chain yet — press “Create job…” to publish the first one."


def _yes(flag: bool) -> str:
    return "yes" if flag else "no"


def onnx_available() -> bool:
    return importlib.util.find_spec("onnx") is not None


class OwnerTab(Tab):
    title = "Job owner"

    def __init__(self, ctx: GuiContext, *, choose_folder: ChooseFolder | None = None) -> None:
        super().__init__(ctx)
        self._choose_folder = choose_folder or self._folder_dialog
        self._selected: int | None = None  # read by load() on the worker thread
        self._round: int | None = None  # the round whose verdicts are shown (None: latest)
        self._verdicts: VerdictCache = {}  # closed rounds' verdicts, used by load() only
        self._show_all = False
        self.view: OwnerView | None = None
        self.wizard: JobWizard | None = None
        self.exported: list[Path] = []
        self._build()
        self._soon = QTimer(self)  # events arrive in bursts: one reload per burst
        self._soon.setSingleShot(True)
        self._soon.setInterval(300)
        self._soon.timeout.connect(self._reload_if_shown)
        ctx.bridge.round_changed.connect(self._on_event)
        ctx.bridge.job_changed.connect(self._on_event)
        ctx.bridge.committee.connect(self._on_event)

    # -- layout --------------------------------------------------------------------------------
    def _build(self) -> None:
        self.create_button = QPushButton("Create job…")
        self.create_button.clicked.connect(lambda: self.open_wizard())
        self.show_all = QCheckBox("Show all jobs on chain")
        self.show_all.setToolTip("Include jobs other accounts own, e.g. the in-app demo's")
        self.show_all.toggled.connect(self._toggle_all)
        bar = QHBoxLayout()
        bar.addWidget(self.create_button)
        bar.addWidget(self.show_all)
        bar.addStretch(1)

        self.empty = hint(EMPTY_MINE)
        self.empty.setAlignment(Qt.AlignmentFlag.AlignTop | Qt.AlignmentFlag.AlignLeft)
        self.jobs = table(
            (
                "Job",
                "Federation",
                "Status",
                "Round",
                "Epochs",
                "Escrow left (MILON)",
                "Latest accuracy",
            ),
            stretch=6,
        )
        self.jobs.itemSelectionChanged.connect(self._selection_changed)

        self.detail = QGroupBox("Job")
        self.summary = QLabel("")
        self.summary.setWordWrap(True)
        self.privacy = hint("")  # the job's privacy setting and epsilon spent
        self.export_button = QPushButton("Export model…")
        self.export_button.setToolTip(
            "Download the final model (the current one while training) as safetensors + ONNX"
        )
        self.export_button.clicked.connect(lambda: self.export())
        head = QHBoxLayout()
        head.addWidget(self.summary, 1)
        head.addWidget(self.export_button)
        self.rounds = table(
            ("Round", "Status", "Global accuracy", "Accepted", "Rejected (reason)", "Model"),
            stretch=4,
        )
        self.rounds.itemSelectionChanged.connect(self._round_selected)
        self.verdict_title = QLabel("Verdicts")
        self.verdicts = table(
            ("Update by", "Outcome", "Accepted by", "Rejected by (reason)"), stretch=3
        )
        self.seats = table(("Member", "Epochs", "Assignment", "Samples"), stretch=0)
        self.committee = table(("Validator", "Weight (MILON)", "Voted", "Confirmed"), stretch=0)
        self.round_title = QLabel("Current round")
        current = QSplitter()
        current.addWidget(self.seats)
        current.addWidget(self.committee)
        left = QWidget()
        lv = QVBoxLayout(left)
        lv.setContentsMargins(0, 0, 0, 0)
        lv.addWidget(QLabel("Rounds (select one for its verdicts)"))
        lv.addWidget(self.rounds, 3)
        lv.addWidget(self.verdict_title)
        lv.addWidget(self.verdicts, 3)
        lv.addWidget(self.round_title)
        lv.addWidget(current, 2)
        split = QSplitter()
        split.addWidget(left)
        split.addWidget(self._build_chart())
        split.setStretchFactor(0, 3)
        split.setStretchFactor(1, 2)
        split.setSizes([660, 440])
        dv = QVBoxLayout(self.detail)
        dv.addLayout(head)
        dv.addWidget(self.privacy)
        dv.addWidget(split, 1)

        layout = QVBoxLayout(self)
        layout.addLayout(bar)
        layout.addWidget(self.empty, 1)  # the hint sits on top, the rest stays empty
        layout.addWidget(self.jobs, 1)
        layout.addWidget(self.detail, 4)
        layout.addWidget(self.message)
        self._show_empty(True)

    def _build_chart(self) -> QWidget:
        import pyqtgraph as pg

        self.chart = pg.PlotWidget()
        self.chart.setTitle("Global accuracy per round")
        self.chart.setLabel("left", "accuracy", units="%")
        self.chart.setLabel("bottom", "round")
        # no grid: its lines are most of a repaint's cost
        self.chart.setYRange(0, 100)
        self.chart.setMinimumWidth(280)
        self.chart.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.curve = self.chart.plot([], [], pen=pg.mkPen(width=2), symbol="o", symbolSize=7)
        widget: QWidget = self.chart
        return widget

    # -- data ----------------------------------------------------------------------------------
    def load(self) -> OwnerView:
        return read_view(self.ctx.session, self._selected, self._show_all, self._verdicts)

    def show_data(self, data: Any) -> None:
        view: OwnerView = data
        if view.show_all != self._show_all:  # the toggle moved while this was read
            return
        self.view = view
        self._show_empty(not view.jobs)
        fill(
            self.jobs,
            [
                (
                    f"{r.job_id}" + ("" if r.mine else " (not yours)"),
                    r.fed_id,
                    r.status,
                    r.round_text,
                    r.epochs_text,
                    short_amount(r.escrow_left),
                    f"{r.accuracy:.1%}" if r.accuracy is not None else None,
                )
                for r in view.jobs
            ],
            keys=[r.job_id for r in view.jobs],
        )
        if view.detail is not None:
            if selected_key(self.jobs) != view.detail.job_id:
                keys = [r.job_id for r in view.jobs]
                self.jobs.blockSignals(True)
                self.jobs.selectRow(keys.index(view.detail.job_id))
                self.jobs.blockSignals(False)
            self._selected = view.detail.job_id
            self._show_detail(view.detail)

    def _show_detail(self, d: JobDetail) -> None:
        self.detail.setTitle(f"Job {d.job_id}")
        self.summary.setText(d.summary)
        self.privacy.setText(d.privacy)
        fill(
            self.rounds,
            [
                (
                    r.round,
                    r.status,
                    f"{r.accuracy:.1%}" if r.accuracy is not None else None,
                    r.accepted,
                    r.rejected,
                    r.model_hash,
                )
                for r in d.rounds
            ],
            keys=[r.round for r in d.rounds],
        )
        self._show_verdicts(d)
        if not d.current_round:
            title = "No round started yet: the job opens its first round on the next tick"
        elif d.completed:
            title = f"Round {d.current_round} (the last): who trained which epochs"
        else:
            title = f"Round {d.current_round}: who trains which epochs, who judges them"
        if d.phase:
            title += f" · {d.phase}"
        self.round_title.setText(title)
        fill(self.seats, [(s.member, s.epochs, s.state, s.samples or None) for s in d.seats])
        fill(
            self.committee,
            [
                (c.member, short_amount(c.weight), _yes(c.voted), _yes(c.confirmed))
                for c in d.committee
            ],
        )
        xs, ys = d.points
        self.curve.setData(xs, ys)
        if xs:
            self.chart.setXRange(0.5, max(xs) + 0.5)
            axis = self.chart.getAxis("bottom")
            if max(xs) <= 20:  # whole rounds only; pyqtgraph picks spacing for long jobs
                axis.setTickSpacing(1, 1)
            else:
                axis.setTickSpacing()
        label = "Export model…" if d.completed else "Export current model…"
        self.export_button.setText(label)

    def _show_verdicts(self, d: JobDetail) -> None:
        """The selected round's updates (the latest round until one is picked)."""
        r = self._round if self._round in d.verdicts else (d.current_round or None)
        rows = d.verdicts.get(r, []) if r is not None else []
        self.verdict_title.setText(
            f"Verdicts, round {r}: each update's outcome and who voted what"
            if r is not None
            else "Verdicts: none yet"
        )
        fill(self.verdicts, [(v.member, v.outcome, v.accepted_by, v.rejected_by) for v in rows])

    def _round_selected(self) -> None:
        key = selected_key(self.rounds)
        if key is not None and key != self._round and self.view and self.view.detail:
            self._round = int(key)
            self._show_verdicts(self.view.detail)

    def select_round(self, r: int) -> None:
        """Show round ``r``'s verdicts (what clicking its row does)."""
        self._round = r
        if self.view is not None and self.view.detail is not None:
            self._show_verdicts(self.view.detail)

    def _show_empty(self, empty: bool) -> None:
        self.empty.setText(EMPTY_ALL if self._show_all else EMPTY_MINE)
        self.empty.setVisible(empty)
        self.jobs.setVisible(not empty)
        self.detail.setVisible(not empty)

    # -- interaction ---------------------------------------------------------------------------
    def _on_event(self, _event: object) -> None:
        if self.isVisible() and not self._soon.isActive():
            self._soon.start()

    def _reload_if_shown(self) -> None:
        """Hidden, the tab is reloaded when shown again (the window refreshes the current tab)."""
        if self.isVisible():
            self.refresh()

    def _toggle_all(self, on: bool) -> None:
        self._show_all = on
        self.refresh()

    def _selection_changed(self) -> None:
        key = selected_key(self.jobs)
        if key is not None and key != self._selected:
            self._selected = key
            self._round = None
            self.refresh()

    def open_wizard(
        self,
        *,
        choose_file: Callable[[], str] | None = None,
        choose_weights: Callable[[], str] | None = None,
    ) -> JobWizard:
        """Open the create-job wizard (non-modal, so the node keeps running under it)."""
        if self.wizard is not None and self.wizard.isVisible():
            self.wizard.raise_()
            return self.wizard
        self.wizard = JobWizard(
            self.ctx, self, choose_file=choose_file, choose_weights=choose_weights
        )
        self.wizard.created.connect(self._created)
        self.wizard.open()
        return self.wizard

    def _created(self, job_id: int) -> None:
        self._selected = job_id
        self.say(f"Job {job_id} created; the federation's members pick it up on their next tick")
        self.refresh()

    def export(self, dest: Path | str | None = None) -> None:
        """Download + export the selected job's model into ``dest`` (asked for when None)."""
        job_id = self._selected
        if job_id is None:
            self.say("Select a job first", error=True)
            return
        if dest is None:
            chosen = self._choose_folder()
            if not chosen:
                return
            dest = chosen
        folder = Path(dest).expanduser()
        core, onnx = self.ctx.session.core, onnx_available()

        def work() -> list[Path]:
            return core.owner.download(core.context(job_id), folder, onnx=onnx)

        def done(files: list[Path]) -> str:
            self.exported = list(files)
            names = ", ".join(p.name for p in files)
            extra = "" if onnx else " (install the onnx extra for model.onnx)"
            return f"Job {job_id}'s model written to {folder}: {names}{extra}"

        self.act(f"Export job {job_id}'s model", work, done)

    def _folder_dialog(self) -> str:
        return QFileDialog.getExistingDirectory(self, "Export the model into", str(Path.home()))
