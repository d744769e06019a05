"""The Governance tab's parameter list: every governed value, what it means, what it is now.

Read on the tab's worker thread with the rest of the view
(:func:`milon_app.session.parameters.read_parameters`); picking a row fills the
"Change a parameter" form, so changing one starts from seeing it.
"""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtWidgets import QGroupBox, QVBoxLayout

from milon_app.gui.widgets import fill, hint, selected_key, table
from milon_app.session.parameters import ParameterValue

COLUMNS = ("Parameter", "Value", "What it means")


class ParametersBox(QGroupBox):
    """A table of the governed parameters; ``on_pick(name)`` when the user selects one."""

    def __init__(self, on_pick: Callable[[str], None]) -> None:
        super().__init__("Protocol parameters")
        self.table = table(COLUMNS, stretch=2)
        self.table.setWordWrap(False)
        self.table.itemSelectionChanged.connect(self._picked)
        self._on_pick = on_pick
        self.values: dict[str, ParameterValue] = {}
        lay = QVBoxLayout(self)
        lay.addWidget(self.table, 1)
        lay.addWidget(
            hint(
                "Only an executed proposal changes these. Select one to propose a new value; "
                "the contract refuses values outside its hard bounds."
            )
        )

    def show_values(self, values: list[ParameterValue]) -> None:
        self.values = {v.name: v for v in values}
        fill(
            self.table,
            [(v.name, v.text, v.description) for v in values],
            keys=[v.name for v in values],
        )
        for row, v in enumerate(values):
            item = self.table.item(row, 2)
            if item is not None:
                item.setToolTip(f"{v.description} ({v.contract})")

    def row_text(self, name: str) -> list[str]:
        """The cells of one parameter's row (tests, and a status line)."""
        row = list(self.values).index(name)
        items = [self.table.item(row, c) for c in range(len(COLUMNS))]
        return [item.text() if item is not None else "" for item in items]

    def _picked(self) -> None:
        key = selected_key(self.table)
        if key is not None:
            self._on_pick(str(key))
