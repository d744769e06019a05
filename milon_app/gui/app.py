"""The desktop app's start and end: wizard, unlock, window, session, shutdown.

Every step that blocks (keystore decryption, the keyring, starting the
network) runs on the task runner; while ``start()`` waits for one before the
event loop runs it spins a local event loop, so dialogs stay responsive.
The window is shown before the session starts, and torch is not imported
until the session needs it, so the first window appears quickly.
"""

from __future__ import annotations

import importlib
import os
import sys
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

import shiboken6
from PySide6.QtCore import QEvent, QEventLoop, QObject, Qt, QTimer, Signal
from PySide6.QtGui import QIcon
from PySide6.QtWidgets import (
    QApplication,
    QDialog,
    QMessageBox,
    QProgressDialog,
)

from milon_app.config import Config, Paths, load_config, save_config
from milon_app.errors import MilonError
from milon_app.exit_codes import ExitCode
from milon_app.gui.gui_gc import GuiThreadCollector
from milon_app.gui.password_dialog import PasswordDialog as PasswordDialog  # re-export
from milon_app.gui.password_dialog import ask_with_dialog
from milon_app.gui.tasks import TaskRunner, describe_error
from milon_app.session import setup
from milon_app.wallet.keystore import DEFAULT_KDF_N

if TYPE_CHECKING:
    from eth_account.signers.local import LocalAccount

    from milon_app.gui.bridge import EventBridge
    from milon_app.gui.window import MainWindow
    from milon_app.session.session import Session, SessionOptions
    from milon_app.wallet.keystore import Wallet

VIEWS_DRAIN_S = 10.0  # how long quitting waits for views already reading before it stops
BENCH_ENV = "MILON_GUI_BENCH"  # print the time to the first window, then quit
Ask = Callable[[str, str], "str | None"]  # prompt, error -> password or None (cancelled)


def icon() -> QIcon:
    path = Path(__file__).resolve().parent / "resources" / "milon.png"  # packaged with the app
    return QIcon(str(path)) if path.exists() else QIcon()


def preload() -> None:
    """Import the window and its tabs (web3, eth_account, pyqtgraph: about a second) on a
    worker while the password is typed or scrypt runs, so the window appears sooner."""
    import pkgutil

    import eth_account  # noqa: F401 - first: the unlock waits for it, then scrypt overlaps the rest

    import milon_app.gui.tabs as tabs
    import milon_app.gui.window  # noqa: F401

    for info in pkgutil.iter_modules(tabs.__path__):
        importlib.import_module(f"{tabs.__name__}.{info.name}")


class MilonApp(QObject):
    """The app's steps, callable one by one (tests) or all by :func:`run_app`."""

    progress = Signal(str, float)  # from session.start() on a worker thread
    started = Signal()
    start_failed = Signal(str)
    closed = Signal()  # the session stopped and the window closed: run_app quits on it

    def __init__(
        self,
        app: QApplication,
        paths: Paths,
        *,
        opts: SessionOptions | None = None,
        ask: Ask | None = None,
        kdf_n: int = DEFAULT_KDF_N,
    ) -> None:
        super().__init__()
        self.app, self.paths, self.opts, self.kdf_n = app, paths, opts, kdf_n
        self.ask: Ask = ask or ask_with_dialog
        self.runner = TaskRunner()
        self.cfg = Config()
        self.exit_code: int | None = None
        self.window: MainWindow | None = None
        self.session: Session | None = None
        self.bridge: EventBridge | None = None
        self.progress_dialog: QProgressDialog | None = None
        self.failure_box: QMessageBox | None = None
        self.running = False  # session.start() in flight
        self.preloaded = False  # the tabs' modules are imported: windows build them at once
        self.session_started = False
        self.fresh_password: str | None = None  # typed in the wizard just now; used once
        self.invite_federation: int | None = None  # the wizard's invite named it: offered once
        self.closing = False
        self.finished = False
        self.progress.connect(self._on_progress)

    # -- blocking work, off the GUI thread -------------------------------------------------------
    def blocking(self, fn: Callable[[], Any]) -> Any:
        """Run ``fn`` on the runner and wait in a local event loop; re-raises its error."""
        loop = QEventLoop()
        box: dict[str, Any] = {}

        def done(result: Any) -> None:
            box["result"] = result
            loop.quit()

        def failed(exc: BaseException) -> None:
            box["error"] = exc
            loop.quit()

        self.runner.run(fn, done, failed)
        while not box:  # a stray quit() ends exec() early: keep waiting for the answer
            loop.exec()
        if "error" in box:
            raise box["error"]
        return box["result"]

    # -- steps -----------------------------------------------------------------------------------
    def load_config(self) -> Config:
        self.cfg = load_config(self.paths.config_file)
        return self.cfg

    def run_wizard(self) -> bool:
        """The first-run wizard (modal); True once it wrote the wallet and the config."""
        from milon_app.gui.wizard import SetupWizard

        wizard = SetupWizard(self.paths, self.runner, kdf_n=self.kdf_n)
        wizard.setWindowIcon(icon())
        try:
            if wizard.exec() != QDialog.DialogCode.Accepted or wizard.result_ is None:
                return False
            self.cfg = wizard.result_.config
            self.fresh_password = wizard.keystore_password()
            self.invite_federation = wizard.invite_federation()
            return True
        finally:
            # freed now, on this thread: left to Python's collector it may be freed on a worker
            # thread (scrypt's), which corrupts Qt's animation timers (a crash seen in tests)
            shiboken6.delete(wizard)

    def load_wallet(self) -> Wallet:
        from milon_app.wallet.keystore import Wallet

        cfg, paths = self.cfg, self.paths
        wallet: Wallet = self.blocking(lambda: Wallet.load(setup.keystore_for(cfg, paths)))
        return wallet

    def unlock(self, wallet: Wallet | None = None) -> LocalAccount | None:
        """The account, with the configured store's password or one typed; None: cancelled.

        Right after the wizard the password typed there unlocks at once: neither the
        keystore password nor the encrypted store's master password is asked again."""
        wallet = wallet or self.load_wallet()
        fresh, self.fresh_password = self.fresh_password, None
        password, error = (fresh, None) if fresh else self._stored_password(wallet)
        if password is None and error is None:
            return None
        while True:
            if password is not None:
                try:
                    account: LocalAccount = self.blocking(partial(wallet.unlock, password))
                    return account
                except MilonError as exc:
                    error = describe_error(exc)
            password = self.ask(f"Password of the keystore {wallet.path}\n({wallet.address})",
                                error or "")
            if password is None:
                return None

    def _stored_password(self, wallet: Wallet) -> tuple[str | None, str | None]:
        """(password, why none): (None, None) means the user cancelled."""
        cfg, paths, address = self.cfg, self.paths, wallet.address
        choice = cfg.wallet.secret_store
        if choice == "prompt":
            return None, ""
        if choice == "encrypted-file":
            error = ""
            while True:
                master = self.ask(
                    f"Master password of the encrypted secret store "
                    f"{setup.encrypted_store_file(paths)}", error)
                if master is None:
                    return None, None
                try:
                    got = self.blocking(
                        partial(setup.stored_password, cfg, paths, address, master_password=master)
                    )
                except MilonError as exc:
                    error = describe_error(exc)
                    continue
                return got, None if got is not None else f"No password stored for {address}."
        try:
            got = self.blocking(lambda: setup.stored_password(cfg, paths, address))
        except MilonError as exc:
            return None, f"{describe_error(exc)}\nType the keystore password instead."
        why = f"The {choice} store has no password for {address}."
        return got, None if got is not None else why

    def open_window(
        self, account: LocalAccount | None, *, address: str = "", lazy: bool = False
    ) -> MainWindow:
        """Show the main window at once; with the account, start the session behind a
        progress dialog (without it, :meth:`start` unlocks first)."""
        from milon_app.gui.bridge import EventBridge
        from milon_app.gui.context import GuiContext
        from milon_app.gui.settings import install_menu
        from milon_app.gui.window import MainWindow
        from milon_app.session.session import Session

        old, old_bridge = self.window, self.bridge
        session = Session(self.cfg, self.paths.data_dir, account, self.opts,
                          secret_store=self.cfg.wallet.secret_store, address=address)
        bridge = EventBridge(session.bus)
        ctx = GuiContext(session=session, runner=self.runner, bridge=bridge)
        window = MainWindow(ctx, lazy=lazy and not self.preloaded)
        install_menu(window, ctx, self.paths)
        window.installEventFilter(self)
        self.session, self.bridge, self.window = session, bridge, window
        window.show()
        if old is not None:
            old.removeEventFilter(self)
            old.close()
            old.deleteLater()
        if old_bridge is not None:
            old_bridge.close()
        if os.environ.get(BENCH_ENV):
            QTimer.singleShot(0, self._bench_report)
        if account is not None:
            self.start_session()
        return window

    def start(self) -> MainWindow | None:
        """Wizard if needed, unlock, window; None with ``exit_code`` set when it cannot go on."""
        self.app.setQuitOnLastWindowClosed(False)  # quitting waits for the session to stop
        # the tabs' modules load on a worker while the window shows and scrypt unlocks
        self.runner.run(preload, lambda _r: self._preloaded(), lambda _e: self._preloaded(),
                        what="preload the window's modules")
        try:
            self.load_config()
            if setup.needs_setup(self.cfg, self.paths) and not self.run_wizard():
                self.exit_code = int(ExitCode.WALLET)  # no wallet: nothing to run
                return None
            wallet = self.load_wallet()
            window = self.open_window(None, address=wallet.address, lazy=True)
            window.statusBar().showMessage("Unlocking your wallet…")
            account = self.unlock(wallet)
        except MilonError as exc:
            self._fatal(exc)
            return None
        if account is None:
            self.exit_code = int(ExitCode.WALLET)
            self._discard_window()
            return None
        assert self.session is not None
        self.session.account = account
        window.statusBar().showMessage("Wallet unlocked", 3_000)
        self.start_session()
        return window

    def _preloaded(self) -> None:
        self.preloaded = True
        if self.window is not None:
            self.window.build_tabs()
            if self.session_started:
                self._offer_invited()

    def _discard_window(self) -> None:
        """The user gave up before the node could start: no window stays behind."""
        window, bridge = self.window, self.bridge
        self.window = self.bridge = self.session = None
        if bridge is not None:
            bridge.close()
        if window is not None:
            window.removeEventFilter(self)
            window.close()
            window.deleteLater()

    def _fatal(self, exc: MilonError) -> None:
        self.exit_code = int(exc.exit_code)
        self._discard_window()
        QMessageBox.critical(None, "MILON cannot start", describe_error(exc))

    # -- the session -----------------------------------------------------------------------------
    def start_session(self) -> None:
        session, window = self.session, self.window
        assert session is not None and window is not None
        dialog = QProgressDialog("Starting MILON…", "", 0, 100, window)
        dialog.setCancelButton(None)
        dialog.setWindowTitle("Starting")
        dialog.setWindowModality(Qt.WindowModality.WindowModal)
        dialog.setMinimumDuration(0)
        dialog.setAutoClose(False)
        dialog.show()
        self.progress_dialog = dialog
        self.running = True
        emit = self.progress.emit
        self.runner.run(lambda: session.start(emit), self._on_started, self._on_start_failed,
                        what="start the node")

    def _on_progress(self, message: str, fraction: float) -> None:
        if self.progress_dialog is not None:
            self.progress_dialog.setLabelText(message[:1].upper() + message[1:] + "…")
            self.progress_dialog.setValue(int(fraction * 100))

    def _close_progress(self) -> None:
        self.running = False
        if self.progress_dialog is not None:
            self.progress_dialog.close()
            self.progress_dialog.deleteLater()
            self.progress_dialog = None

    def _on_started(self, _result: Any) -> None:
        self._close_progress()
        self.session_started = True
        if self.closing:
            self._stop()
            return
        if self.window is not None:
            self.window.statusBar().showMessage("Node started", 5_000)
            self._offer_invited()
            self.window.refresh_current()
        self.started.emit()

    def _offer_invited(self) -> None:
        """After a wizard that took an invite: its federation, selected on the Federations tab
        (joining needs a stake the new account must be funded with first)."""
        from milon_app.gui.tabs.federations import FederationsTab

        fed_id, window = self.invite_federation, self.window
        if fed_id is None or window is None or "Federations" not in window.pages:
            return  # the tabs are not built yet: _preloaded offers it
        self.invite_federation = None
        tab = window.show_tab("Federations")
        if isinstance(tab, FederationsTab):
            tab.offer(fed_id)

    def _on_start_failed(self, exc: BaseException) -> None:
        self._close_progress()
        message = describe_error(exc)
        self.start_failed.emit(message)
        if self.closing:
            self._finish()
            return
        box = QMessageBox(QMessageBox.Icon.Critical, "MILON could not start",
                          f"{message}\n\nTry again, choose another network, or quit.",
                          QMessageBox.StandardButton.NoButton, self.window)
        retry = box.addButton("Retry", QMessageBox.ButtonRole.AcceptRole)
        change = box.addButton("Change network…", QMessageBox.ButtonRole.ActionRole)
        box.addButton("Quit", QMessageBox.ButtonRole.RejectRole)

        def chosen(button: Any) -> None:
            self.failure_box = None
            if button is retry:
                self.start_session()
            elif button is change:
                self.change_network()
            else:
                self.request_quit()

        box.buttonClicked.connect(chosen)
        self.failure_box = box
        box.open()

    def change_network(self) -> None:
        """Pick another network, save it, and start again on a fresh session and window."""
        from milon_app.gui.network import NetworkDialog

        dialog = NetworkDialog(self.paths, self.cfg, self.window)
        self.network_dialog = dialog

        def done(code: int) -> None:
            if code != QDialog.DialogCode.Accepted or dialog.checked is None:
                self.request_quit()
                return
            self.apply_network(dialog.checked)

        dialog.finished.connect(done)
        dialog.open()

    def apply_network(self, network: tuple[str, str, list[str]]) -> MainWindow:
        cfg = load_config(self.paths.config_file)
        cfg.chain.rpc_url, cfg.chain.manifest = network[0], network[1]
        cfg.p2p.bootstrap = list(network[2])
        save_config(cfg, self.paths.config_file)
        self.cfg = cfg
        assert self.session is not None
        return self.open_window(self.session.account)

    # -- the end ---------------------------------------------------------------------------------
    def eventFilter(self, obj: QObject, event: QEvent) -> bool:
        if obj is self.window and event.type() == QEvent.Type.Close and not self.finished:
            event.ignore()
            self.request_quit()
            return True
        return False

    def request_quit(self) -> None:
        """Stop the session on a worker, then close the window and quit."""
        if self.closing:
            return
        self.closing = True
        if self.window is not None:
            self.window.setEnabled(False)
            self.window.statusBar().showMessage("Stopping the node…")
        if self.running:
            return  # _on_started/_on_start_failed finish the job
        self._stop()

    def _stop(self) -> None:
        session = self.session
        if session is None:
            self._finish()
            return
        # No view may start reading once the node is told to stop, and those already reading
        # finish first: the session closes the state DB they read ("closed database").
        if self.window is not None:
            self.window.stop_refreshing()
        if self.bridge is not None:
            self.bridge.close()  # event-driven refreshes end here too
        runner = self.runner

        def stop() -> None:
            deadline = time.monotonic() + VIEWS_DRAIN_S
            while runner.views_reading and time.monotonic() < deadline:
                time.sleep(0.02)
            session.stop()

        runner.run(stop, lambda _r: self._finish(), lambda _e: self._finish(),
                   what="stop the node")

    def _finish(self) -> None:
        self.finished = True
        if self.bridge is not None:
            self.bridge.close()
        if self.window is not None:
            self.window.close()
        self.closed.emit()

    def shutdown(self) -> None:
        """After the event loop: wait for workers (the session is stopped by then)."""
        self.runner.shutdown()  # lets a start still in flight end first
        if not self.finished and self.session is not None:
            self.session.stop()

    def _bench_report(self) -> None:
        since = os.environ.get(BENCH_ENV, "")
        try:
            t0 = float(since)  # the launcher's time.time() at spawn: exact
        except ValueError:
            import psutil

            t0 = psutil.Process().create_time()  # kernel jiffies: a few ms of error
        elapsed = time.time() - t0
        print(f"first_window_s={elapsed:.3f} torch_imported={'torch' in sys.modules}", flush=True)

        def ready() -> None:  # the tabs are built and the node runs: what a user waits for
            print(f"node_started_s={time.time() - t0:.3f}", flush=True)
            self.request_quit()

        if self.session_started:
            ready()
        else:
            self.started.connect(ready)
            self.start_failed.connect(lambda _m: self.request_quit())


def run_app(home: Path | None = None) -> int:
    """``milon`` with no arguments: the desktop app. Returns the process exit code."""
    from milon_app.gui.theme import apply_theme

    app = QApplication.instance() or QApplication(sys.argv[:1])
    assert isinstance(app, QApplication)
    app.setApplicationName("milon")
    app.setApplicationDisplayName("MILON")
    app.setDesktopFileName("milon")
    app.setWindowIcon(icon())
    apply_theme(app)
    collector = GuiThreadCollector(parent=app)  # Qt objects die on the GUI thread only
    milon = MilonApp(app, Paths.default(home))
    milon.closed.connect(app.quit)
    try:
        if milon.start() is None:
            return milon.exit_code if milon.exit_code is not None else int(ExitCode.FAILURE)
        code = app.exec()
    finally:
        milon.shutdown()
        collector.stop()
    return milon.exit_code if milon.exit_code is not None else int(code)
