"""Jobs tab: open jobs, this node's assignments and committee duty, the accept policy.

In manual mode the node waits for the user on every assignment; the
decision goes to the contract through the same contributor code the
automatic policy uses. Progress bars show each job's epochs done with an
ETA from the pace of its finished rounds. Committee duty (seated? voted?
confirmed? paid?) is read from the chain's seats; the pay from the node's
``ValidatorPaid`` events.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from PySide6.QtWidgets import (
    QComboBox,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QProgressBar,
    QPushButton,
    QSpinBox,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from milon_app.chain.bindings import AssignmentState, Milon, Round
from milon_app.gui.context import GuiContext
from milon_app.gui.tabs.base import Tab
from milon_app.gui.widgets import fill, hint, selected_key, table
from milon_app.node import events as ev
from milon_app.units import short_address, short_amount

MODES = ("auto", "manual", "never")
DUTY_ROUNDS = 5  # committee seats are looked up in each job's latest rounds


@dataclass(frozen=True)
class JobRow:
    job_id: int
    fed_id: int
    owner: str
    status: str
    round: int
    epochs_done: int
    total_epochs: int
    reward: int
    member: bool
    eta_s: float | None


@dataclass(frozen=True)
class AssignmentRow:
    job_id: int
    round: int
    epochs: int
    state: str
    decision: str  # "pending-user" when the user has to decide


@dataclass(frozen=True)
class DutyRow:
    """This node's seat on one round's committee."""

    job_id: int
    round: int
    weight: int  # wei of stake the seat votes with
    status: str  # to vote, voted, confirmed, missed...
    verdict: str  # "accepted 2 of 3" once voted
    paid: int  # wei from the validators' pool


@dataclass(frozen=True)
class JobsData:
    jobs: list[JobRow]
    assignments: list[AssignmentRow]
    duty: list[DutyRow]


def duty_status(rnd: Round, voted: bool, confirmed: bool) -> str:
    """Where this node's committee duty stands in a round."""
    if confirmed:
        return "voted and confirmed"
    if rnd.timed_out:
        return "voted; round timed out" if voted else "missed: round timed out"
    if rnd.finalized:
        if voted:
            if not rnd.accepted_bits:
                return "voted; nothing accepted to confirm"
            return "voted; the model was confirmed before this node's confirmation"
        return "missed: did not vote" if rnd.revealed_count else "nothing to judge"
    if rnd.tallied:
        return "to confirm the model" if voted and rnd.accepted_bits else "voted"
    return "voted" if voted else "to vote"


def read_duty(m: Milon, me: str, job_id: int, current: int, paid: dict[tuple[int, int], int]
              ) -> list[DutyRow]:
    """This node's seats in the job's latest rounds (blocking)."""
    rows = []
    for r in range(max(1, current - DUTY_ROUNDS + 1), current + 1):
        seat = m.seat(job_id, r, me)
        if not seat.seated:
            continue
        rnd = m.round(job_id, r)
        verdict = (f"accepted {bin(seat.verdict).count('1')} of {rnd.revealed_count}"
                   if seat.voted else "")
        rows.append(DutyRow(job_id, r, seat.weight, duty_status(rnd, seat.voted, seat.confirmed),
                            verdict, paid.get((job_id, r), 0)))
    return rows


def _eta(done: int, total: int, started: float | None) -> float | None:
    if not started or done <= 0 or done >= total:
        return None
    rate = done / max(time.time() - started, 1e-6)
    return (total - done) / rate


def fmt_eta(seconds: float | None) -> str:
    if seconds is None:
        return ""
    s = int(seconds)
    return f"ETA {s // 60}m {s % 60:02d}s" if s >= 60 else f"ETA {s}s"


class JobsTab(Tab):
    title = "Jobs"

    def __init__(self, ctx: GuiContext) -> None:
        super().__init__(ctx)
        self.jobs = table(["Job", "Federation", "Owner", "Status", "Round", "Progress",
                           "Reward/epoch", "You"], stretch=5)
        self.assignments = table(["Job", "Round", "Epochs", "State", "Needs you"], stretch=4)
        self.duty = table(["Job", "Round", "Seat weight (MILON)", "Your duty", "Your verdict",
                           "Paid (MILON)"], stretch=3)
        self.no_duty = hint("")
        self.accept_button = QPushButton("Accept")
        self.decline_button = QPushButton("Decline")
        self.accept_button.clicked.connect(lambda: self.decide(True))
        self.decline_button.clicked.connect(lambda: self.decide(False))
        self.mode = QComboBox()
        self.mode.addItems(MODES)
        self.mode.setCurrentText(ctx.session.cfg.node.accept_mode)
        self.max_epochs = QSpinBox()
        self.max_epochs.setRange(1, 1_000_000)
        self.max_epochs.setValue(ctx.session.cfg.node.max_epochs)
        self.apply_policy = QPushButton("Apply policy")
        self.apply_policy.clicked.connect(self.set_policy)
        self.empty_hint = hint("")
        self.no_assignments = hint("")
        self._started: dict[int, float] = {}
        ctx.bridge.assignment.connect(lambda _e: self.refresh())
        ctx.bridge.round_changed.connect(self._on_round)
        ctx.bridge.committee.connect(lambda _e: self.refresh())
        self._layout()

    def _layout(self) -> None:
        jobs_box = QGroupBox("Jobs on chain")
        jv = QVBoxLayout(jobs_box)
        jv.addWidget(self.jobs)
        jv.addWidget(self.empty_hint)
        mine = QGroupBox("Your assignments")
        mv = QVBoxLayout(mine)
        mv.addWidget(self.assignments)
        mv.addWidget(self.no_assignments)
        row = QHBoxLayout()
        row.addWidget(self.accept_button)
        row.addWidget(self.decline_button)
        row.addStretch(1)
        mv.addLayout(row)
        duty = QGroupBox("Your committee duty")
        dv = QVBoxLayout(duty)
        dv.addWidget(self.duty)
        dv.addWidget(self.no_duty)
        policy = QGroupBox("Accept policy")
        pv = QVBoxLayout(policy)
        prow = QHBoxLayout()
        prow.addWidget(QLabel("Mode"))
        prow.addWidget(self.mode)
        prow.addWidget(QLabel("Max epochs per assignment"))
        prow.addWidget(self.max_epochs)
        prow.addWidget(self.apply_policy)
        prow.addStretch(1)
        pv.addLayout(prow)
        pv.addWidget(hint("auto: accept every assignment within the limits; manual: ask here "
                          "each time (unanswered epochs go to others when the accept window "
                          "closes); never: decline everything."))
        bottom = QWidget()
        bv = QVBoxLayout(bottom)
        bv.addWidget(mine, 1)
        bv.addWidget(duty, 1)
        bv.addWidget(policy)
        split = QSplitter()
        split.addWidget(jobs_box)
        split.addWidget(bottom)
        split.setSizes([700, 480])
        outer = QVBoxLayout(self)
        outer.addWidget(split, 1)
        outer.addWidget(self.message)

    def _on_round(self, e: ev.Event) -> None:
        if isinstance(e, ev.RoundStarted):
            self._started.setdefault(e.job_id, time.time())
        if isinstance(e, (ev.RoundStarted, ev.RoundFinalized)):
            self.refresh()

    # -- reading -------------------------------------------------------------------------------
    def load(self) -> JobsData:
        s = self.ctx.session
        m = s.milon
        node = s.core
        jobs, assignments, duty = [], [], []
        joined = set(node.state.memberships())  # assignments exist only where we were members
        paid: dict[tuple[int, int], int] = {}
        for e in s.bus.history(ev.ValidatorPaid):
            if isinstance(e, ev.ValidatorPaid) and e.node == s.address:
                key = (e.job_id, e.round)
                paid[key] = paid.get(key, 0) + e.amount
        for job_id in range(1, m.job_count() + 1):
            job = m.job(job_id)
            fed = job.params.fed_id
            member = m.member(fed, s.address).active
            jobs.append(JobRow(
                job_id, fed, job.owner, job.status.name.lower(), job.current_round,
                job.epochs_done, job.params.total_epochs, job.params.reward_per_epoch, member,
                _eta(job.epochs_done, job.params.total_epochs, self._started.get(job_id)),
            ))
            if not member and fed not in joined:
                continue
            if job.current_round:
                duty += read_duty(m, s.address, job_id, job.current_round, paid)
            for r in range(max(1, job.current_round - 9), job.current_round + 1):
                a = m.assignment(job_id, r, s.address)
                if a.state is AssignmentState.NONE:
                    continue
                decision = node.state.assignment_decision(job_id, r) or ""
                assignments.append(AssignmentRow(job_id, r, a.epochs, a.state.name.lower(),
                                                 decision))
        assignments.sort(key=lambda a: (-a.job_id, -a.round))
        duty.sort(key=lambda d: (-d.job_id, -d.round))
        return JobsData(jobs, assignments, duty)

    def show_data(self, data: JobsData) -> None:
        rows = [[j.job_id, j.fed_id, short_address(j.owner), j.status, j.round, "",
                 short_amount(j.reward), "member" if j.member else ""] for j in data.jobs]
        fill(self.jobs, rows, keys=[j.job_id for j in data.jobs])
        for i, j in enumerate(data.jobs):
            bar = QProgressBar()
            bar.setRange(0, max(j.total_epochs, 1))
            bar.setValue(j.epochs_done)
            bar.setFormat(f"{j.epochs_done}/{j.total_epochs} epochs {fmt_eta(j.eta_s)}".strip())
            self.jobs.setCellWidget(i, 5, bar)
        self.empty_hint.setText(
            "" if data.jobs else "No jobs yet. Create one in the Job owner tab, or run the demo "
            "in the Simulate tab."
        )
        self.no_assignments.setText(
            "" if data.assignments else "No assignments yet: join a federation (Federations "
            "tab) and its jobs assign you epochs in proportion to your capacity."
        )
        arows = [[a.job_id, a.round, a.epochs, a.state,
                  "yes" if a.decision == "pending-user" and a.state == "assigned" else ""]
                 for a in data.assignments]
        fill(self.assignments, arows, keys=[(a.job_id, a.round, a.epochs)
                                             for a in data.assignments])
        fill(self.duty, [[d.job_id, d.round, short_amount(d.weight), d.status, d.verdict,
                          short_amount(d.paid) if d.paid else ""] for d in data.duty],
             keys=[(d.job_id, d.round) for d in data.duty])
        self.no_duty.setText(
            "" if data.duty else "No committee seat yet: each round draws its committee from "
            "the federation's members by stake; seated, your node judges every update and "
            "confirms the new model, and is paid from the validators' share.")

    # -- actions -------------------------------------------------------------------------------
    def decide(self, accept: bool) -> None:
        key = selected_key(self.assignments)
        if key is None:
            self.say("select an assignment first", error=True)
            return
        job_id, r, epochs = key
        node = self.ctx.session.core
        word = "Accept" if accept else "Decline"
        self.act(f"{word} job {job_id} round {r}",
                 lambda: node.contributor.respond(job_id, r, epochs, accept, f"user: {word}"))

    def set_policy(self) -> None:
        mode, limit = self.mode.currentText(), self.max_epochs.value()
        self.act("Apply accept policy",
                 lambda: self.ctx.session.set_accept_mode(mode, limit),
                 lambda _r: f"Accept policy: {mode}, at most {limit} epochs")
