"""Training tab: live loss, throughput and per-round accuracy for one node on one job.

Progress events arrive from the bridge (coalesced to at most 20 a second per
node) and land in a Qt-free :class:`MetricsStore`; the charts redraw on a
timer, never once per event. What the bus no longer holds comes from the
databases of the nodes this process runs: their step metrics, and the
owner's accuracy of every round's global model.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyqtgraph as pg
from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import (
    QComboBox,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QProgressBar,
    QPushButton,
    QStackedWidget,
    QVBoxLayout,
    QWidget,
)

from milon_app.gui.context import GuiContext
from milon_app.gui.tabs.base import Tab
from milon_app.gui.tabs.training_privacy import EVENTS as PRIVACY_EVENTS
from milon_app.gui.tabs.training_privacy import PrivacyLine
from milon_app.gui.widgets import hint
from milon_app.node import events as ev
from milon_app.session.metrics import MetricRow, MetricsStore, write_rows
from milon_app.units import short_address

REDRAW_MS = 250
PEN = {"color": "#3d7eff", "width": 1}  # wider pens cost Qt several times more per repaint
NOTHING_YET = (
    "Nothing has trained yet. The charts appear as soon as a node trains on a job: your "
    "node once it accepts an assignment, a simulated member, or a run from the Simulate tab."
)
NO_GLOBAL = (
    "{n} round(s) of this job finalized. The global model's accuracy is measured by the "
    "job's owner on its held-out data; it is charted here for jobs this app owns."
)


@dataclass
class TrainingView:
    jobs: list[int]
    job_id: int | None
    results: list[tuple[int, float | None]] | None  # None: no local node owns the job
    privacy: dict[str, Any] | None = None  # the job's setting and target (job_privacy)
    db_rows: dict[str, list[MetricRow]] = field(default_factory=dict)


FEW_POINTS = 30  # up to this many steps the loss and rate charts mark each point
AXIS_WIDTH, AXIS_HEIGHT = 64, 40  # pixels: room for six-digit rates and the axis titles


def _plot(title: str, left: str, bottom: str) -> tuple[pg.PlotWidget, Any]:
    w = pg.PlotWidget(title=title)
    w.setLabel("left", left)
    w.setLabel("bottom", bottom)
    # no grid: its lines cost most of a repaint (~60 of ~70 ms for three charts)
    w.setMinimumHeight(180)
    w.getAxis("left").enableAutoSIPrefix(False)
    # fixed axis sizes: a tick label that grows no longer re-lays the whole chart out in the
    # middle of a repaint (the slowest repaints, ~35 ms vs ~23 ms, went with those)
    w.getAxis("left").setWidth(AXIS_WIDTH)
    w.getAxis("bottom").setHeight(AXIS_HEIGHT)
    return w, w.plot([], [], pen=pg.mkPen(**PEN))


class TrainingTab(Tab):
    title = "Training"

    def __init__(self, ctx: GuiContext) -> None:
        super().__init__(ctx)
        self.store = MetricsStore()
        self.ask_path: Callable[[], Path | None] = self._ask_path  # tests give a path instead
        self._job_id: int | None = None
        self._node = ctx.session.address
        self._job_pinned = self._node_pinned = False
        self._backfilled: frozenset[tuple[str, int]] = frozenset()  # read by load() on a worker
        self._dirty = False
        self._dots: bool | None = None  # whether the step curves show dots (set on redraw)
        self._shown: dict[int, tuple[Any, ...]] = {}  # per curve: what its points end with
        self.privacy = PrivacyLine()
        self._build()
        b = ctx.bridge
        for signal in (b.training, b.training_finished, b.round_changed):
            signal.connect(self._on_event)
        for signal in (b.privacy, b.assignment):
            signal.connect(self._on_privacy)
        self.privacy.handle_all(ctx.session.bus.history(*PRIVACY_EVENTS))
        # what happened before this tab existed (the bridge already queues what comes next)
        self.store.handle_all(
            ctx.session.bus.history(
                ev.TrainingProgress, ev.TrainingFinished, ev.RoundFinalized, ev.RoundEvaluated
            )
        )
        self._timer = QTimer(self)
        self._timer.timeout.connect(self._redraw_if_dirty)
        self._timer.start(REDRAW_MS)
        self._sync_combos()
        self.redraw()

    # -- layout --------------------------------------------------------------------------------
    def _build(self) -> None:
        self.job_combo = QComboBox()
        self.job_combo.setMinimumWidth(120)
        self.node_combo = QComboBox()
        self.node_combo.setMinimumWidth(260)
        self.job_combo.currentIndexChanged.connect(self._job_changed)
        self.node_combo.currentIndexChanged.connect(self._node_changed)
        self.export_button = QPushButton("Export CSV…")
        self.export_button.clicked.connect(self.export_csv)
        self.progress = QProgressBar()
        self.progress.setRange(0, 1000)
        self.progress.setTextVisible(True)
        self.progress.setFormat("Not training")
        self.progress.setValue(0)
        self.loss_plot, self.loss_curve = _plot("Local loss", "loss", "step")
        self.rate_plot, self.rate_curve = _plot("Throughput", "samples/s", "step")
        self.acc_plot, self.acc_curve = _plot("Global accuracy per round", "accuracy (%)", "round")
        self.acc_curve.setSymbol("o")
        self.acc_curve.setSymbolBrush(PEN["color"])
        self.acc_plot.setYRange(0, 100)
        self.acc_note = hint("")
        self.acc_stack = QStackedWidget()
        self.acc_stack.addWidget(self.acc_plot)
        self.acc_stack.addWidget(self.acc_note)
        self.steps_note = hint("")
        steps = QWidget()
        row = QHBoxLayout(steps)
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(self.loss_plot)
        row.addWidget(self.rate_plot)
        self.steps_stack = QStackedWidget()
        self.steps_stack.addWidget(steps)
        self.steps_stack.addWidget(self.steps_note)
        self.empty = hint(NOTHING_YET)
        for note in (self.empty, self.steps_note, self.acc_note):
            note.setAlignment(Qt.AlignmentFlag.AlignCenter)
        charts = QWidget()
        grid = QVBoxLayout(charts)
        grid.setContentsMargins(0, 0, 0, 0)
        grid.addWidget(self.steps_stack, 3)
        grid.addWidget(self.acc_stack, 2)
        self.stack = QStackedWidget()
        self.stack.addWidget(self.empty)
        self.stack.addWidget(charts)
        top = QHBoxLayout()
        top.addWidget(QLabel("Job"))
        top.addWidget(self.job_combo)
        top.addSpacing(12)
        top.addWidget(QLabel("Node"))
        top.addWidget(self.node_combo)
        top.addStretch(1)
        top.addWidget(self.export_button)
        outer = QVBoxLayout(self)
        outer.addLayout(top)
        outer.addWidget(self.progress)
        outer.addWidget(self.privacy.label)
        outer.addWidget(self.stack, 1)
        outer.addWidget(self.message)

    # -- selection -----------------------------------------------------------------------------
    @property
    def job_id(self) -> int | None:
        return self._job_id

    @property
    def node(self) -> str:
        return self._node

    def select(self, job_id: int | None = None, node: str | None = None) -> None:
        """Choose what the charts show, as a user's pick (kept over automatic choices)."""
        if job_id is not None:
            self._set_combo(self.job_combo, job_id, quiet=False)
        if node is not None:
            self._set_combo(self.node_combo, node, quiet=False)

    # The tab's own combo changes are made with signals blocked, so these two slots only
    # ever see the user's (or a test's) pick: from then on it is kept.
    def _job_changed(self, _index: int) -> None:
        data = self.job_combo.currentData()
        if data is not None:
            self._job_pinned = True
            self._sync_combos(job=int(data))

    def _node_changed(self, _index: int) -> None:
        data = self.node_combo.currentData()
        if data is not None:
            self._node_pinned = True
            self._sync_combos(node=str(data))

    @staticmethod
    def _set_combo(combo: QComboBox, data: Any, *, quiet: bool = True) -> None:
        index = combo.findData(data)
        if index >= 0 and index != combo.currentIndex():
            blocked = combo.blockSignals(quiet)
            combo.setCurrentIndex(index)
            combo.blockSignals(blocked)

    def _node_label(self, address: str) -> str:
        session = self.ctx.session
        if address == session.address:
            return f"This node ({short_address(address)})"
        peers = {p.address for p in session.sim.peers} if session.sim else set()
        kind = "simulated member" if address in peers else "other node"
        return f"{short_address(address)} ({kind})"

    def _sync_combos(
        self, db_jobs: list[int] | None = None, *, job: int | None = None, node: str | None = None
    ) -> None:
        """List newly seen jobs and nodes; follow the newest job until the user picks one."""
        jobs = sorted(set(self.store.jobs()) | set(db_jobs or ()) | self._listed(self.job_combo))
        blocked = self.job_combo.blockSignals(True)
        for j in jobs:
            if self.job_combo.findData(j) < 0:
                self.job_combo.addItem(f"Job {j}", j)
        self.job_combo.blockSignals(blocked)
        blocked = self.node_combo.blockSignals(True)
        for n in [self.ctx.session.address, *self.store.nodes_seen]:
            if self.node_combo.findData(n) < 0:
                self.node_combo.addItem(self._node_label(n), n)
        self.node_combo.blockSignals(blocked)
        want_job = job if job is not None else self._job_id
        if jobs and (want_job is None or not self._job_pinned):
            want_job = jobs[-1]
        want_node = node or self._node
        me = self.ctx.session.address
        if want_job is not None and not self._node_pinned:
            if self.store.has(me, want_job):  # this node's own curve first, once it trains
                want_node = me
            elif not self.store.has(want_node, want_job):
                training = self.store.nodes_for(want_job)
                want_node = training[0] if training else want_node
        job_moved, node_moved = want_job != self._job_id, want_node != self._node
        self._job_id, self._node = want_job, want_node
        self._set_combo(self.job_combo, want_job)
        self._set_combo(self.node_combo, want_node)
        if job_moved or node_moved:
            self.redraw()
        if job_moved:
            self.refresh()  # the owner's results and the databases' steps for this job

    @staticmethod
    def _listed(combo: QComboBox) -> set[int]:
        return {int(combo.itemData(i)) for i in range(combo.count())}

    # -- data ----------------------------------------------------------------------------------
    def _on_event(self, e: ev.Event) -> None:
        job = getattr(e, "job_id", None)
        new_pair = isinstance(e, ev.TrainingProgress) and not self.store.has(e.node, e.job_id)
        changed = self.store.handle(e)
        if new_pair or self._job_id is None:
            self._sync_combos()
        if changed and job == self._job_id:
            self._dirty = True
            if isinstance(e, ev.RoundEvaluated):  # rare and what the user waits for: now
                self.redraw()
        if isinstance(e, ev.RoundFinalized) and e.job_id == self._job_id:
            self.refresh()  # an owned job's accuracy is in the owner's database

    def _on_privacy(self, e: ev.Event) -> None:
        if self.privacy.handle(e) and getattr(e, "job_id", None) == self._job_id:
            self.privacy.show(self._job_id, self._node)

    def load(self) -> TrainingView:
        from milon_app.session.privacy_view import job_privacy

        session = self.ctx.session
        core = session.core
        job = self._job_id
        view = TrainingView(jobs=core.state.jobs(), job_id=job, results=None)
        if job is None:
            return view
        if job in view.jobs:  # a job of this node's chain (not a Simulate-tab run's)
            view.privacy = job_privacy(core.milon, core.store, job)
        done = self._backfilled
        for node in session.local_nodes():
            info = node.state.job_info(job)
            if info is not None and info[0] == "owner":
                view.results = [(r, acc) for r, _h, acc, _i in node.state.round_results(job)]
            if (node.address, job) not in done:
                view.db_rows[node.address] = node.state.metrics(job)
        return view

    def show_data(self, data: TrainingView) -> None:
        if data.job_id is not None:
            for node, rows in data.db_rows.items():
                self.store.merge_db(node, data.job_id, rows)
            pairs = {(n, data.job_id) for n in data.db_rows}
            self._backfilled = self._backfilled | pairs
            if data.results is not None:
                self.store.set_results(data.job_id, data.results)
            if data.privacy is not None:
                self.privacy.set_setting(data.job_id, data.privacy)
        self._sync_combos(data.jobs)
        if data.job_id == self._job_id:
            self.redraw()

    # -- drawing -------------------------------------------------------------------------------
    def _redraw_if_dirty(self) -> None:
        if self._dirty:
            self.redraw()

    def redraw(self) -> None:
        self._dirty = False
        job, node = self._job_id, self._node
        self.privacy.show(job, node)
        self.export_button.setEnabled(job is not None)
        series = self.store.series(node, job) if job is not None and self.store.has(
            node, job) else None
        rounds = self.store.rounds(job) if job is not None else None
        acc_x, acc_y = rounds.points() if rounds is not None else ([], [])
        if series is None and not acc_x:
            self.stack.setCurrentIndex(0)
            self.empty.setText(self._empty_text(job, node))
            self._show_progress(None)
            return
        self.stack.setCurrentIndex(1)
        xs = series.xs() if series is not None else []
        dots = len(xs) <= FEW_POINTS  # a line of one or two points draws nothing visible
        if dots != self._dots:  # re-setting a symbol rebuilds the curve's scatter: only on change
            self._dots = dots
            for curve in (self.loss_curve, self.rate_curve):
                curve.setSymbol("o" if dots else None)
                curve.setSymbolSize(6)
        self._set(self.loss_curve, xs, series.losses() if series is not None else [])
        self._set(self.rate_curve, xs, series.rates() if series is not None else [])
        self.steps_note.setText(self._empty_text(job, node))
        self.steps_stack.setCurrentIndex(0 if series is not None else 1)
        if self._set(self.acc_curve, acc_x, [100.0 * a for a in acc_y]):
            every = max(1, -(-len(acc_x) // 10))  # whole rounds only, at most ten ticks
            self.acc_plot.getAxis("bottom").setTickSpacing(every, every)
        if acc_x:
            self.acc_stack.setCurrentIndex(0)
        else:
            finalized = len(rounds.finalized) if rounds is not None else 0
            self.acc_note.setText(NO_GLOBAL.format(n=finalized) if finalized else
                                  "No round of this job has finalized yet.")
            self.acc_stack.setCurrentIndex(1)
        self._show_progress(series)

    def _set(self, curve: Any, xs: list[Any], ys: list[Any]) -> bool:
        """Give ``curve`` new points only if they changed: an unchanged chart is not repainted
        (most redraws bring one chart new steps and leave the accuracy chart as it was)."""
        key = (self._job_id, self._node, len(xs), xs[-1] if xs else None, ys[-1] if ys else None)
        if self._shown.get(id(curve)) == key:
            return False
        self._shown[id(curve)] = key
        curve.setData(xs, ys)
        return True

    def _empty_text(self, job: int | None, node: str) -> str:
        if job is None or not self.store.jobs():
            return NOTHING_YET
        who = "This node" if node == self.ctx.session.address else short_address(node)
        return f"{who} has not trained on job {job} yet. Pick another node above."

    def _show_progress(self, series: Any) -> None:
        run = series.run if series is not None else None
        if run is None or run.round == 0:
            self.progress.setValue(0)
            self.progress.setFormat("Not training")
            return
        self.progress.setValue(int(run.fraction * 1000))
        if run.finished:
            self.progress.setFormat(f"Round {run.round}: local training finished")
        else:
            self.progress.setFormat(
                f"Round {run.round} · epoch {run.epoch} · step {run.step}/{run.steps_total}"
                f" · ETA {run.eta_s:.0f} s"
            )

    # -- export --------------------------------------------------------------------------------
    def _ask_path(self) -> Path | None:
        name, _ = QFileDialog.getSaveFileName(
            self, "Export training series", f"milon-job{self._job_id}.csv", "CSV files (*.csv)"
        )
        return Path(name) if name else None

    def export_csv(self) -> None:
        job, node = self._job_id, self._node
        if job is None:
            self.say("Nothing to export: no job has trained yet", error=True)
            return
        path = self.ask_path()
        if path is None:
            return
        rows = list(self.store.csv_rows(node, job))  # a snapshot; the file is written off-thread
        self.act(
            f"Export to {path.name}",
            lambda: write_rows(path, rows),
            lambda n: f"Wrote {n} rows to {path}",
        )
