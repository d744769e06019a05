"""Small building blocks every tab uses, so the screens look alike."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QAbstractItemView,
    QFrame,
    QGridLayout,
    QGroupBox,
    QHeaderView,
    QLabel,
    QMessageBox,
    QTableWidget,
    QTableWidgetItem,
    QWidget,
)

from milon_app.gui.tasks import describe_error


def table(columns: Sequence[str], *, stretch: int = -1) -> QTableWidget:
    """A read-only, row-selecting table; ``stretch`` is the column that takes spare width."""
    t = QTableWidget(0, len(columns))
    t.setHorizontalHeaderLabels(list(columns))
    t.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
    t.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
    t.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
    t.setAlternatingRowColors(True)
    t.verticalHeader().setVisible(False)
    header = t.horizontalHeader()
    header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
    if stretch >= 0:
        header.setSectionResizeMode(stretch, QHeaderView.ResizeMode.Stretch)
    else:
        header.setStretchLastSection(True)
    return t


def fill(t: QTableWidget, rows: Sequence[Sequence[Any]], keys: Sequence[Any] | None = None) -> None:
    """Replace the rows, keeping the selection on the same key when it still exists."""
    selected = selected_key(t)
    t.setRowCount(len(rows))
    for r, row in enumerate(rows):
        for c, value in enumerate(row):
            item = QTableWidgetItem("—" if value is None or value == "" else str(value))
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
            if keys is not None and c == 0:
                item.setData(Qt.ItemDataRole.UserRole, keys[r])
            t.setItem(r, c, item)
    if selected is not None and keys is not None and selected in keys:
        t.selectRow(list(keys).index(selected))


def selected_key(t: QTableWidget) -> Any:
    row = t.currentRow()
    item = t.item(row, 0) if row >= 0 else None
    return None if item is None else item.data(Qt.ItemDataRole.UserRole)


def form_box(title: str, rows: Sequence[tuple[str, QWidget]]) -> QGroupBox:
    """A titled two-column form with labels right-aligned."""
    box = QGroupBox(title)
    grid = QGridLayout(box)
    grid.setColumnStretch(1, 1)
    for i, (label, widget) in enumerate(rows):
        lab = QLabel(label)
        lab.setAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        grid.addWidget(lab, i, 0)
        grid.addWidget(widget, i, 1)
    return box


def value_label(text: str = "—") -> QLabel:
    lab = QLabel(text)
    lab.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
    return lab


ERROR_COLOR = "#c0392b"  # one red for every error line, readable on both themes


def hint(text: str = "") -> QLabel:
    """Grey explanatory text under a control (says why, not what)."""
    lab = QLabel(text)
    lab.setWordWrap(True)
    lab.setObjectName("hint")
    return lab


def error_label(text: str = "") -> QLabel:
    """A red line that says what is wrong with the form above it."""
    lab = QLabel(text)
    lab.setWordWrap(True)
    lab.setStyleSheet(f"color: {ERROR_COLOR};")
    return lab


def separator() -> QFrame:
    line = QFrame()
    line.setFrameShape(QFrame.Shape.HLine)
    line.setFrameShadow(QFrame.Shadow.Sunken)
    return line


def show_error(parent: QWidget | None, title: str, exc: BaseException | str) -> None:
    text = exc if isinstance(exc, str) else describe_error(exc)
    box = QMessageBox(QMessageBox.Icon.Warning, title, text, parent=parent)
    box.setObjectName("error-box")
    box.open()  # not exec(): tests and the event loop keep running
