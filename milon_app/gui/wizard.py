"""The first-run wizard: the wallet, where its password is kept, and which network.

The pages only collect answers; :mod:`milon_app.session.setup` checks them
(the same rules as ``milon wallet``) and, on Finish, writes the keystore,
stores the password and saves the config on the task runner, because scrypt
and the keyring block. Nothing is written until Finish succeeds.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QFormLayout,
    QLabel,
    QLineEdit,
    QProgressBar,
    QRadioButton,
    QToolButton,
    QVBoxLayout,
    QWidget,
    QWizard,
    QWizardPage,
)

from milon_app.config import Paths
from milon_app.gui.invite import InviteField
from milon_app.gui.network import NetworkForm, path_row, radios
from milon_app.gui.tasks import TaskRunner, describe_error
from milon_app.gui.widgets import error_label, hint
from milon_app.session import setup
from milon_app.session.invite_join import setup_from_invite
from milon_app.wallet.keystore import DEFAULT_KDF_N
from milon_app.wallet.os_keyring import OsBackend
from milon_app.wallet.secret_store import CHOICES

STORE_LABELS = {
    "os-keyring": "OS keyring (the system's secure password store)",
    "encrypted-file": "Encrypted file, unlocked with a master password you type at each start",
    "prompt": "Nothing stored: type the keystore password at each start",
    "password-file": "A password file you maintain (mode 0600)",
}


def _password_edit(placeholder: str = "") -> QLineEdit:
    edit = QLineEdit()
    edit.setEchoMode(QLineEdit.EchoMode.Password)
    edit.setPlaceholderText(placeholder)
    return edit


class WalletPage(QWizardPage):
    KINDS = list(setup.WALLET_KINDS)
    LABELS = {
        "create": "Create a new account",
        "import-key": "Import a private key (hex)",
        "import-keystore": "Import a keystore file (JSON, keystore v3)",
    }

    def __init__(self) -> None:
        super().__init__()
        self.setTitle("Your account")
        self.setSubTitle("The key that signs your node's transactions, kept in an encrypted file.")
        lay = QVBoxLayout(self)
        self.kinds = radios(lay, self.KINDS, self.LABELS)
        form = QFormLayout()
        self.private_key = _password_edit("64 hex digits, with or without 0x")
        self.source = QLineEdit()
        self.source_row = path_row(self.source, "Keystore file to import")
        self.password = _password_edit("not empty")
        self.confirm = _password_edit("the same again")
        form.addRow("Private key", self.private_key)
        form.addRow("Keystore file", self.source_row)
        form.addRow("Password", self.password)
        form.addRow("Repeat password", self.confirm)
        self.form = form
        lay.addLayout(form)
        self.note = hint()
        lay.addWidget(self.note)
        self.error = error_label()
        lay.addWidget(self.error)
        lay.addStretch(1)
        self.kinds.idToggled.connect(lambda _i, _on: self._sync())
        self._sync()

    @property
    def kind(self) -> str:
        return self.KINDS[self.kinds.checkedId()]

    def _sync(self) -> None:
        kind = self.kind
        self.form.setRowVisible(self.private_key, kind == "import-key")
        self.form.setRowVisible(self.source_row, kind == "import-keystore")
        self.form.setRowVisible(self.confirm, kind != "import-keystore")
        label = self.form.labelForField(self.password)
        if isinstance(label, QLabel):
            label.setText("Password of that file" if kind == "import-keystore" else "Password")
        self.note.setText(
            "The imported file is re-encrypted into MILON's keystore and keeps its password."
            if kind == "import-keystore"
            else "Choose a password you can remember: it encrypts the key (scrypt)."
        )
        self.error.setText("")

    def choice(self) -> setup.WalletChoice:
        return setup.WalletChoice(
            kind=self.kind,
            password=self.password.text(),
            confirm=self.confirm.text(),
            private_key=self.private_key.text(),
            source=self.source.text().strip(),
        )

    def validatePage(self) -> bool:
        try:
            setup.check_wallet(self.choice())
        except Exception as exc:
            self.error.setText(describe_error(exc))
            return False
        self.error.setText("")
        return True


class SecretPage(QWizardPage):
    def __init__(self, paths: Paths) -> None:
        super().__init__()
        self.paths = paths
        self.backend: OsBackend | None = None
        self.setTitle("Where the password is kept")
        self.setSubTitle("MILON needs the keystore password at each start. Choose where it lives.")
        lay = QVBoxLayout(self)
        self.stores = radios(lay, list(CHOICES), STORE_LABELS)
        self.os_status = hint("Checking for a password keyring on this system…")
        lay.addWidget(self.os_status)
        # the technical detail (backend names, D-Bus errors) stays behind a toggle
        self.details_button = QToolButton()
        self.details_button.setText("Details")
        self.details_button.setCheckable(True)
        self.details_button.setArrowType(Qt.ArrowType.RightArrow)
        self.details_button.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        self.details_button.setVisible(False)
        self.details = hint("")
        self.details.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.details.setVisible(False)
        self.details_button.toggled.connect(self._show_details)
        lay.addWidget(self.details_button)
        lay.addWidget(self.details)
        self.os_button().setEnabled(False)
        self.stores.button(1).setChecked(True)
        form = QFormLayout()
        self.master = _password_edit("typed at each start")
        self.master_confirm = _password_edit("the same again")
        self.password_file = QLineEdit()
        self.password_file_row = path_row(self.password_file, "Password file (mode 0600)")
        form.addRow("Master password", self.master)
        form.addRow("Repeat master password", self.master_confirm)
        form.addRow("Password file", self.password_file_row)
        self.form = form
        lay.addLayout(form)
        self.in_use = QLabel("")
        self.in_use.setWordWrap(True)
        lay.addWidget(self.in_use)
        self.error = error_label()
        lay.addWidget(self.error)
        lay.addStretch(1)
        self.stores.idToggled.connect(lambda _i, _on: self._sync())
        self._sync()

    def os_button(self) -> QRadioButton:
        button = self.stores.button(0)
        assert isinstance(button, QRadioButton)
        return button

    @property
    def store(self) -> str:
        return CHOICES[self.stores.checkedId()]

    def set_backend(self, backend: OsBackend) -> None:
        """Called once detection (D-Bus, Keychain) finished on a worker."""
        self.backend = backend
        button = self.os_button()
        button.setEnabled(backend.secure)
        if backend.secure:
            button.setChecked(True)
        self.os_status.setText(backend.plain())
        self.details.setText(
            f"{backend.describe()}.\n"
            + ("" if backend.secure else "MILON never falls back to a plaintext file.")
        )
        self.details_button.setVisible(True)
        self._sync()

    def _show_details(self, shown: bool) -> None:
        self.details.setVisible(shown)
        self.details_button.setArrowType(
            Qt.ArrowType.DownArrow if shown else Qt.ArrowType.RightArrow
        )

    def _sync(self) -> None:
        store = self.store
        exists = setup.encrypted_store_file(self.paths).exists()
        self.form.setRowVisible(self.master, store == "encrypted-file")
        self.form.setRowVisible(self.master_confirm, store == "encrypted-file" and not exists)
        self.form.setRowVisible(self.password_file_row, store == "password-file")
        self.in_use.setText(f"In use: {self.describe()}")
        self.error.setText("")

    def describe(self) -> str:
        store = self.store
        if store == "os-keyring":
            name = self.backend.name if self.backend else "the OS keyring"
            return f"the OS keyring ({name})."
        if store == "encrypted-file":
            return f"the encrypted file {setup.encrypted_store_file(self.paths)}."
        if store == "password-file":
            return f"the password file {self.password_file.text() or '(choose one)'}."
        return "nothing stored; you type the keystore password at each start."

    def choice(self) -> setup.SecretChoice:
        return setup.SecretChoice(
            store=self.store,
            password_file=self.password_file.text().strip(),
            master_password=self.master.text(),
            master_confirm=self.master_confirm.text(),
        )

    def validatePage(self) -> bool:
        wizard = self.wizard()
        assert isinstance(wizard, SetupWizard)
        try:
            setup.check_secret(self.choice(), wizard.wallet_page.password.text(), self.paths,
                               self.backend)
        except Exception as exc:
            self.error.setText(describe_error(exc))
            return False
        return True


class NetworkPage(QWizardPage):
    """The network: pasted as an invite (checked on its chain) or chosen below."""

    def __init__(self, paths: Paths, runner: TaskRunner) -> None:
        super().__init__()
        self.setTitle("Network")
        self.setSubTitle("Which chain and peers your node works with. Changeable later.")
        lay = QVBoxLayout(self)
        lay.addWidget(QLabel("Join with an invite"))
        self.form = NetworkForm(paths)
        self.invite = InviteField(runner)
        self.invite.accepted_invite.connect(self.form.set_invite)
        self.invite.cleared.connect(self.form.clear_invite)
        lay.addWidget(self.invite)
        lay.addWidget(self.form)
        lay.addStretch(1)

    def validatePage(self) -> bool:
        if self.invite.checking:
            self.form.error.setText("the invite is still being checked on its chain")
            return False
        if self.invite.unused():
            self.form.error.setText(
                "press Use invite (or clear the invite field to choose the network below)"
            )
            return False
        return self.form.check() is not None


class FinishPage(QWizardPage):
    """Shows the summary; Finish runs the setup on a worker and stays until it succeeded."""

    def __init__(self) -> None:
        super().__init__()
        self.setTitle("Ready")
        lay = QVBoxLayout(self)
        self.summary = QLabel("")
        self.summary.setWordWrap(True)
        lay.addWidget(self.summary)
        self.busy = QProgressBar()
        self.busy.setRange(0, 0)
        self.busy.setVisible(False)
        lay.addWidget(self.busy)
        self.error = error_label()
        lay.addWidget(self.error)
        lay.addStretch(1)

    def initializePage(self) -> None:
        wizard = self.wizard()
        assert isinstance(wizard, SetupWizard)
        w, s = wizard.wallet_page, wizard.secret_page
        net = wizard.network_page.form
        network = NetworkForm.LABELS[net.kind]
        if net.invite is not None:
            network = (
                f"the invite's, chain {net.invite.manifest.chain_id} at {net.invite.rpc_urls[0]}."
                f"\nOnce started, the Federations tab offers federation {net.invite.federation} "
                "selected: fund your account, enter a stake and press Join"
            )
        self.summary.setText(
            f"Account: {WalletPage.LABELS[w.kind].lower()}.\n"
            f"Password kept in: {s.describe()}\n"
            f"Network: {network}.\n\n"
            "Finish writes the keystore (mode 0600), stores the password and saves the settings."
        )
        self.error.setText("")

    def validatePage(self) -> bool:
        wizard = self.wizard()
        assert isinstance(wizard, SetupWizard)
        if wizard.result_ is not None:
            return True
        wizard.apply()
        return False


class SetupWizard(QWizard):
    """``result_`` holds the :class:`setup.SetupResult` once Finish succeeded."""

    def __init__(
        self,
        paths: Paths,
        runner: TaskRunner,
        *,
        kdf_n: int = DEFAULT_KDF_N,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.paths = paths
        self.runner = runner
        self.kdf_n = kdf_n
        self.result_: setup.SetupResult | None = None
        self.applying = False
        self.setWindowTitle("Set up MILON")
        self.setWizardStyle(QWizard.WizardStyle.ModernStyle)
        self.wallet_page = WalletPage()
        self.secret_page = SecretPage(paths)
        self.network_page = NetworkPage(paths, runner)
        self.finish_page = FinishPage()
        for page in (self.wallet_page, self.secret_page, self.network_page, self.finish_page):
            self.addPage(page)
        self.resize(720, 520)
        from milon_app.wallet.os_keyring import detect_os_backend

        runner.run(detect_os_backend, self.secret_page.set_backend, self._detect_failed,
                   what="detect the OS keyring")

    def invite_federation(self) -> int | None:
        """The federation of the invite the network came from: the app offers it selected."""
        invite = self.network_page.form.invite
        return invite.federation if invite is not None else None

    def keystore_password(self) -> str:
        """The keystore's password as typed on the first page: after Finish the app unlocks
        with it instead of asking for a password the user has just typed twice."""
        return self.wallet_page.password.text()

    def _detect_failed(self, exc: BaseException) -> None:
        self.secret_page.set_backend(OsBackend("OS keyring", None, describe_error(exc)))

    def apply(self) -> None:
        """Write everything on a worker; errors land on the last page, nothing half-written."""
        if self.applying:
            return
        wallet, secret = self.wallet_page.choice(), self.secret_page.choice()
        network = self.network_page.form.choice()
        invite = self.network_page.form.invite
        backend = self.secret_page.backend
        paths, kdf_n = self.paths, self.kdf_n
        self._set_busy(True)

        def work() -> setup.SetupResult:
            if invite is not None:  # its manifest too, and the config `milon join` writes
                return setup_from_invite(
                    paths, wallet, secret, invite, os_backend=backend, kdf_n=kdf_n
                )
            return setup.apply_setup(
                paths, wallet, secret, network, os_backend=backend, kdf_n=kdf_n
            )

        self.runner.run(work, self._applied, self._failed, what="set up the wallet")

    def _set_busy(self, busy: bool) -> None:
        self.applying = busy
        page = self.finish_page
        page.busy.setVisible(busy)
        if busy:
            page.error.setText("")
            page.summary.setText(page.summary.text().split("\n\nWorking")[0]
                                 + "\n\nWorking: encrypting the keystore (scrypt)…")
        for which in (QWizard.WizardButton.BackButton, QWizard.WizardButton.FinishButton,
                      QWizard.WizardButton.CancelButton):
            self.button(which).setEnabled(not busy)

    def _applied(self, result: Any) -> None:
        self._set_busy(False)
        self.result_ = result
        self.accept()

    def _failed(self, exc: BaseException) -> None:
        self._set_busy(False)
        self.finish_page.error.setText(
            f"{describe_error(exc)}\n\nNothing was written. Go Back to change your answers."
        )
