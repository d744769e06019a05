"""What every tab receives: the session, the task runner, the event bridge, a notifier."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from milon_app.gui.bridge import EventBridge
from milon_app.gui.tasks import TaskRunner
from milon_app.session.session import Session

Notify = Callable[[str, str], None]  # title, message


@dataclass
class GuiContext:
    session: Session
    runner: TaskRunner
    bridge: EventBridge
    notify: Notify = field(default=lambda _title, _msg: None)
    status: Callable[[str], None] = field(default=lambda _msg: None)  # a transient status line
