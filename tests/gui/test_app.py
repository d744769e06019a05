"""The app's start and end without exec(): unlock, window, session, retry, settings, close.

A real session on the simulated network (embedded chain, in-process peers)
runs behind each started window; the wallet is written by the setup module
exactly as the wizard writes it.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication, QDialog, QMessageBox, QWizard

from milon_app.config import Config, Paths, describe, load_config, save_config
from milon_app.exit_codes import ExitCode
from milon_app.gui.app import MilonApp, PasswordDialog
from milon_app.gui.network import NetworkForm
from milon_app.gui.settings import SettingsDialog, install_menu
from milon_app.gui.wizard import SetupWizard
from milon_app.session import setup
from milon_app.session.session import SessionOptions
from milon_app.wallet.keystore import MIN_KDF_N
from tests.unit.session.test_setup import manifest_file, secret_file
from tests.unit.wallet.conftest import keyring_env  # noqa: F401 (autouse: headless keyring)

PW = "app password 1"


def make_home(tmp_path: Path, store: str, **network: Any) -> Paths:
    """A MILON home with a wallet and a config, written by the setup module."""
    paths = Paths.default(tmp_path / "home")
    base = Config()
    base.p2p.transport = "inprocess"
    save_config(base, paths.config_file)
    pw_file = secret_file(tmp_path / "pw.txt", PW)
    secret = setup.SecretChoice(store, str(pw_file) if store == "password-file" else "",
                                master_password="master 1", master_confirm="master 1")
    setup.apply_setup(paths, setup.WalletChoice("create", PW, PW), secret,
                      setup.NetworkChoice(**network), kdf_n=MIN_KDF_N)
    return paths


@pytest.fixture
def apps(qapp: QApplication) -> Iterator[list[MilonApp]]:
    made: list[MilonApp] = []
    yield made
    for m in made:
        if not m.finished:
            m.request_quit()
            deadline = time.monotonic() + 30
            while not m.finished and time.monotonic() < deadline:
                QApplication.processEvents()
                time.sleep(0.01)
        m.shutdown()


def new_app(apps: list[MilonApp], paths: Paths, **kw: Any) -> MilonApp:
    app = QApplication.instance()
    assert isinstance(app, QApplication)
    m = MilonApp(app, paths, opts=SessionOptions(tick_s=0.1), kdf_n=MIN_KDF_N, **kw)
    apps.append(m)
    return m


def answer_dialogs(answers: list[str | None], seen: list[str]) -> QTimer:
    """Type each answer into the next modal dialog (None: cancel); records the errors shown."""
    timer = QTimer()

    def tick() -> None:
        w = QApplication.activeModalWidget()
        if isinstance(w, PasswordDialog) and answers:
            seen.append(w.error.text())
            answer = answers.pop(0)
            if answer is None:
                w.reject()
            else:
                w.field.setText(answer)
                w.accept()
        elif isinstance(w, SetupWizard) and answers:
            answers.pop(0)
            w.reject()

    timer.timeout.connect(tick)
    timer.start(30)
    return timer


def test_start_with_password_file_shows_window_and_starts_session(qtbot: Any, apps, tmp_path):
    paths = make_home(tmp_path, "password-file")
    milon = new_app(apps, paths)
    window = milon.start()
    assert window is not None and window.isVisible()
    assert milon.session is not None and milon.session.node is None  # shown before the start
    assert milon.progress_dialog is not None and milon.progress_dialog.isVisible()
    qtbot.waitUntil(lambda: milon.session_started, timeout=60_000)
    assert milon.progress_dialog is None and milon.session.node is not None
    assert milon.session.kind == "simulated"
    assert milon.session.secret_store == "password-file"
    assert [a.text() for a in window.menuBar().actions()] == ["&MILON"]
    with qtbot.waitSignal(milon.closed, timeout=30_000):
        window.close()
    assert milon.finished and milon.session.node is None and not window.isVisible()


def test_prompt_store_asks_again_after_a_wrong_password(qtbot: Any, apps, tmp_path):
    paths = make_home(tmp_path, "prompt")
    seen: list[str] = []
    timer = answer_dialogs(["wrong", PW], seen)
    milon = new_app(apps, paths)
    window = milon.start()
    timer.stop()
    assert window is not None
    assert seen[0] == "" and "wrong password" in seen[1]
    qtbot.waitUntil(lambda: milon.session_started, timeout=60_000)


def test_encrypted_file_store_asks_for_the_master_password(qtbot: Any, apps, tmp_path):
    paths = make_home(tmp_path, "encrypted-file")
    seen: list[str] = []
    timer = answer_dialogs(["not the master", "master 1"], seen)
    milon = new_app(apps, paths)
    window = milon.start()
    timer.stop()
    assert window is not None and len(seen) == 2  # no keystore password asked: it was stored
    assert "wrong master password" in seen[1]
    qtbot.waitUntil(lambda: milon.session_started, timeout=60_000)


def test_cancelled_password_exits_with_the_wallet_code(apps, tmp_path):
    paths = make_home(tmp_path, "prompt")
    timer = answer_dialogs([None], [])
    milon = new_app(apps, paths)
    assert milon.start() is None
    timer.stop()
    assert milon.exit_code == ExitCode.WALLET and milon.window is None


def test_cancelled_wizard_exits_with_the_wallet_code(apps, tmp_path):
    paths = Paths.default(tmp_path / "empty-home")
    timer = answer_dialogs(["cancel"], [])
    milon = new_app(apps, paths)
    assert milon.start() is None
    timer.stop()
    assert milon.exit_code == ExitCode.WALLET
    assert not paths.config_file.exists()


def drive_wizard(store: str, seen: list[str]) -> QTimer:
    """Fill the first-run wizard as a user would (create, ``store``, simulated network) and
    press Finish; any password dialog after it is answered and recorded in ``seen``."""
    timer = QTimer()

    def tick() -> None:
        w = QApplication.activeModalWidget()
        if isinstance(w, PasswordDialog):
            seen.append(w.prompt.text())
            w.field.setText("master 1" if "Master" in w.prompt.text() else PW)
            w.accept()
        elif isinstance(w, SetupWizard) and not w.applying and w.secret_page.backend:
            page = w.currentPage()
            if page is w.wallet_page:
                w.wallet_page.password.setText(PW)
                w.wallet_page.confirm.setText(PW)
            elif page is w.secret_page:
                for b in w.secret_page.stores.buttons():
                    b.setChecked(b.objectName() == store)
                w.secret_page.master.setText("master 1")
                w.secret_page.master_confirm.setText("master 1")
            elif page is w.finish_page:
                w.button(QWizard.WizardButton.FinishButton).click()
                return
            w.next()

    timer.timeout.connect(tick)
    timer.start(30)
    return timer


@pytest.mark.parametrize("store", ["encrypted-file", "prompt"])
def test_after_the_wizard_no_password_is_asked_again(qtbot: Any, apps, tmp_path, store):
    """Issue 20 item 3: right after Finish the app asked for the master password (or the
    keystore password) that was just typed twice. It unlocks with what the wizard was given."""
    paths = Paths.default(tmp_path / "fresh-home")
    seen: list[str] = []
    timer = drive_wizard(store, seen)
    app = QApplication.instance()
    assert isinstance(app, QApplication)
    milon = MilonApp(app, paths, opts=SessionOptions(tick_s=0.1, transport="inprocess"),
                     kdf_n=MIN_KDF_N)  # fmt: skip
    apps.append(milon)
    window = milon.start()
    timer.stop()
    assert window is not None and milon.exit_code is None
    assert seen == [], f"asked again after the wizard: {seen}"
    assert load_config(paths.config_file).wallet.secret_store == store
    qtbot.waitUntil(lambda: milon.session_started, timeout=60_000)
    assert milon.session is not None and milon.session.account is not None
    assert milon.fresh_password is None  # used once, not kept


def test_failed_start_offers_another_network(qtbot: Any, apps, tmp_path):
    manifest = manifest_file(tmp_path / "m.json")
    paths = make_home(tmp_path, "password-file", kind="custom", rpc_url="http://127.0.0.1:9",
                      manifest=str(manifest))
    milon = new_app(apps, paths)
    messages: list[str] = []
    milon.start_failed.connect(messages.append)
    first = milon.start()
    assert first is not None
    qtbot.waitUntil(lambda: milon.failure_box is not None, timeout=120_000)
    assert messages and not milon.session_started
    box = milon.failure_box
    assert isinstance(box, QMessageBox) and "could not start" in box.windowTitle()
    change = next(b for b in box.buttons() if b.text() == "Change network…")
    change.click()
    qtbot.waitUntil(lambda: getattr(milon, "network_dialog", None) is not None)
    dialog = milon.network_dialog
    form = dialog.findChild(NetworkForm)
    for b in form.kinds.buttons():
        if b.objectName() == "simulated":
            b.setChecked(True)
    dialog.accept()
    qtbot.waitUntil(lambda: milon.session_started, timeout=60_000)
    assert milon.window is not first and milon.window is not None and milon.window.isVisible()
    assert load_config(paths.config_file).chain.rpc_url == "embedded"
    assert milon.session is not None and milon.session.kind == "simulated"


def test_settings_dialog_lists_every_field_and_saves_atomically(qtbot: Any, ctx: Any, tmp_path):
    from PySide6.QtWidgets import QMainWindow

    paths = Paths.default(tmp_path / "home")
    window = QMainWindow()
    qtbot.addWidget(window)
    action = install_menu(window, ctx, paths)
    action.trigger()
    dialog = window.findChild(SettingsDialog)
    assert isinstance(dialog, SettingsDialog) and dialog.isVisible()
    keys = [key for key, _v, _d in describe(Config())]
    assert sorted(dialog.editors) == sorted(keys)
    hint = dialog.editors["node.max_epochs"].placeholderText()
    assert hint == "10000"
    labels = [w.text() for w in dialog.findChildren(type(dialog.saved))]
    assert any("Decline assignments of more epochs" in t and "default: 10000" in t for t in labels)
    dialog.editors["node.max_epochs"].setText("abc")
    assert not dialog.save()
    assert "node.max_epochs" in dialog.error.text() and not paths.config_file.exists()
    dialog.editors["node.max_epochs"].setText("12")
    dialog.editors["p2p.bootstrap"].setText("/ip4/1.2.3.4/tcp/1/p2p/QmA, /ip4/5.6.7.8/tcp/2/p2p/QmB")
    dialog.editors["node.work_hours"].setText("9, 17")
    dialog.editors["federations"].setText('[{"id": 3, "stake": "5", "capacity": 0}]')
    dialog.editors["compute.compile"].setText("maybe")
    assert not dialog.save() and "compute.compile" in dialog.error.text()
    dialog.editors["compute.compile"].setText("true")
    assert dialog.save()
    assert "after MILON restarts" in dialog.saved.text()
    cfg = load_config(paths.config_file)
    assert cfg.node.max_epochs == 12 and cfg.node.work_hours == [9, 17]
    assert cfg.p2p.bootstrap == ["/ip4/1.2.3.4/tcp/1/p2p/QmA", "/ip4/5.6.7.8/tcp/2/p2p/QmB"]
    assert cfg.federations[0].id == 3 and cfg.compute.compile is True
    dialog.restore_defaults()
    assert dialog.save() and load_config(paths.config_file) == Config()
    dialog.done(QDialog.DialogCode.Rejected)


def test_quitting_during_the_in_app_demo_ends_within_5_s(qtbot: Any, apps, tmp_path):
    """The demo stops at its next step and every worker ends: run_app's own end (the
    window closes, then shutdown waits for the task pool) takes under 5 s."""
    from milon_app.gui.tabs.simulate import SimulateTab

    milon = new_app(apps, make_home(tmp_path, "password-file"))
    window = milon.start()
    assert window is not None
    qtbot.waitUntil(lambda: milon.session_started, timeout=60_000)
    tab = next(t for t in window.pages.values() if isinstance(t, SimulateTab))
    tab.nodes.setValue(2)
    tab.rounds.setValue(100)  # far longer than the test: only a stop ends it
    tab.epochs.setValue(2)
    tab.governance.setChecked(False)
    tab.baseline.setChecked(False)
    tab.run_button.click()
    qtbot.waitUntil(lambda: tab.live_rounds >= 1, timeout=120_000)  # mid-demo
    session = milon.session
    assert session is not None and session.demo_running.is_set()

    deadline = time.monotonic() + 5.0
    window.close()
    while not milon.finished and time.monotonic() < deadline:
        QApplication.processEvents()
        time.sleep(0.01)
    milon.shutdown()  # what run_app does after app.exec(): waits for every worker
    took = 5.0 - (deadline - time.monotonic())
    assert milon.finished and time.monotonic() < deadline, f"quit took {took:.1f} s"
    assert not session.demo_running.is_set() and session.node is None


def test_quitting_while_a_view_reads_the_node_logs_no_failure(qtbot: Any, apps, tmp_path, caplog):
    """A view still reading the state DB when quit is asked finishes before the session
    closes it (was: "... view failed: Cannot operate on a closed database" at every quit)."""
    import logging

    milon = new_app(apps, make_home(tmp_path, "password-file"))
    window = milon.start()
    assert window is not None
    qtbot.waitUntil(lambda: milon.session_started, timeout=60_000)
    session = milon.session
    assert session is not None
    read: list[object] = []

    def slow_view() -> object:  # a tab's load(): reads the node's DB after a moment
        time.sleep(0.5)
        read.append(session.core.state.round_results(1))
        return None

    milon.runner.run(slow_view, what="Jobs view", view=True)
    caplog.set_level(logging.ERROR)
    window.close()
    qtbot.waitUntil(lambda: milon.finished, timeout=30_000)
    milon.shutdown()
    assert read == [[]], "the view did not finish its read"
    assert not [r for r in caplog.records if "view failed" in r.getMessage()]
