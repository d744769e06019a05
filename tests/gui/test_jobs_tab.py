"""Jobs tab: manual accept/decline reaches the contract; the policy applies to the core."""

from __future__ import annotations

from PySide6.QtCore import Qt

from milon_app.chain.bindings import AssignmentState
from milon_app.compute.datasets import DatasetSpec
from milon_app.compute.model_spec import digits_mlp
from milon_app.gui.tabs.jobs import JobsTab, duty_status, fmt_eta
from milon_app.node import events as ev
from milon_app.node.owner import JobRequest
from tests.gui.conftest import refreshed, wait_until

ETHER = 10**18


def _job(session, epochs: int = 8) -> int:
    """This node joins the simulated federation; simulated member 1 publishes a job to it
    (a node never trains on its own job, so the user's node must not own it)."""
    session.core.join(1, 20 * ETHER, 400, "inprocess")
    owner = session.sim.peers[0]
    owner.roles = (*owner.roles, "owner")  # so it opens the rounds
    req = JobRequest(fed_id=1, spec=digits_mlp(), dataset=DatasetSpec(kind="builtin", name="digits"),
                     total_epochs=epochs, epochs_per_round=epochs, reward_per_epoch=ETHER)
    return owner.owner.create_job(req)


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
    assert s.milon.assignment(job_id, 1, s.address).epochs == 0


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


def test_committee_duty_shows_the_seat_the_verdict_and_the_pay(qtbot, ctx):
    """A member among four (fewer than the default committee of 7): this node sits on every
    round's committee, votes, confirms the model and is paid from the validators' share."""
    s = ctx.session
    tab = JobsTab(ctx)
    qtbot.addWidget(tab)
    refreshed(qtbot, tab)
    assert tab.duty.rowCount() == 0 and "No committee seat yet" in tab.no_duty.text()
    job_id = _job(s, epochs=8)

    def rows():
        refreshed(qtbot, tab)
        return [[tab.duty.item(r, c).text() for c in range(6)] for r in range(tab.duty.rowCount())]

    def finalized():
        return s.milon.job(job_id).current_round and s.milon.round(job_id, 1).finalized

    wait_until(qtbot, finalized, 240_000)
    seat, rnd = s.milon.seat(job_id, 1, s.address), s.milon.round(job_id, 1)
    assert seat.seated and seat.voted
    # confirmed, unless enough of the committee's stake confirmed first
    status = duty_status(rnd, seat.voted, seat.confirmed)
    assert status in ("voted and confirmed",
                      "voted; the model was confirmed before this node's confirmation")
    wait_until(qtbot, lambda: rows() and rows()[0][3] == status, 30_000)
    (row,) = rows()
    assert row[1] == "1" and row[2] == "20.00"  # the seat votes with this node's stake
    assert row[4] == f"accepted {bin(seat.verdict).count('1')} of {rnd.revealed_count}"
    assert rnd.revealed_count >= 3  # this node's update among them: it trained too
    assert tab.no_duty.text() == ""
    # paid from the validators' pool when it agreed with the majority (it judges on its own
    # held-out share, so it may not have): the column shows exactly the node's pay events
    s.bus.wait_for(ev.RoundFinalized, lambda e: e.node == s.address and e.job_id == job_id,
                   timeout=60)  # ValidatorPaid comes from the same transaction, before it
    pay = sum(e.amount for e in s.bus.history(ev.ValidatorPaid)
              if e.node == s.address and e.job_id == job_id)
    wait_until(qtbot, lambda: rows()[0][5] == (f"{pay / ETHER:,.2f}" if pay else "—"), 30_000)


def test_duty_status_words():
    import dataclasses

    from tests.unit.session.test_rounds_and_parameters import BASE

    running = dataclasses.replace(BASE, revealed_count=3)
    assert duty_status(running, False, False) == "to vote"
    assert duty_status(running, True, False) == "voted"
    tallied = dataclasses.replace(running, tallied=True, accepted_bits=3)
    assert duty_status(tallied, True, False) == "to confirm the model"
    done = dataclasses.replace(tallied, finalized=True)
    assert duty_status(done, True, True) == "voted and confirmed"
    assert duty_status(done, False, False) == "missed: did not vote"
    assert duty_status(done, True, False) == (
        "voted; the model was confirmed before this node's confirmation"
    )
    assert duty_status(dataclasses.replace(done, accepted_bits=0), True, False) == (
        "voted; nothing accepted to confirm"
    )
    assert duty_status(dataclasses.replace(running, timed_out=True), False, False) == (
        "missed: round timed out"
    )
