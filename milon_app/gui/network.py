"""Choosing the network: the simulated federation, a local devnet, or a custom RPC.

Shared by the first-run wizard and the app's "change network" dialog after a
failed start; the checks are :func:`milon_app.session.setup.check_network`.
"""

from __future__ import annotations

from PySide6.QtWidgets import (
    QButtonGroup,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLineEdit,
    QPlainTextEdit,
    QPushButton,
    QRadioButton,
    QVBoxLayout,
    QWidget,
)

from milon_app.chain.invite import Invite
from milon_app.config import Config, Paths
from milon_app.gui.tasks import describe_error
from milon_app.gui.widgets import error_label, hint
from milon_app.session import setup


def path_row(edit: QLineEdit, title: str) -> QWidget:
    """A path field with a Browse button."""
    row = QWidget()
    lay = QHBoxLayout(row)
    lay.setContentsMargins(0, 0, 0, 0)
    lay.addWidget(edit, 1)
    browse = QPushButton("Browse…")

    def pick() -> None:
        chosen, _ = QFileDialog.getOpenFileName(row, title, edit.text())
        if chosen:
            edit.setText(chosen)

    browse.clicked.connect(pick)
    lay.addWidget(browse)
    return row


def radios(parent: QVBoxLayout, keys: list[str], labels: dict[str, str]) -> QButtonGroup:
    """One radio button per key (objectName = key), the first checked."""
    group = QButtonGroup(parent)
    for i, key in enumerate(keys):
        button = QRadioButton(labels[key])
        button.setObjectName(key)
        group.addButton(button, i)
        parent.addWidget(button)
    group.buttons()[0].setChecked(True)
    return group


class NetworkForm(QWidget):
    """The network choice, shared by the wizard and the app's "change network" dialog."""

    LABELS = {
        "simulated": "This machine's simulated federation (no setup; for trying MILON)",
        "devnet": f"A local devnet started with `milon devnet` ({setup.DEVNET_RPC})",
        "custom": "Another network: RPC URL, deployment manifest and bootstrap peers",
    }

    def __init__(self, paths: Paths, cfg: Config | None = None) -> None:
        super().__init__()
        self.paths = paths
        self.invite: Invite | None = None  # a checked invite the fields came from
        self._filling = False
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        self.kinds = radios(lay, list(setup.NETWORK_KINDS), self.LABELS)
        self.devnet_note = hint(setup.devnet_note(paths))
        lay.addWidget(self.devnet_note)
        form = QFormLayout()
        self.rpc_url = QLineEdit()
        self.rpc_url.setPlaceholderText("https://rpc.example.org or http://host:8545")
        self.manifest = QLineEdit()
        self.manifest_row = path_row(self.manifest, "Deployment manifest (JSON)")
        self.bootstrap = QPlainTextEdit()
        self.bootstrap.setPlaceholderText("one multiaddr per line: /ip4/…/tcp/…/p2p/<peer id>")
        self.bootstrap.setMaximumHeight(90)
        form.addRow("RPC URL", self.rpc_url)
        form.addRow("Manifest", self.manifest_row)
        form.addRow("Bootstrap peers", self.bootstrap)
        self.form = form
        lay.addLayout(form)
        self.error = error_label()
        lay.addWidget(self.error)
        if cfg is not None:
            self._load(cfg)
        self.kinds.idToggled.connect(lambda _i, _on: self._sync())
        for edit in (self.rpc_url, self.manifest):
            edit.textEdited.connect(lambda _t: self.clear_invite())
        self.bootstrap.textChanged.connect(self.clear_invite)
        self._sync()

    def set_invite(self, invite: Invite) -> None:
        """Fill the fields from a checked invite; its manifest is written on Finish."""
        from milon_app.session.invite_join import manifest_file

        self._filling = True
        try:
            self.kinds.button(setup.NETWORK_KINDS.index("custom")).setChecked(True)
            self.rpc_url.setText(invite.rpc_urls[0])
            self.manifest.setText(str(manifest_file(self.paths.data_dir, invite)))
            self.bootstrap.setPlainText("\n".join(invite.bootstrap))
        finally:
            self._filling = False
        self.invite = invite

    def clear_invite(self) -> None:
        """The user changed what the invite filled in: it no longer applies."""
        if not self._filling:
            self.invite = None

    def _load(self, cfg: Config) -> None:
        c = cfg.chain
        kind = "simulated" if c.rpc_url == setup.EMBEDDED else "custom"
        if c.rpc_url == setup.DEVNET_RPC and c.manifest == str(setup.devnet_manifest(self.paths)):
            kind = "devnet"
        self.kinds.button(setup.NETWORK_KINDS.index(kind)).setChecked(True)
        if kind == "custom":
            self.rpc_url.setText(c.rpc_url)
            self.manifest.setText(c.manifest)
            self.bootstrap.setPlainText("\n".join(cfg.p2p.bootstrap))

    @property
    def kind(self) -> str:
        return setup.NETWORK_KINDS[self.kinds.checkedId()]

    def _sync(self) -> None:
        if self.kind != "custom":
            self.clear_invite()
        custom = self.kind == "custom"
        for field in (self.rpc_url, self.manifest_row, self.bootstrap):
            self.form.setRowVisible(field, custom)
        self.devnet_note.setVisible(self.kind == "devnet")
        self.error.setText("")

    def choice(self) -> setup.NetworkChoice:
        return setup.NetworkChoice(
            kind=self.kind,
            rpc_url=self.rpc_url.text().strip(),
            manifest=self.manifest.text().strip(),
            bootstrap=tuple(self.bootstrap.toPlainText().splitlines()),
        )

    def check(self) -> tuple[str, str, list[str]] | None:
        """The settings for the config, or None with the error shown; an invite's were
        checked on its chain already (its manifest is not written yet)."""
        if self.invite is not None:
            self.error.setText("")
            return self.rpc_url.text(), self.manifest.text(), list(self.invite.bootstrap)
        try:
            result = setup.check_network(self.choice(), self.paths)
        except Exception as exc:
            self.error.setText(describe_error(exc))
            return None
        self.error.setText("")
        return result


class NetworkDialog(QDialog):
    """The form in a dialog; OK only closes it once the choice checks out."""

    def __init__(self, paths: Paths, cfg: Config, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Change network")
        lay = QVBoxLayout(self)
        self.form = NetworkForm(paths, cfg)
        lay.addWidget(self.form)
        buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
        )
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        lay.addWidget(buttons)
        self.checked: tuple[str, str, list[str]] | None = None

    def accept(self) -> None:
        self.checked = self.form.check()
        if self.checked is not None:
            super().accept()
