"""The settings dialog: every config field with its default and description.

Fields are generated from the config dataclasses (``describe`` and the field
metadata), so a new setting shows up here without touching this file. Values
are checked by the same loader that reads the file, and saved atomically;
chain, peer and wallet changes take effect at the next start.
"""

from __future__ import annotations

import dataclasses
import json
import typing
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QGridLayout,
    QGroupBox,
    QLabel,
    QLineEdit,
    QMainWindow,
    QPushButton,
    QScrollArea,
    QVBoxLayout,
    QWidget,
)

from milon_app.config import Config, Paths, config_from_dict, describe, load_config, save_config
from milon_app.errors import BadInputError, ConfigError
from milon_app.gui.context import GuiContext
from milon_app.gui.tasks import describe_error
from milon_app.gui.widgets import error_label, hint
from milon_app.node.build import options_from_config

RESTART_NOTE = "Changes to the network (chain.*, p2p.*) and wallet apply after MILON restarts."
_BOOLS = {"true": True, "false": False, "yes": True, "no": False, "on": True, "off": False}


def field_type(key: str) -> Any:
    """The annotated type of a dotted config key, e.g. ``list[int]`` for node.work_hours."""
    owner: Any = Config
    parts = key.split(".")
    for part in parts[:-1]:
        owner = typing.get_type_hints(owner)[part]
    return typing.get_type_hints(owner)[parts[-1]]


def to_text(value: Any) -> str:
    """How a value is edited: lists as comma-separated items, records as JSON."""
    if isinstance(value, list):
        if any(dataclasses.is_dataclass(v) or isinstance(v, dict) for v in value):
            items = [v if isinstance(v, dict) else dataclasses.asdict(v) for v in value]
            return json.dumps(items)
        return ", ".join(str(v) for v in value)
    return str(value)


def from_text(key: str, text: str) -> Any:
    """Parse an edited value back; type errors name the key."""
    tp = field_type(key)
    text = text.strip()
    try:
        if typing.get_origin(tp) is list:
            (item,) = typing.get_args(tp)
            if dataclasses.is_dataclass(item):
                return json.loads(text or "[]")
            parts = [p.strip() for p in text.split(",") if p.strip()]
            return [int(p) if item is int else p for p in parts]
        if tp is int:
            return int(text)
        if tp is float:
            return float(text)
        if tp is bool:  # shown as True/False by to_text
            if text.lower() not in _BOOLS:
                raise ValueError(f"expected true or false, got {text!r}")
            return _BOOLS[text.lower()]
    except (ValueError, json.JSONDecodeError) as exc:
        raise ConfigError(f"setting {key}: {exc}") from None
    return text


class SettingsDialog(QDialog):
    def __init__(self, paths: Paths, ctx: GuiContext | None = None,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.paths = paths
        self.ctx = ctx
        self.setWindowTitle("MILON settings")
        self.resize(820, 640)
        self.editors: dict[str, QLineEdit] = {}
        self.defaults = {key: value for key, value, _ in describe(Config())}
        lay = QVBoxLayout(self)
        lay.addWidget(hint(f"Settings file: {paths.config_file}\n{RESTART_NOTE}"))
        self.error = error_label()
        try:
            cfg = load_config(paths.config_file)
        except ConfigError as exc:
            cfg = Config()
            self.error.setText(f"{exc}\nShowing the defaults; saving replaces the file.")
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setWidget(self._fields(cfg))
        lay.addWidget(scroll, 1)
        lay.addWidget(self.error)
        self.saved = QLabel("")
        self.saved.setWordWrap(True)
        lay.addWidget(self.saved)
        buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Save | QDialogButtonBox.StandardButton.Close
        )
        self.reset_button = QPushButton("Restore defaults")
        buttons.addButton(self.reset_button, QDialogButtonBox.ButtonRole.ResetRole)
        self.reset_button.clicked.connect(self.restore_defaults)
        self.save_button = buttons.button(QDialogButtonBox.StandardButton.Save)
        self.save_button.clicked.connect(self.save)
        buttons.rejected.connect(self.reject)
        lay.addWidget(buttons)

    def _fields(self, cfg: Config) -> QWidget:
        body = QWidget()
        outer = QVBoxLayout(body)
        groups: dict[str, QGridLayout] = {}
        for key, value, description in describe(cfg):
            section = key.split(".")[0]
            if section not in groups:
                box = QGroupBox(section)
                groups[section] = QGridLayout(box)
                groups[section].setColumnStretch(1, 1)
                outer.addWidget(box)
            grid = groups[section]
            row = grid.rowCount()
            edit = QLineEdit(to_text(value))
            default = to_text(self.defaults[key])
            edit.setPlaceholderText(default)
            edit.setToolTip(description)
            grid.addWidget(QLabel(key.split(".", 1)[-1]), row, 0)
            grid.addWidget(edit, row, 1)
            grid.addWidget(hint(f"{description} — default: {default or '(empty)'}"), row + 1, 1)
            self.editors[key] = edit
        outer.addStretch(1)
        return body

    def restore_defaults(self) -> None:
        for key, edit in self.editors.items():
            edit.setText(to_text(self.defaults[key]))
        self.saved.setText("Defaults restored in the form; Save to keep them.")

    def values(self) -> Config:
        """The edited settings, type-checked like the file loader does."""
        data: dict[str, Any] = {}
        for key, edit in self.editors.items():
            value = from_text(key, edit.text())
            if "." in key:
                section, name = key.split(".", 1)
                data.setdefault(section, {})[name] = value
            else:
                data[key] = value
        cfg = config_from_dict(data)
        try:  # what the node refuses at start (node.accept_mode, privacy.max_epsilon >= 0, ...)
            options_from_config(cfg)
        except BadInputError as exc:
            raise ConfigError(f"not saved: {exc}") from None
        return cfg

    def save(self) -> bool:
        try:
            cfg = self.values()
            save_config(cfg, self.paths.config_file)  # atomic: a crash leaves the old file
        except Exception as exc:
            self.error.setText(describe_error(exc))
            self.saved.setText("")
            return False
        self.error.setText("")
        self.saved.setText(f"Saved. {RESTART_NOTE}")
        if self.ctx is not None:
            self.ctx.status(f"Settings saved. {RESTART_NOTE}")
        return True


def install_menu(window: QMainWindow, ctx: GuiContext, paths: Paths) -> QAction:
    """A MILON menu with Settings… and Quit; returns the Settings action."""
    menu = window.menuBar().addMenu("&MILON")
    settings = QAction("&Settings…", window)
    settings.setShortcut(QKeySequence(QKeySequence.StandardKey.Preferences))
    settings.setMenuRole(QAction.MenuRole.PreferencesRole)

    def open_settings() -> None:
        dialog = SettingsDialog(paths, ctx, window)  # a child: window.findChild finds it
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.open()

    settings.triggered.connect(open_settings)
    quit_action = QAction("&Quit", window)
    quit_action.setShortcut(QKeySequence(QKeySequence.StandardKey.Quit))
    quit_action.triggered.connect(window.close)
    menu.addAction(settings)
    menu.addSeparator()
    menu.addAction(quit_action)
    return settings
