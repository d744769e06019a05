"""The first-run wizard, walked page by page as a user would, offscreen.

The keyring environment is the headless default (no session bus); the OS
keyring case runs against a real GNOME Secret Service on a private bus when
the daemons are installed, and is skipped with the reason otherwise.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QWizard

from milon_app.config import Paths, load_config
from milon_app.gui.tasks import TaskRunner
from milon_app.gui.wizard import SetupWizard
from milon_app.session import setup
from milon_app.wallet.keystore import MIN_KDF_N, Wallet
from tests.unit.session.test_setup import KEY, PEER, manifest_file, secret_file
from tests.unit.wallet.conftest import keyring_env, secret_service  # noqa: F401 (fixtures)

PW = "wizard password 1"


@pytest.fixture
def paths(tmp_path: Path) -> Paths:
    return Paths.default(tmp_path / "home")


@pytest.fixture
def runner(qtbot: Any) -> Iterator[TaskRunner]:
    r = TaskRunner()
    yield r
    r.wait_idle(20_000)
    r.shutdown()


@pytest.fixture
def wizard(qtbot: Any, paths: Paths, runner: TaskRunner) -> SetupWizard:
    w = SetupWizard(paths, runner, kdf_n=MIN_KDF_N)
    qtbot.addWidget(w)
    w.show()
    qtbot.waitUntil(lambda: w.secret_page.backend is not None, timeout=20_000)
    return w


def files_under(paths: Paths) -> list[Path]:
    root = paths.config_dir.parent
    return sorted(p for p in root.rglob("*") if p.is_file()) if root.exists() else []


def pick(group: Any, name: str) -> None:
    for button in group.buttons():
        if button.objectName() == name:
            assert button.isEnabled(), f"option {name} is disabled"
            button.setChecked(True)
            return
    raise AssertionError(name)


def wallet_page(w: SetupWizard, kind: str, *, password: str = PW, confirm: str | None = None,
                key: str = "", source: str = "") -> bool:
    """Fill the wallet page and press Next; True when the wizard moved on."""
    page = w.wallet_page
    assert w.currentPage() is page
    pick(page.kinds, kind)
    page.password.setText(password)
    page.confirm.setText(password if confirm is None else confirm)
    page.private_key.setText(key)
    page.source.setText(source)
    w.next()
    return w.currentPage() is not page


def secret_page(w: SetupWizard, store: str, *, file: str = "", master: str = "",
                confirm: str | None = None) -> bool:
    page = w.secret_page
    assert w.currentPage() is page
    pick(page.stores, store)
    page.password_file.setText(file)
    page.master.setText(master)
    page.master_confirm.setText(master if confirm is None else confirm)
    assert page.in_use.text().startswith("In use: ")
    w.next()
    return w.currentPage() is not page


def network_page(w: SetupWizard, kind: str = "simulated", *, url: str = "", manifest: str = "",
                 peers: str = "") -> bool:
    form = w.network_page.form
    assert w.currentPage() is w.network_page
    pick(form.kinds, kind)
    form.rpc_url.setText(url)
    form.manifest.setText(manifest)
    form.bootstrap.setPlainText(peers)
    w.next()
    return w.currentPage() is w.finish_page


def finish(qtbot: Any, w: SetupWizard) -> None:
    """Press Finish and wait until the wizard closed or showed an error."""
    w.button(QWizard.WizardButton.FinishButton).click()
    qtbot.waitUntil(lambda: not w.applying, timeout=60_000)
    qtbot.waitUntil(lambda: w.result_ is not None or bool(w.finish_page.error.text()),
                    timeout=60_000)


def check_written(paths: Paths, w: SetupWizard, store: str) -> Any:
    assert w.result_ is not None and not w.isVisible()
    keystore = w.result_.keystore
    assert stat.S_IMODE(os.stat(keystore).st_mode) == 0o600
    cfg = load_config(paths.config_file)
    assert cfg.wallet.keystore == str(keystore) and cfg.wallet.secret_store == store
    text = paths.config_file.read_text()
    assert PW not in text and KEY[2:] not in text
    return cfg


# ---------------------------------------------------------------- each option


def test_create_with_password_file(qtbot: Any, wizard: SetupWizard, paths: Paths, tmp_path: Path):
    pw_file = secret_file(tmp_path / "pw.txt", PW)
    assert wallet_page(wizard, "create")
    assert secret_page(wizard, "password-file", file=str(pw_file))
    assert network_page(wizard, "simulated")
    assert "password file" in wizard.finish_page.summary.text()
    finish(qtbot, wizard)
    cfg = check_written(paths, wizard, "password-file")
    assert cfg.wallet.password_file == str(pw_file.resolve()) and cfg.chain.rpc_url == "embedded"
    address = wizard.result_.address  # type: ignore[union-attr]
    got = setup.stored_password(cfg, paths, address)
    assert Wallet.load(cfg.wallet.keystore).unlock(got or "").address == address


def test_import_key_with_encrypted_file_and_custom_network(
    qtbot: Any, wizard: SetupWizard, paths: Paths, tmp_path: Path
):
    manifest = manifest_file(tmp_path / "deploy.json")
    assert wallet_page(wizard, "import-key", key=KEY)
    assert secret_page(wizard, "encrypted-file", master="master pw")
    assert network_page(wizard, "custom", url="https://rpc.example.org", manifest=str(manifest),
                        peers=PEER + "\n")
    finish(qtbot, wizard)
    cfg = check_written(paths, wizard, "encrypted-file")
    assert (cfg.chain.rpc_url, cfg.p2p.bootstrap) == ("https://rpc.example.org", [PEER])
    assert cfg.chain.manifest == str(manifest.resolve())
    assert "master pw" not in paths.config_file.read_text()
    address = wizard.result_.address  # type: ignore[union-attr]
    assert setup.stored_password(cfg, paths, address, master_password="master pw") == PW


def test_import_keystore_with_prompt_and_devnet(
    qtbot: Any, wizard: SetupWizard, paths: Paths, tmp_path: Path
):
    src = Wallet.import_key(tmp_path / "src.json", KEY, PW, kdf_n=MIN_KDF_N)
    assert wallet_page(wizard, "import-keystore", source=str(src.path), confirm="")
    assert secret_page(wizard, "prompt")
    assert network_page(wizard, "devnet")
    finish(qtbot, wizard)
    cfg = check_written(paths, wizard, "prompt")
    assert cfg.chain.rpc_url == setup.DEVNET_RPC
    assert cfg.chain.manifest == str(paths.data_dir / "deployments" / "devnet.json")
    assert setup.stored_password(cfg, paths, src.address) is None  # asked for at each start
    assert Wallet.load(cfg.wallet.keystore).unlock(PW).address == src.address


def test_os_keyring_is_disabled_with_one_plain_sentence_and_details_behind_a_toggle(
    qtbot: Any, wizard: SetupWizard
):
    """Issue 20 item 3: the page said "keyring.backends.SecretService.Keyring: not usable
    (unavailable: Unable to initialize SecretService: …)"; now one sentence, the dump on
    request."""
    page = wizard.secret_page
    assert wallet_page(wizard, "create") and wizard.currentPage() is page
    assert page.backend is not None and not page.backend.secure
    assert not page.os_button().isEnabled()
    assert page.os_status.text() == (
        "This system has no password keyring running; MILON can keep the password in an "
        "encrypted file instead."
    )
    assert "keyring.backends" not in page.os_status.text()
    assert page.details_button.isVisible() and not page.details.isVisible()
    qtbot.mouseClick(page.details_button, Qt.MouseButton.LeftButton)
    assert page.details.isVisible()
    assert "keyring.backends.SecretService.Keyring" in page.details.text()
    assert "unavailable" in page.details.text() and "plaintext" in page.details.text()
    qtbot.mouseClick(page.details_button, Qt.MouseButton.LeftButton)
    assert not page.details.isVisible()
    assert page.store == "encrypted-file"


def test_a_secure_keyring_is_named_plainly(wizard: SetupWizard):
    from milon_app.wallet.os_keyring import OsBackend

    page = wizard.secret_page
    page.set_backend(OsBackend("keyring.backends.macOS.Keyring", object()))  # type: ignore[arg-type]
    assert page.os_status.text() == (
        "This system's password keyring (macOS Keychain) can keep the password safely."
    )
    assert page.os_button().isEnabled() and page.store == "os-keyring"


def test_create_with_os_keyring(qtbot: Any, secret_service: str, paths: Paths, runner: TaskRunner):  # noqa: F811
    w = SetupWizard(paths, runner, kdf_n=MIN_KDF_N)
    qtbot.addWidget(w)
    w.show()
    qtbot.waitUntil(lambda: w.secret_page.backend is not None, timeout=20_000)
    if not w.secret_page.backend.secure:  # type: ignore[union-attr]
        pytest.skip(f"no secure OS keyring: {w.secret_page.backend.describe()}")  # type: ignore[union-attr]
    assert w.secret_page.store == "os-keyring"  # preselected when secure
    assert wallet_page(w, "create")
    assert secret_page(w, "os-keyring")
    assert network_page(w)
    finish(qtbot, w)
    cfg = check_written(paths, w, "os-keyring")
    assert setup.stored_password(cfg, paths, w.result_.address) == PW  # type: ignore[union-attr]


# ---------------------------------------------------------------- bad inputs write nothing


def test_wallet_page_errors(wizard: SetupWizard, paths: Paths, tmp_path: Path):
    assert not wallet_page(wizard, "create", confirm="something else")
    assert "differ" in wizard.wallet_page.error.text()
    assert not wallet_page(wizard, "import-key", key="0x12")
    assert "64 hex digits" in wizard.wallet_page.error.text()
    bad = tmp_path / "bad.json"
    bad.write_text('{"version": 3, "crypto": ')
    assert not wallet_page(wizard, "import-keystore", source=str(bad))
    assert "not valid JSON" in wizard.wallet_page.error.text()
    assert not wallet_page(wizard, "import-keystore", source=str(tmp_path / "absent.json"))
    assert "does not exist" in wizard.wallet_page.error.text()
    assert files_under(paths) == []


def test_wrong_keystore_password_is_shown_and_nothing_written(
    qtbot: Any, wizard: SetupWizard, paths: Paths, tmp_path: Path
):
    src = Wallet.import_key(tmp_path / "src.json", KEY, PW, kdf_n=MIN_KDF_N)
    before = src.path.read_bytes()
    assert wallet_page(wizard, "import-keystore", password="not it", source=str(src.path))
    assert secret_page(wizard, "prompt")
    assert network_page(wizard)
    finish(qtbot, wizard)
    assert wizard.result_ is None and wizard.isVisible()
    assert "wrong password" in wizard.finish_page.error.text()
    assert "Nothing was written" in wizard.finish_page.error.text()
    assert files_under(paths) == [] and src.path.read_bytes() == before
    assert wizard.button(QWizard.WizardButton.BackButton).isEnabled()


def test_secret_page_errors(wizard: SetupWizard, paths: Paths, tmp_path: Path):
    assert wallet_page(wizard, "create")
    loose = secret_file(tmp_path / "loose.txt", PW, 0o644)
    assert not secret_page(wizard, "password-file", file=str(loose))
    assert "0644" in wizard.secret_page.error.text()
    other = secret_file(tmp_path / "other.txt", "another password")
    assert not secret_page(wizard, "password-file", file=str(other))
    assert "different password" in wizard.secret_page.error.text()
    assert not secret_page(wizard, "encrypted-file", master="a", confirm="b")
    assert "differ" in wizard.secret_page.error.text()
    assert files_under(paths) == []


def test_network_page_errors(wizard: SetupWizard, paths: Paths, tmp_path: Path):
    assert wallet_page(wizard, "create")
    assert secret_page(wizard, "prompt")
    manifest = manifest_file(tmp_path / "m.json")
    assert not network_page(wizard, "custom", url="localhost:8545", manifest=str(manifest))
    assert "RPC URL" in wizard.network_page.form.error.text()
    assert not network_page(wizard, "custom", url="http://h:8545", manifest=str(tmp_path / "x"))
    assert "not found" in wizard.network_page.form.error.text()
    broken = tmp_path / "broken.json"
    broken.write_text("[]")
    assert not network_page(wizard, "custom", url="http://h:8545", manifest=str(broken))
    assert "expected a JSON object" in wizard.network_page.form.error.text()
    assert not network_page(wizard, "custom", url="http://h:8545", manifest=str(manifest),
                            peers="/ip4/1.2.3.4/tcp/1")
    assert "/p2p/" in wizard.network_page.form.error.text()
    assert files_under(paths) == []
