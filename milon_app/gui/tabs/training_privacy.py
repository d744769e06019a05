"""The Training tab's privacy line: what a node's releases on a job cost, against its target.

The target comes with the tab's load (read off the GUI thread, as ``job show`` reads it);
what was spent comes from the node's own events through the bridge: ``PrivacySpent``
after each noised update, an ``AssignmentDecision`` that declined a round for privacy
(the node gives the reason), ``PrivacyPlanSpent`` once the job ran every planned round.
Nothing here reads the chain.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from milon_app.gui.widgets import ERROR_COLOR, hint
from milon_app.node import events as ev
from milon_app.session.privacy_view import spent_text

PRIVACY_REASON = "privacy:"  # how the contributor starts a decline for privacy (privacy_budget)
EVENTS = (ev.PrivacySpent, ev.PrivacyPlanSpent, ev.AssignmentDecision)


class PrivacyLine:
    """Per (node, job): the last spend and the last privacy decline; per job: its setting."""

    def __init__(self) -> None:
        self.label = hint("")
        self.label.setObjectName("privacy")
        self.label.setVisible(False)
        self._settings: dict[int, Mapping[str, Any]] = {}
        self._spent: dict[tuple[str, int], ev.PrivacySpent] = {}
        self._declined: dict[tuple[str, int], ev.AssignmentDecision] = {}
        self._plan_done: dict[int, ev.PrivacyPlanSpent] = {}

    def handle(self, e: ev.Event) -> bool:
        """Keep what the line shows; True when ``e`` was one of its events."""
        if isinstance(e, ev.PrivacySpent):
            self._spent[(e.node, e.job_id)] = e
        elif isinstance(e, ev.PrivacyPlanSpent):
            self._plan_done[e.job_id] = e
        elif isinstance(e, ev.AssignmentDecision):
            if e.accepted or not e.reason.startswith(PRIVACY_REASON):
                return False
            self._declined[(e.node, e.job_id)] = e
        else:
            return False
        return True

    def handle_all(self, events: Iterable[ev.Event]) -> None:
        for e in events:
            self.handle(e)

    def set_setting(self, job_id: int, setting: Mapping[str, Any]) -> None:
        """The job's summary (``job_privacy``), read by the tab's load."""
        self._settings[job_id] = setting

    def text(self, job_id: int | None, node: str) -> str:
        if job_id is None:
            return ""
        setting = self._settings.get(job_id, {})
        spent = self._spent.get((node, job_id))
        lines = []
        if spent is not None or "epsilon" in setting:
            target = setting.get("epsilon")
            delta = spent.delta if spent is not None else float(setting.get("delta", 0.0))
            mode = str(setting.get("mode", "differential privacy"))
            line = spent_text(mode, spent.epsilon_spent if spent else 0.0, target, delta)
            if spent is not None:
                line += f" after round {spent.round} ({spent.epsilon_round:.3g} a round)"
            lines.append(line)
        declined = self._declined.get((node, job_id))
        if declined is not None:
            lines.append(f"Round {declined.round} declined: {declined.reason}")
        done = self._plan_done.get(job_id)
        if done is not None:
            lines.append(
                f"The job ran all {done.rounds} rounds its epsilon {done.epsilon:g} was planned "
                "for: its owner opens no more"
            )
        return "\n".join(lines)

    def show(self, job_id: int | None, node: str) -> None:
        text = self.text(job_id, node)
        declined = job_id is not None and (node, job_id) in self._declined
        self.label.setStyleSheet(f"color: {ERROR_COLOR};" if declined else "")
        self.label.setText(text)
        self.label.setVisible(bool(text))
