"""Node tab: the hardware probe, the benchmark's score, pause, peers and the event log."""

from __future__ import annotations

from PySide6.QtCore import Qt

from milon_app.gui.tabs.node import NodeTab
from tests.gui.conftest import refreshed, wait_until


def test_hardware_peers_and_log(qtbot, ctx):
    tab = NodeTab(ctx)
    qtbot.addWidget(tab)
    refreshed(qtbot, tab)
    wait_until(qtbot, lambda: tab.devices.rowCount() >= 1 and "torch" in tab.hw_notes.text())
    kinds = [tab.devices.item(r, 1).text() for r in range(tab.devices.rowCount())]
    assert "cpu" in kinds
    assert tab.device_combo.findText("cpu") >= 0
    assert tab.peer_id.text() == ctx.session.core.transport.peer_id
    assert tab.peers.rowCount() == 3  # the simulated members
    ctx.session.core.publish(__import__("milon_app.node.events", fromlist=["x"]).NodeError(
        where="test", message="visible in the log"))
    wait_until(qtbot, lambda: "visible in the log" in tab.log.toPlainText())


def test_benchmark_sets_the_capacity_score(qtbot, ctx):
    tab = NodeTab(ctx)
    qtbot.addWidget(tab)
    qtbot.mouseClick(tab.bench_button, Qt.MouseButton.LeftButton)
    wait_until(qtbot, lambda: ctx.session.capacity > 0, 60_000)
    assert str(ctx.session.capacity) in tab.capacity_label.text()
    assert tab.bench_bar.value() == 100 and tab.bench_button.isEnabled()


def test_pause_stops_taking_work_and_resume_restores_the_policy(qtbot, ctx):
    s = ctx.session
    tab = NodeTab(ctx)
    qtbot.addWidget(tab)
    qtbot.mouseClick(tab.pause_button, Qt.MouseButton.LeftButton)
    wait_until(qtbot, lambda: s.paused and s.core.policy.mode == "never")
    assert tab.pause_button.text() == "Resume node"
    qtbot.mouseClick(tab.pause_button, Qt.MouseButton.LeftButton)
    wait_until(qtbot, lambda: not s.paused and s.core.policy.mode == "auto")


def test_committee_events_read_as_sentences_in_the_log(qtbot, ctx):
    from milon_app.node import events as ev

    tab = NodeTab(ctx)
    qtbot.addWidget(tab)
    core = ctx.session.core
    other = "0x" + "b" * 40
    core.publish(ev.CommitteeDrawn(job_id=4, round=2, members=(core.address, other),
                                   weights=(1, 1), seated=True))
    core.publish(ev.VerdictSubmitted(job_id=4, round=2, accepted=(core.address,),
                                     rejected=((other, "harmful: loss 9.10 vs median 0.41"),)))
    core.publish(ev.ModelConfirmed(job_id=4, round=2, model_hash="ab" * 32))
    core.publish(ev.ValidatorPaid(job_id=4, round=2, amount=3 * 10**17))
    wait_until(qtbot, lambda: "ValidatorPaid" in tab.log.toPlainText())
    log = tab.log.toPlainText()
    assert "job 4 round 2: a committee of 2 was drawn; your node sits on it" in log
    assert "your verdict accepts 1 update(s), rejects 0xbbbb…bbbb (harmful: loss 9.10" in log
    assert "you confirmed the aggregated model abababababab…" in log
    assert "job 4 round 2: 0.3 MILON for your verdicts" in log
    assert "[[" not in log  # no raw tuples


def test_money_reads_in_milon_addresses_short_and_peer_counts_right(qtbot, ctx):
    """Issue 20 item 4: no raw wei (`amount=6000000000000000000`), no 42-character addresses,
    and a peer event says how many peers are connected (it said peers=0 beside them)."""
    from milon_app.node import events as ev

    tab = NodeTab(ctx)
    qtbot.addWidget(tab)
    core = ctx.session.core
    member = "0x1234" + "5" * 32 + "abcd"
    core.publish(ev.RewardCredited(job_id=3, round=1, amount=6 * 10**18))
    core.publish(ev.Slashed(fed_id=1, member=member, amount=25 * 10**17, reason="rejected"))
    core.publish(ev.JobCreated(job_id=3, fed_id=1, total_epochs=30, escrow=30 * 10**18))
    core.publish(ev.RewardClaimed(amount=14 * 10**18))
    core.publish(ev.PeerStatus(peer_id="16Uiu2HAm" + "x" * 44, connected=True, peers=3))
    wait_until(qtbot, lambda: "PeerStatus" in tab.log.toPlainText())
    log = tab.log.toPlainText()
    assert "job 3 round 1: 6 MILON credited for your update" in log
    assert "member=0x1234…abcd amount=2.5 MILON reason=rejected" in log
    assert "escrow=30 MILON" in log and "claimed 14 MILON" in log
    assert "16Uiu2HAmxxx… connected; 3 peer(s) connected now" in log
    assert "000000000000" not in log and member not in log
