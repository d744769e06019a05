"""Asking for the keystore (or secret store) password, when no store may keep it."""

from __future__ import annotations

from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QLabel,
    QLineEdit,
    QVBoxLayout,
    QWidget,
)

from milon_app.gui.widgets import error_label


class PasswordDialog(QDialog):
    """One hidden field; the last error is shown above it so a retry says what was wrong."""

    def __init__(self, prompt: str, error: str = "", parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Unlock MILON")
        lay = QVBoxLayout(self)
        self.prompt = QLabel(prompt)
        self.prompt.setWordWrap(True)
        self.error = error_label(error)
        self.error.setVisible(bool(error))
        self.field = QLineEdit()
        self.field.setEchoMode(QLineEdit.EchoMode.Password)
        buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
        )
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        for w in (self.error, self.prompt, self.field, buttons):
            lay.addWidget(w)
        self.resize(460, self.sizeHint().height())


def ask_with_dialog(prompt: str, error: str) -> str | None:
    dialog = PasswordDialog(prompt, error)
    return dialog.field.text() if dialog.exec() == QDialog.DialogCode.Accepted else None
