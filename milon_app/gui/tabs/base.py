"""The pattern every tab follows: load on a worker thread, show on the GUI thread.

``load()`` reads the chain and the core (blocking) and returns plain data;
``show(data)`` puts it on screen. ``act()`` runs a user action the same way
and reloads after it, so a click's effect is visible as soon as the chain
has it. A refresh never queues behind another refresh of the same tab.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from PySide6.QtWidgets import QLabel, QWidget

from milon_app.gui.context import GuiContext
from milon_app.gui.tasks import describe_error
from milon_app.gui.widgets import ERROR_COLOR, show_error


class Tab(QWidget):
    title = ""

    def __init__(self, ctx: GuiContext) -> None:
        super().__init__()
        self.ctx = ctx
        self._loading = False
        self._again = False
        self.message = QLabel("")  # the last action's outcome, shown under the tab's controls
        self.message.setObjectName("message")
        self.message.setWordWrap(True)
        self.loads = 0  # finished refreshes (tests wait on it)

    # -- override ------------------------------------------------------------------------------
    def load(self) -> Any:
        return None

    def show_data(self, data: Any) -> None:
        pass

    # -- plumbing ------------------------------------------------------------------------------
    @property
    def loading(self) -> bool:
        """A load runs, or one is queued behind it: a refresh asked for mid-load only lands
        with the load after (tests wait for that one, not the one already under way)."""
        return self._loading or self._again

    def refresh(self) -> None:
        if self._loading:
            self._again = True
            return
        self._loading = True
        self.ctx.runner.run(
            self.load, self._loaded, self._load_failed, what=f"{self.title} view", view=True
        )

    def _loaded(self, data: Any) -> None:
        self._loading = False
        self.loads += 1
        self.show_data(data)
        self._load_queued()

    def _load_failed(self, exc: BaseException) -> None:
        self._loading = False
        self.loads += 1
        self.say(f"Could not read: {describe_error(exc)}", error=True)
        self._load_queued()  # a refresh asked for during a failed read is not lost

    def _load_queued(self) -> None:
        if self._again:
            self._again = False
            self.refresh()

    def act(
        self,
        what: str,
        fn: Callable[[], Any],
        done: Callable[[Any], str | None] | None = None,
    ) -> None:
        """Run a user action off the GUI thread; report the outcome, then reload."""
        self.say(f"{what}…")

        def ok(result: Any) -> None:
            text = done(result) if done else None
            self.say(text or f"{what}: done")
            self.refresh()

        def failed(exc: BaseException) -> None:
            self.say(f"{what} failed: {describe_error(exc)}", error=True)
            show_error(self, f"{what} failed", exc)
            self.refresh()

        self.ctx.runner.run(fn, ok, failed, what=what)

    def say(self, text: str, *, error: bool = False) -> None:
        self.message.setProperty("error", error)
        self.message.setStyleSheet(f"color: {ERROR_COLOR};" if error else "")
        self.message.setText(text)
        self.ctx.status(text)
