"""The main window: every tab present, a live status bar, tray pause, notifications."""

from __future__ import annotations

from milon_app.gui.tabs.base import Tab
from milon_app.node import events as ev
from tests.gui.conftest import wait_until

TITLES = ["Node", "Federations", "Jobs", "Training", "Governance", "Wallet", "Job owner",
          "Simulate"]


def test_tabs_and_status_bar_follow_the_chain(qtbot, gui):
    window, ctx = gui
    assert [window.tabs.tabText(i) for i in range(window.tabs.count())] == TITLES
    wait_until(qtbot, lambda: "block" in window.chain_label.text())
    block = int(window.chain_label.text().rsplit(" ", 1)[1])
    wait_until(qtbot, lambda: int(window.chain_label.text().rsplit(" ", 1)[1]) > block)
    assert window.peers_label.text() == "peers: 3"
    assert window.state_label.text() in ("node: idle", "node: training")
    assert ctx.session.address[:6] in window.address_label.text()
    for title in TITLES:  # every tab loads without error on the live session
        tab = window.show_tab(title)
        assert isinstance(tab, Tab)
        before = tab.loads
        window.refresh_current()
        wait_until(qtbot, lambda t=tab, b=before: t.loads > b)
        assert "Could not read" not in tab.message.text()


def test_tray_pause_and_notifications(qtbot, gui):
    window, ctx = gui
    s = ctx.session
    window.pause_action.trigger()
    wait_until(qtbot, lambda: s.paused)
    wait_until(qtbot, lambda: window.state_label.text() == "node: paused")
    assert window.notifications[-1].title == "Node paused"
    window.pause_action.trigger()
    wait_until(qtbot, lambda: not s.paused)
    s.core.publish(ev.EpochsAssigned(job_id=7, round=2, member=s.address, epochs=5))
    wait_until(qtbot, lambda: window.notifications[-1].title == "New assignment")
    assert "Job 7, round 2: 5 epochs" in window.notifications[-1].message
    s.core.publish(ev.RewardCredited(job_id=7, round=2, amount=5 * 10**18))
    wait_until(qtbot, lambda: window.notifications[-1].title == "Reward")
    # committee duty: a seat (not a draw this node missed) and the validators' pay
    s.core.publish(ev.CommitteeDrawn(job_id=7, round=3, members=("0x" + "1" * 40,),
                                     weights=(1,), seated=False))
    s.core.publish(ev.CommitteeDrawn(job_id=7, round=4, members=(s.address,), weights=(1,),
                                     seated=True))
    wait_until(qtbot, lambda: window.notifications[-1].title == "Committee seat")
    assert "Job 7, round 4: your node judges" in window.notifications[-1].message
    assert not any("round 3" in n.message for n in window.notifications)
    s.core.publish(ev.ValidatorPaid(job_id=7, round=4, amount=10**17))
    wait_until(qtbot, lambda: window.notifications[-1].title == "Validator reward")
    assert "0.10 MILON for judging job 7, round 4" in window.notifications[-1].message


def test_a_new_proposal_raises_one_notification(qtbot, gui):
    window, ctx = gui
    s = ctx.session
    gov = s.governance()
    call = gov.set_parameter("max-members", 300, "Allow 300 members per federation")
    gov.propose(s.account, call)  # the node's chain events raise it, whatever tab is open
    wait_until(qtbot, lambda: any(n.title == "New proposal" for n in window.notifications))
    news = [n for n in window.notifications if n.title == "New proposal"]
    assert len(news) == 1 and "Allow 300 members" in news[0].message
