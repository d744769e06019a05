"""Jobs tab: manual accept/decline reaches the contract; the policy applies to the core."""

from __future__ import annotations

from PySide6.QtCore import Qt

from milon_app.chain.bindings import AssignmentState
from milon_app.compute.datasets import DatasetSpec
from milon_app.compute.model_spec import digits_mlp
from milon_app.gui.tabs.jobs import JobsTab, fmt_eta
from milon_app.node.owner import JobRequest
from tests.gui.conftest import refreshed, wait_until

ETHER = 10**18


def _job(session, epochs: int = 8) -> int:
    session.core.join(1, 20 * ETHER, 400, "inprocess")
    req = JobRequest(fed_id=1, spec=digits_mlp(), dataset=DatasetSpec(kind="builtin", name="digits"),
                     total_epochs=epochs, epochs_per_round=epochs, reward_per_epoch=ETHER)
    return session.core.owner.create_job(req)


def _manual(qtbot, tab):
    tab.mode.setCurrentText("manual")
    tab.max_epochs.setValue(50)
    qtbot.mouseClick(tab.apply_policy, Qt.MouseButton.LeftButton)
    wait_until(qtbot, lambda: tab.ctx.session.core.policy.mode == "manual")
    assert tab.ctx.session.core.policy.max_epochs == 50


def _pending_row(qtbot, tab) -> int:
    def find() -> int | None:
        tab.refresh()
        for r in range(tab.assignments.rowCount()):
            if tab.assignments.item(r, 4).text() == "yes":
                return r
        return None

    wait_until(qtbot, lambda: find() is not None, 60_000)
    row = find()
    assert row is not None
    return row


def _waiting_for_the_user(qtbot, ctx):
    """A Jobs tab in manual mode with a fresh job's round-1 assignment selected."""
    tab = JobsTab(ctx)
    qtbot.addWidget(tab)
    _manual(qtbot, tab)
    job_id = _job(ctx.session)
    tab.assignments.selectRow(_pending_row(qtbot, tab))
    return tab, job_id


def test_manual_accept_reaches_the_contract(qtbot, ctx):
    s = ctx.session
    tab, job_id = _waiting_for_the_user(qtbot, ctx)
    assert s.milon.assignment(job_id, 1, s.address).state is AssignmentState.ASSIGNED
    qtbot.mouseClick(tab.accept_button, Qt.MouseButton.LeftButton)
    wait_until(qtbot, lambda: s.milon.assignment(job_id, 1, s.address).state
               in (AssignmentState.ACCEPTED, AssignmentState.COMMITTED, AssignmentState.REVEALED))
    refreshed(qtbot, tab)
    assert tab.jobs.rowCount() == 1 and tab.jobs.item(0, 7).text() == "member"
    assert tab.jobs.cellWidget(0, 5).maximum() == 8


def test_manual_decline_hands_the_epochs_to_others(qtbot, ctx):
    s = ctx.session
    tab, job_id = _waiting_for_the_user(qtbot, ctx)
    qtbot.mouseClick(tab.decline_button, Qt.MouseButton.LeftButton)
    wait_until(qtbot, lambda: s.milon.assignment(job_id, 1, s.address).state
               is AssignmentState.DECLINED)
    others = sum(s.milon.assignment(job_id, 1, p.address).epochs for p in s.sim.peers)
    assert others == 8


def test_decide_without_a_selection_says_so(qtbot, ctx):
    tab = JobsTab(ctx)
    qtbot.addWidget(tab)
    refreshed(qtbot, tab)
    qtbot.mouseClick(tab.accept_button, Qt.MouseButton.LeftButton)
    assert "select an assignment" in tab.message.text()
    assert "No jobs yet" in tab.empty_hint.text()


def test_eta_text():
    assert fmt_eta(None) == ""
    assert fmt_eta(42) == "ETA 42s"
    assert fmt_eta(125) == "ETA 2m 05s"
