""""Join with an invite" in the window, against embedded chains served on loopback JSON-RPC:
the wizard's network page and the Federations tab's dialog. A good invite joins (the tab)
or configures the node (the wizard); a tampered one, one for another chain id and one naming
an address without code are refused with the reason shown and nothing written."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import Qt

from milon_app.chain.invite import Invite, decode_body
from milon_app.chain.manifest import Manifest
from milon_app.config import Paths, load_config
from milon_app.gui.tabs.federations import FederationsTab
from milon_app.gui.tasks import TaskRunner
from milon_app.gui.wizard import SetupWizard
from milon_app.session.invite_join import manifest_file
from milon_app.wallet.keystore import MIN_KDF_N
from tests.gui.conftest import refreshed, wait_until
from tests.gui.test_app import apps  # noqa: F401 (fixture)
from tests.gui.test_wizard import files_under, secret_page, wallet_page
from tests.integration.test_invite import edited

ETHER = 10**18
PEER = "/ip4/127.0.0.1/tcp/4001/p2p/12D3KooWQYhTNQdmr3ArTeUHRYzFg94BKyTkoWBDWez9kSCVe2Xo"
NO_CODE = "0x" + "11" * 20


def bad_invites(good: str) -> list[tuple[str, str]]:
    """(invite, the reason it must be refused with)."""
    body = decode_body(good)
    return [
        (edited(good, fix=False, deployed_block=body["deployed_block"] + 1),
         "checksum does not match"),
        (edited(good, chain_id=5), "chain id 5"),
        (edited(good, contracts=dict(body["contracts"], MilonToken=NO_CODE)), NO_CODE),
    ]  # fmt: skip


# ---------------------------------------------------------------- the wizard


@pytest.fixture(scope="module")
def served() -> Iterator[tuple[Any, str]]:
    """An embedded chain with federation 1 (min stake 10), served; (suite, its invite)."""
    from milon_app.chain.bindings import Milon
    from milon_app.chain.client import ChainClient
    from milon_app.chain.deploy import deploy_suite
    from milon_app.chain.rpc_server import EmbeddedRpcServer

    client = ChainClient.embedded()
    owner = client.dev_accounts[0]
    suite = deploy_suite(client, owner, dev=True)
    Milon(suite).create_federation(owner, "lab", b"\x00" * 32, 10 * ETHER)
    server = EmbeddedRpcServer(client)
    server.start()
    try:
        yield suite, Invite(suite.manifest, (server.url,), 1, (PEER,)).encode()
    finally:
        server.stop()


@pytest.fixture
def wizard(qtbot: Any, tmp_path: Path) -> Iterator[SetupWizard]:
    runner = TaskRunner()
    w = SetupWizard(Paths.default(tmp_path / "home"), runner, kdf_n=MIN_KDF_N)
    qtbot.addWidget(w)
    w.show()
    qtbot.waitUntil(lambda: w.secret_page.backend is not None, timeout=20_000)
    assert wallet_page(w, "create") and secret_page(w, "prompt")
    yield w
    runner.wait_idle(20_000)
    runner.shutdown()


def use_invite(qtbot: Any, w: SetupWizard, text: str) -> None:
    field = w.network_page.invite
    field.edit.setText(text)
    qtbot.mouseClick(field.button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: not field.checking, timeout=20_000)


def test_wizard_takes_a_good_invite(qtbot: Any, wizard: SetupWizard, served: Any) -> None:
    suite, good = served
    use_invite(qtbot, wizard, good)
    form, paths = wizard.network_page.form, wizard.paths
    assert "federation 1 (minimum stake 10" in wizard.network_page.invite.status.text()
    url = decode_body(good)["rpc"][0]
    want_manifest = manifest_file(paths.data_dir, Invite(suite.manifest, (url,), 1))
    assert (form.kind, form.rpc_url.text(), form.manifest.text()) == (
        "custom", url, str(want_manifest))
    assert form.bootstrap.toPlainText() == PEER
    assert files_under(paths) == []  # checked, nothing written before Finish
    wizard.next()
    assert wizard.currentPage() is wizard.finish_page
    assert "federation 1 selected" in wizard.finish_page.summary.text()
    wizard.next()  # Finish
    qtbot.waitUntil(lambda: wizard.result_ is not None, timeout=60_000)
    cfg = load_config(paths.config_file)
    assert (cfg.chain.rpc_url, cfg.chain.rpc_urls, cfg.p2p.bootstrap) == (url, [], [PEER])
    assert cfg.chain.expected_chain_id == suite.manifest.chain_id
    assert Path(cfg.chain.manifest) == want_manifest
    assert Manifest.load(want_manifest).contracts == suite.manifest.contracts
    assert wizard.invite_federation() == 1


def test_wizard_refuses_bad_invites_and_writes_nothing(
    qtbot: Any, wizard: SetupWizard, served: Any
) -> None:
    _suite, good = served
    page = wizard.network_page
    for bad, reason in bad_invites(good):
        use_invite(qtbot, wizard, bad)
        assert reason in page.invite.error.text() and "Nothing was written" in page.invite.error.text()
        assert page.form.invite is None
        wizard.next()  # a refused invite is not silently replaced by the option below
        assert wizard.currentPage() is page and "Use invite" in page.form.error.text()
        assert files_under(wizard.paths) == []
    use_invite(qtbot, wizard, good)  # a good one after a refusal is taken
    assert page.form.invite is not None and page.invite.error.text() == ""
    page.form.rpc_url.setText("http://127.0.0.1:9")  # typed over: the invite no longer applies
    page.form.rpc_url.textEdited.emit("http://127.0.0.1:9")
    assert page.form.invite is None


# ---------------------------------------------------------------- the Federations tab


@pytest.fixture
def tab_and_invite(qtbot: Any, ctx: Any) -> Iterator[tuple[FederationsTab, str]]:
    """The tab on the session's chain, and an invite to its federation 1 through that chain
    served on loopback (as an owner's `milon fed invite` would give it)."""
    from milon_app.chain.rpc_server import EmbeddedRpcServer

    s = ctx.session
    server = EmbeddedRpcServer(s.client)
    server.start()
    tab = FederationsTab(ctx)
    qtbot.addWidget(tab)
    refreshed(qtbot, tab)
    try:
        yield tab, Invite(s.core.suite.manifest, (server.url,), 1, ()).encode()
    finally:
        ctx.runner.wait_idle(20_000)
        server.stop()


def join_with(qtbot: Any, tab: FederationsTab, text: str, stake: str = "") -> None:
    qtbot.mouseClick(tab.invite_button, Qt.MouseButton.LeftButton)
    dialog = tab.invite_dialog
    assert dialog is not None and dialog.isVisible()
    dialog.invite.setText(text)
    dialog.stake.setText(stake)
    dialog.capacity.setValue(222)
    qtbot.mouseClick(dialog.ok, Qt.MouseButton.LeftButton)
    assert not dialog.isVisible()


def test_tab_refuses_bad_invites_then_joins_with_a_good_one(
    qtbot: Any, ctx: Any, tab_and_invite: Any
) -> None:
    tab, good = tab_and_invite
    s = ctx.session
    balance = s.milon.balance(s.address)
    cases = [*bad_invites(good)[:2],
             (edited(good, contracts=dict(decode_body(good)["contracts"], MilonToken=NO_CODE)),
              "another deployment")]  # fmt: skip
    for bad, reason in cases:
        join_with(qtbot, tab, bad)
        wait_until(qtbot, lambda: "Join with an invite failed" in tab.message.text())
        assert reason in tab.message.text(), tab.message.text()
        assert not s.milon.member(1, s.address).active
        assert s.milon.balance(s.address) == balance
        tab.say("")
    assert not (s.data_dir / "deployments").exists() and not (s.data_dir / "config").exists()
    join_with(qtbot, tab, good)  # empty stake: the federation's minimum
    wait_until(qtbot, lambda: tab.message.text() == "Joined federation 1")
    member = s.milon.member(1, s.address)
    assert member.active and member.stake == 10 * ETHER and member.capacity == 222
    assert s.milon.balance(s.address) == balance - 10 * ETHER
    wait_until(qtbot, lambda: tab.feds.item(0, 6).text() == "member")


def test_tab_offers_the_wizards_federation_selected(qtbot: Any, ctx: Any) -> None:
    s = ctx.session
    s.milon.create_federation(s.account, "second", b"\x00" * 32, ETHER)
    tab = FederationsTab(ctx)
    qtbot.addWidget(tab)
    refreshed(qtbot, tab)
    assert tab.feds.currentRow() == 0
    tab.offer(2)
    assert tab.feds.currentRow() == 1 and "Federation 2 from your invite" in tab.message.text()
    tab.offer(7)
    assert "federation 7 is not on this chain" in tab.message.text()


# ---------------------------------------------------------------- the app, wizard to window


def test_app_after_an_invite_starts_on_its_chain_with_its_federation_selected(
    qtbot: Any, apps: Any, served: Any, tmp_path: Path  # noqa: F811 (the fixture)
) -> None:
    """What a user expects after pasting an invite in the first-run wizard: the node starts on
    the invite's chain and the Federations tab shows its federation selected, ready to join
    once the new account is funded (a fresh account cannot stake yet, so it is not joined)."""
    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QApplication

    from milon_app.config import Config, save_config
    from milon_app.gui.app import MilonApp
    from milon_app.session.session import SessionOptions

    suite, _ = served
    url = decode_body(served[1])["rpc"][0]
    paths = Paths.default(tmp_path / "home")
    base = Config()
    base.p2p.mdns = False  # libp2p on loopback only (the default listen address)
    save_config(base, paths.config_file)
    text = Invite(suite.manifest, (url,), 1, ()).encode()

    def tick() -> None:
        w = QApplication.activeModalWidget()
        if not isinstance(w, SetupWizard) or w.applying or w.secret_page.backend is None:
            return
        page = w.currentPage()
        if page is w.wallet_page:
            w.wallet_page.password.setText("pw")
            w.wallet_page.confirm.setText("pw")
        elif page is w.secret_page:
            w.secret_page.stores.button(2).setChecked(True)  # prompt
        elif page is w.network_page:
            if w.network_page.form.invite is None:
                if not w.network_page.invite.checking and not w.network_page.invite.edit.text():
                    w.network_page.invite.edit.setText(text)
                    w.network_page.invite.use()
                return
        elif page is w.finish_page:
            timer.stop()  # the wizard is deleted once it accepted: never touch it again
            w.button(w.WizardButton.FinishButton).click()
            return
        w.next()

    timer = QTimer()
    timer.timeout.connect(tick)
    timer.start(30)
    app = QApplication.instance()
    assert isinstance(app, QApplication)
    milon = MilonApp(app, paths, opts=SessionOptions(tick_s=0.1), kdf_n=MIN_KDF_N)
    apps.append(milon)
    window = milon.start()
    timer.stop()
    assert window is not None and milon.exit_code is None
    failed: list[str] = []
    milon.start_failed.connect(failed.append)
    wait_until(qtbot, lambda: milon.session_started or failed, 60_000)
    assert not failed
    assert milon.session is not None and milon.session.kind == "rpc"
    assert milon.session.core.suite.manifest.contracts == suite.manifest.contracts
    tab = window.tabs.currentWidget()
    assert isinstance(tab, FederationsTab)
    wait_until(qtbot, lambda: "Federation 1 from your invite" in tab.message.text())
    assert tab.feds.currentRow() == 0 and tab.join_button.isEnabled()
