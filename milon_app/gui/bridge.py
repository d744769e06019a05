"""Core events in, Qt signals out, always on the GUI thread.

The core publishes typed events from its own threads; the bridge's
subscriber only emits a signal, which Qt queues to the thread the bridge
lives on. Tabs connect to the signal of the event class they show, never
to strings. Per-step training progress is coalesced to at most one update
per node every 50 ms so a fast trainer cannot flood the event loop.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from PySide6.QtCore import QObject, Signal, Slot

from milon_app.node import events as ev
from milon_app.node.bus import EventBus

PROGRESS_MIN_S = 0.05


class EventBridge(QObject):
    any_event = Signal(object)  # every event (logs)
    heartbeat = Signal(object)
    training = Signal(object)  # TrainingProgress
    training_finished = Signal(object)
    assignment = Signal(object)  # EpochsAssigned, AssignmentDecision
    privacy = Signal(object)  # PrivacySpent, PrivacyPlanSpent
    round_changed = Signal(object)  # RoundStarted, VerdictsTallied, RoundFinalized, timeouts
    committee = Signal(object)  # CommitteeDrawn, VerdictSubmitted, ModelConfirmed: duty
    job_changed = Signal(object)  # JobCreated, JobCompleted
    money = Signal(object)  # RewardCredited, ValidatorPaid, RewardClaimed, Slashed
    peers = Signal(object)  # PeerStatus
    governance = Signal(object)  # ProposalStateChanged
    error = Signal(object)  # NodeError

    _incoming = Signal(object)

    ROUTES: tuple[tuple[tuple[type[ev.Event], ...], str], ...] = (
        ((ev.Heartbeat,), "heartbeat"),
        ((ev.TrainingProgress,), "training"),
        ((ev.TrainingFinished,), "training_finished"),
        ((ev.EpochsAssigned, ev.AssignmentDecision), "assignment"),
        ((ev.PrivacySpent, ev.PrivacyPlanSpent), "privacy"),
        (
            (ev.RoundStarted, ev.VerdictsTallied, ev.RoundFinalized, ev.RoundEvaluated,
             ev.RoundTimedOut, ev.UpdateCommitted, ev.UpdateRevealed),
            "round_changed",
        ),
        ((ev.CommitteeDrawn, ev.VerdictSubmitted, ev.ModelConfirmed), "committee"),
        ((ev.JobCreated, ev.JobCompleted, ev.FederationJoined), "job_changed"),
        ((ev.RewardCredited, ev.ValidatorPaid, ev.RewardClaimed, ev.Slashed), "money"),
        ((ev.PeerStatus,), "peers"),
        ((ev.ProposalStateChanged,), "governance"),
        ((ev.NodeError,), "error"),
    )

    def __init__(self, bus: EventBus, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._last_progress: dict[tuple[str, int], float] = {}
        self._incoming.connect(self._dispatch)
        self._unsubscribe: Callable[[], None] = bus.subscribe(self._on_event)

    def _on_event(self, event: ev.Event) -> None:  # core threads: only queue
        if isinstance(event, ev.TrainingProgress) and event.step != event.steps_total:
            key = (event.node, event.job_id)
            now = time.monotonic()
            if now - self._last_progress.get(key, 0.0) < PROGRESS_MIN_S:
                return
            self._last_progress[key] = now
        self._incoming.emit(event)

    @Slot(object)
    def _dispatch(self, event: ev.Event) -> None:  # GUI thread
        self.any_event.emit(event)
        for types, name in self.ROUTES:
            if isinstance(event, types):
                getattr(self, name).emit(event)
                return

    def close(self) -> None:
        self._unsubscribe()
