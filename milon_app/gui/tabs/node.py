"""Node tab: what this machine can do, how it is connected, and what it is doing.

The hardware probe and the benchmark import torch and run for seconds, so
both run on the task runner; the benchmark's score is what the Federations
tab registers when the user joins.
"""

from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass
from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QComboBox,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QPlainTextEdit,
    QProgressBar,
    QPushButton,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from milon_app.gui.context import GuiContext
from milon_app.gui.event_text import event_text
from milon_app.gui.tabs.base import Tab
from milon_app.gui.widgets import fill, form_box, hint, table, value_label
from milon_app.node import events as ev

LOG_LINES = 500
QUIET = (ev.Heartbeat, ev.TrainingProgress)  # shown in charts and the status bar, not the log


@dataclass(frozen=True)
class NodeView:
    peer_id: str
    listen: list[str]
    peers: list[str]
    device: str
    paused: bool
    capacity: int
    chain: str
    reached: str = ""  # how peers reach this node (Reach.text), "" for an in-process one


def _gib(n: int | None) -> str:
    return f"{n / 2**30:.1f} GiB" if n else "—"


class NodeTab(Tab):
    title = "Node"
    _bench_progress = Signal(float)

    def __init__(self, ctx: GuiContext) -> None:
        super().__init__(ctx)
        self.devices = table(
            ["Device", "Kind", "Memory", "Compute cap.", "Driver", "Status"], stretch=0
        )
        self.hw_notes = hint("Probing hardware…")
        self.probe_button = QPushButton("Detect again")
        self.probe_button.clicked.connect(self.probe)
        self.device_combo = QComboBox()
        self.device_combo.addItem("cpu")
        self.device_combo.currentTextChanged.connect(self._device_chosen)
        self.bench_button = QPushButton("Run benchmark")
        self.bench_button.clicked.connect(self.benchmark)
        self.bench_bar = QProgressBar()
        self.bench_bar.setRange(0, 100)
        self.bench_bar.setValue(0)
        self._bench_progress.connect(lambda f: self.bench_bar.setValue(int(f * 100)))
        self.capacity_label = value_label("not measured yet")
        self.capacity_label.setAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter)
        self.pause_button = QPushButton("Pause node")
        self.pause_button.setCheckable(True)
        self.pause_button.toggled.connect(self._pause_toggled)
        self.peer_id = value_label()
        self.listen = value_label()
        self.listen.setWordWrap(True)
        self.reached = value_label()
        self.reached.setWordWrap(True)
        self.chain = value_label()
        self.peers = table(["Connected peer"], stretch=0)
        self.log = QPlainTextEdit()
        self.log.setReadOnly(True)
        self.log.setMaximumBlockCount(LOG_LINES)
        self.log.setLineWrapMode(QPlainTextEdit.LineWrapMode.NoWrap)
        self._lines: deque[str] = deque(maxlen=LOG_LINES)
        ctx.bridge.any_event.connect(self._log_event)
        self._probed = False
        self._layout()

    def _layout(self) -> None:
        hw = QGroupBox("This machine")
        hv = QVBoxLayout(hw)
        self.devices.setMaximumHeight(150)
        hv.addWidget(self.devices)
        hv.addWidget(self.hw_notes)
        row = QHBoxLayout()
        row.addWidget(QLabel("Train on"))
        row.addWidget(self.device_combo, 1)
        row.addWidget(self.probe_button)
        hv.addLayout(row)
        bench = QGroupBox("Capacity")
        bg = QGridLayout(bench)
        bg.addWidget(QLabel("Score"), 0, 0)
        bg.addWidget(self.capacity_label, 0, 1)
        bg.addWidget(self.bench_bar, 1, 0, 1, 2)
        bg.addWidget(self.bench_button, 2, 0)
        bg.addWidget(self.pause_button, 2, 1)
        bg.addWidget(
            hint("The score (training samples/s of a reference model) is the capacity you "
                 "register: the contract splits each round's epochs in proportion to it."),
            3, 0, 1, 2,
        )
        net = form_box("Network", [("Chain", self.chain), ("Peer ID", self.peer_id),
                                   ("Listening on", self.listen), ("Reached", self.reached)])
        left = QWidget()
        lv = QVBoxLayout(left)
        lv.addWidget(hw)
        lv.addWidget(bench)
        lv.addStretch(1)
        right = QWidget()
        rv = QVBoxLayout(right)
        rv.addWidget(net)
        rv.addWidget(self.peers, 1)
        rv.addWidget(QLabel("Event log (this node)"))
        rv.addWidget(self.log, 2)
        split = QSplitter()
        split.addWidget(left)
        split.addWidget(right)
        split.setSizes([560, 600])
        outer = QVBoxLayout(self)
        outer.addWidget(split, 1)
        outer.addWidget(self.message)

    # -- hardware ------------------------------------------------------------------------------
    def refresh(self) -> None:
        if not self._probed:
            self._probed = True
            self.probe()
        super().refresh()

    def probe(self) -> None:
        from milon_app.compute.hardware import detect

        self.hw_notes.setText("Probing hardware…")
        self.ctx.runner.run(detect, self._show_hardware, lambda e: self.say(str(e), error=True),
                            what="hardware probe")

    def _show_hardware(self, report: Any) -> None:
        rows = [
            [d.name, d.kind, _gib(d.total_memory_bytes), d.compute_capability or "",
             d.driver_version or "", "usable" if d.available else "; ".join(d.notes) or "no"]
            for d in report.devices
        ]
        fill(self.devices, rows)
        notes = [f"torch {report.torch_version} · Python {report.python_version}", *report.notes]
        self.hw_notes.setText("\n".join(notes))
        current = self.device_combo.currentText()
        if self.ctx.session.node is not None:  # the device the node resolved ("auto": a GPU)
            current = self.ctx.session.core.device
        self.device_combo.blockSignals(True)
        self.device_combo.clear()
        for d in report.usable():
            self.device_combo.addItem(d.torch_device)
        idx = self.device_combo.findText(current)
        self.device_combo.setCurrentIndex(max(idx, 0))
        self.device_combo.blockSignals(False)

    def _device_chosen(self, device: str) -> None:
        if device and self.ctx.session.node is not None:
            self.ctx.session.core.device = device
            self.say(f"Training will run on {device}")

    def benchmark(self) -> None:
        from milon_app.compute.benchmark import measure_capacity

        device = self.device_combo.currentText() or "cpu"
        self.bench_button.setEnabled(False)
        self.bench_bar.setValue(0)

        def run() -> Any:
            return measure_capacity(device, progress=self._bench_progress.emit)

        def done(result: Any) -> None:
            self.bench_button.setEnabled(True)
            self.ctx.session.capacity = result.score
            self.capacity_label.setText(
                f"{result.score} ({result.samples_per_s:,.0f} samples/s on {result.device})"
            )
            self.say(f"Benchmark done: capacity score {result.score}")

        def failed(exc: BaseException) -> None:
            self.bench_button.setEnabled(True)
            self.say(f"Benchmark failed: {exc}", error=True)

        self.ctx.runner.run(run, done, failed, what="benchmark")

    def _pause_toggled(self, paused: bool) -> None:
        self.pause_button.setText("Resume node" if paused else "Pause node")
        self.act("Pause node" if paused else "Resume node",
                 lambda: self.ctx.session.set_paused(paused),
                 lambda _r: "Paused: no new work is accepted" if paused else "Accepting work")

    # -- network -------------------------------------------------------------------------------
    def load(self) -> NodeView:
        s = self.ctx.session
        node = s.core
        t = node.transport
        client = node.suite.client
        chain = ("simulated (embedded EVM)" if s.kind == "simulated"
                 else f"{client.rpc_url} (chain id {client.chain_id})")
        return NodeView(
            peer_id=t.peer_id,
            listen=t.listen_addrs(),
            peers=list(t.peers()),
            device=node.device,
            paused=s.paused,
            capacity=s.capacity,
            chain=chain,
            reached=t.reach().text() if hasattr(t, "reach") else "",
        )

    def show_data(self, v: NodeView) -> None:
        self.peer_id.setText(v.peer_id)
        self.listen.setText("\n".join(v.listen) or "in-process transport (no sockets)")
        self.reached.setText(v.reached or "in-process transport")
        self.chain.setText(v.chain)
        fill(self.peers, [[p] for p in v.peers])
        if v.capacity and self.capacity_label.text() == "not measured yet":
            self.capacity_label.setText(str(v.capacity))

    def _log_event(self, e: ev.Event) -> None:
        if isinstance(e, QUIET) or e.node not in ("", self.ctx.session.address):
            return  # simulated members and demo nodes have their own lives
        stamp = time.strftime("%H:%M:%S", time.localtime(e.ts))
        self.log.appendPlainText(f"{stamp}  {e.kind:<20} {event_text(e)}")
