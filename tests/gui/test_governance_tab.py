"""The Governance tab against a real simulated session: every button changes the chain.

The simulated user holds 5,000,000 MILON and has not delegated; the quorum is
4% of 100,000,000 = 4,000,000, so the user alone can pass a proposal once
their votes are delegated. The session's driver mines a block a second, so a
proposal opens for voting a second or two after it is made.
"""

from __future__ import annotations

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QMessageBox

from milon_app.chain.governance import ProposalState, Support
from milon_app.chain.proposals import proposals
from milon_app.gui.tabs.governance import GovernanceTab
from tests.gui.conftest import refreshed, wait_until

ETHER = 10**18
USER_MILON = 5_000_000 * ETHER


@pytest.fixture
def tab(ctx, qtbot):
    t = GovernanceTab(ctx)
    qtbot.addWidget(t)
    t.show()
    refreshed(qtbot, t)
    return t


def click(qtbot, tab, button) -> None:
    """Dismiss any error box (as a user would), click, wait for the action and its reload."""
    for box in error_boxes(tab):
        box.close()
    assert button.isEnabled(), button.text()
    qtbot.mouseClick(button, Qt.MouseButton.LeftButton)
    wait_until(qtbot, lambda: not tab.message.text().endswith("…"), 60_000)
    assert tab.ctx.runner.wait_idle(60_000)
    refreshed(qtbot, tab)


def chain_proposals(session):
    return proposals(session.core.suite)


def row_of(tab, pid: int) -> int:
    for r in range(tab.table.rowCount()):
        if tab.table.item(r, 0).data(Qt.ItemDataRole.UserRole) == str(pid):
            return r
    raise AssertionError(f"proposal {pid} not in the table")


def cell(tab, pid: int, column: str) -> str:
    from milon_app.gui.tabs.governance import COLUMNS

    return tab.table.item(row_of(tab, pid), COLUMNS.index(column)).text()


def wait_state(qtbot, tab, pid: int, state: ProposalState) -> None:
    def reached() -> bool:
        refreshed(qtbot, tab)
        return cell(tab, pid, "State") == state.name.lower()

    wait_until(qtbot, reached, 60_000)


def is_error(tab) -> bool:
    return bool(tab.message.property("error"))


def error_boxes(tab) -> list[QMessageBox]:
    boxes = tab.findChildren(QMessageBox)
    return [b for b in boxes if b.objectName() == "error-box" and b.isVisible()]


def propose(qtbot, tab, template: str, **fields) -> None:
    form = tab.form
    form.select(template)
    for name, value in fields.items():
        widget = getattr(form, name)
        if hasattr(widget, "setCurrentText"):
            widget.setCurrentText(value)
        elif hasattr(widget, "setValue"):
            widget.setValue(value)
        else:
            widget.setText(value)
    click(qtbot, tab, form.propose_btn)


def delegates(session) -> str:
    suite = session.core.suite
    return suite.client.call(suite.token.functions.delegates(session.address))


def test_self_delegation_gives_votes_and_hides_the_warning(tab, qtbot, ctx):
    s = ctx.session
    gov = s.governance()
    assert gov.votes(s.address) == 0
    assert tab.banner.isVisible() and "no voting power" in tab.banner.label.text()
    assert "5,000,000 MILON" in tab.banner.label.text()
    assert tab.votes_box.power.text() == "0 votes" and tab.votes_box.delegate.text() == "nobody"
    assert tab.advance_box.isVisible()  # the simulated chain is a dev chain

    click(qtbot, tab, tab.delegate_self_btn)
    assert not is_error(tab), tab.message.text()
    assert gov.votes(s.address) == USER_MILON
    assert delegates(s) == s.address
    assert not tab.banner.isVisible()
    assert tab.votes_box.power.text() == "5,000,000 votes"
    assert tab.votes_box.delegate.text() == "yourself"
    assert "Delegated your votes to yourself" in tab.message.text()


def test_delegate_to_another_member(tab, qtbot, ctx):
    s = ctx.session
    other = s.sim.spare_accounts[0].address
    tab.delegate_edit.setText(other.lower())  # any case is accepted
    click(qtbot, tab, tab.delegate_btn)
    assert not is_error(tab), tab.message.text()
    assert delegates(s) == other
    assert s.governance().votes(other) == USER_MILON
    assert tab.votes_box.power.text() == "0 votes"
    assert not tab.banner.isVisible()  # delegating elsewhere is a choice, not a mistake
    assert tab.votes_box.delegate.text() == f"{other[:6]}…{other[-4:]}"


def test_parameter_proposal_through_its_whole_life(tab, qtbot, ctx):
    s = ctx.session
    suite = s.core.suite
    gov = s.governance()
    assert suite.client.call(suite.registry.functions.slashBps()) == 1_000
    click(qtbot, tab, tab.delegate_self_btn)

    propose(qtbot, tab, "param", parameter="slash-bps", value="1500",
            description="Raise the slash fraction to 15%")
    assert not is_error(tab), tab.message.text()
    (p,) = chain_proposals(s)
    assert p.call == gov.set_parameter("slash-bps", 1_500, "Raise the slash fraction to 15%")
    assert cell(tab, p.id, "Description") == "Raise the slash fraction to 15%"
    assert cell(tab, p.id, "Proposal") == f"{str(p.id)[:8]}…"
    assert tab.form.description.text() == ""  # cleared for the next proposal

    wait_state(qtbot, tab, p.id, ProposalState.ACTIVE)
    assert cell(tab, p.id, "Time left").endswith("blocks left")
    tab.table.selectRow(row_of(tab, p.id))
    assert tab.vote_btns[Support.FOR].isEnabled() and not tab.queue_btn.isEnabled()
    tab.reason_edit.setText("stricter penalties")
    click(qtbot, tab, tab.vote_btns[Support.FOR])
    assert not is_error(tab), tab.message.text()
    tally = gov.tally(p.id)
    assert (tally.for_, tally.against, tally.abstain) == (USER_MILON, 0, 0)
    assert cell(tab, p.id, "For") == "5,000,000"
    assert cell(tab, p.id, "Quorum") == "5,000,000 / 4,000,000"
    assert cell(tab, p.id, "%") == "100%"
    assert tab.quorum_bar.value() == 100
    assert not tab.vote_btns[Support.AGAINST].isEnabled()  # one vote per member
    assert "Voted for with 5,000,000 votes" in tab.message.text()
    cast = [e for e in _governor_events(s) if e.name == "VoteCast"]
    assert [(e.args["voter"], e.args["reason"]) for e in cast] == [
        (s.address, "stricter penalties")
    ]

    click(qtbot, tab, tab.mine_btn)
    assert gov.state(p.id) is ProposalState.SUCCEEDED
    assert cell(tab, p.id, "State") == "succeeded"
    assert tab.queue_btn.isEnabled() and not tab.execute_btn.isEnabled()

    click(qtbot, tab, tab.queue_btn)
    assert gov.state(p.id) is ProposalState.QUEUED
    assert cell(tab, p.id, "Time left").startswith("executable in")
    assert tab.execute_btn.isEnabled()

    click(qtbot, tab, tab.execute_btn)  # too early: the timelock still runs
    assert is_error(tab) and "in the timelock" in tab.message.text()
    assert error_boxes(tab)
    assert gov.state(p.id) is ProposalState.QUEUED

    click(qtbot, tab, tab.warp_btn)
    assert cell(tab, p.id, "Time left") == "executable now"
    click(qtbot, tab, tab.execute_btn)
    assert not is_error(tab), tab.message.text()
    assert gov.state(p.id) is ProposalState.EXECUTED
    assert cell(tab, p.id, "State") == "executed"
    assert suite.client.call(suite.registry.functions.slashBps()) == 1_500
    assert tab.params_box.row_text("slash-bps")[1] == "1,500 bps (15%)"  # the list follows


def _governor_events(session):
    from milon_app.chain.events import EventCursor

    suite = session.core.suite
    cursor = EventCursor(suite.client, {"g": suite.governor}, suite.manifest.deployed_block)
    return cursor.poll()


def test_amount_parameter_and_duplicate(tab, qtbot, ctx):
    s = ctx.session
    gov = s.governance()
    propose(qtbot, tab, "param", parameter="min-stake-floor", value="2.5")
    assert not is_error(tab), tab.message.text()
    (p,) = chain_proposals(s)
    assert p.call == gov.set_parameter("min-stake-floor", 25 * ETHER // 10)
    assert "You have no voting power" in tab.message.text()  # proposing needs no votes

    propose(qtbot, tab, "param", parameter="min-stake-floor", value="2.5")
    assert is_error(tab) and "identical proposal already exists" in tab.message.text()
    propose(qtbot, tab, "param", parameter="min-stake-floor", value="lots")
    assert is_error(tab) and "'lots' is not a MILON amount" in tab.message.text()
    propose(qtbot, tab, "param", parameter="slash-bps", value="-3")
    assert is_error(tab) and "slash-bps must be 0 or more" in tab.message.text()
    assert len(chain_proposals(s)) == 1


def test_member_templates_make_proposals_and_notify(tab, qtbot, ctx):
    s = ctx.session
    gov = s.governance()
    fed, who = s.sim.fed_id, s.sim.spare_accounts[1].address
    assert ctx.notes == []  # the first load announces nothing

    propose(qtbot, tab, "admit", fed_id=fed, address=who)
    propose(qtbot, tab, "remove", remove_fed_id=fed, remove_address=who.lower(),
            description="Remove them again")
    assert not is_error(tab), tab.message.text()
    admit, remove = chain_proposals(s)
    assert admit.call == gov.admit_member(fed, who)
    assert remove.call == gov.remove_member(fed, who, "Remove them again")
    assert tab.table.rowCount() == 2
    assert cell(tab, admit.id, "Description") == f"Admit {who} to federation {fed}"

    # a proposal made elsewhere (another member) is announced on the next refresh
    founder = s.sim.founder
    other = gov.propose(founder, gov.set_parameter("max-members", 12, "Cap the federations"))
    refreshed(qtbot, tab)
    assert ("New proposal", f"Cap the federations ({str(other)[:8]}…)") in ctx.notes
    assert len([n for n in ctx.notes if n[0] == "New proposal"]) == 3


def test_bad_addresses_show_an_error_and_change_nothing(tab, qtbot, ctx):
    s = ctx.session
    propose(qtbot, tab, "admit", fed_id=s.sim.fed_id, address="0x1234")
    assert is_error(tab) and "'0x1234' is not an Ethereum address" in tab.message.text()
    assert error_boxes(tab)
    propose(qtbot, tab, "remove", remove_fed_id=s.sim.fed_id, remove_address="")
    assert is_error(tab) and "member address is empty" in tab.message.text()
    assert chain_proposals(s) == [] and tab.table.rowCount() == 0

    tab.delegate_edit.setText("nobody")
    click(qtbot, tab, tab.delegate_btn)
    assert is_error(tab) and "'nobody' is not an Ethereum address" in tab.message.text()
    assert int(delegates(s), 16) == 0
    assert tab.banner.isVisible()


def test_release_template_uses_the_jobs_final_model(tab, qtbot, ctx):
    from milon_app.chain.bindings import JobStatus
    from milon_app.compute.datasets import DatasetSpec
    from milon_app.compute.model_spec import digits_mlp
    from milon_app.node.owner import JobRequest

    s = ctx.session
    gov = s.governance()
    propose(qtbot, tab, "release", job_id=1, uri="ipfs://model")
    assert is_error(tab) and "there is no job 1" in tab.message.text()

    req = JobRequest(fed_id=s.sim.fed_id, spec=digits_mlp(),
                     dataset=DatasetSpec(kind="builtin", name="digits"),
                     total_epochs=3, epochs_per_round=3, reward_per_epoch=ETHER)
    job_id = s.core.owner.create_job(req)
    propose(qtbot, tab, "release", job_id=job_id, uri="ipfs://model")
    assert is_error(tab) and "only a completed job's final model" in tab.message.text()
    propose(qtbot, tab, "release", job_id=job_id, uri="  ")
    assert is_error(tab) and "URI is empty" in tab.message.text()
    assert chain_proposals(s) == []

    wait_until(qtbot, lambda: s.milon.job(job_id).status is JobStatus.COMPLETED, 240_000)
    final = s.milon.job(job_id).final_model_hash
    propose(qtbot, tab, "release", job_id=job_id, uri="ipfs://model")
    assert not is_error(tab), tab.message.text()
    (p,) = chain_proposals(s)
    assert p.call == gov.approve_release(job_id, final, "ipfs://model")
    assert f"Approve the model of job {job_id} ({final.hex()[:12]})" in cell(
        tab, p.id, "Description"
    )


def test_parameter_list_shows_every_parameter_and_opens_the_form(tab, qtbot, ctx):
    from milon_app.chain.governance import PARAMETERS

    box = tab.params_box
    assert box.table.rowCount() == len(PARAMETERS) == 25
    assert box.row_text("committee-min") == [
        "committee-min", "3", "smallest validator committee a job may ask for"
    ]
    assert box.row_text("committee-default")[1] == "7"
    from milon_app.chain.bindings import Param

    bps = ctx.session.milon.params()[Param.PARTICIPATION_BPS]
    assert box.row_text("participation-bps")[1] == f"{bps:,} bps ({bps / 100:g}%)"
    assert box.row_text("verdict-window")[1] == "300 s (5m)"
    assert box.row_text("min-stake-floor")[1] == "1 MILON"
    # picking a row opens "Change a parameter" on it, with what it means
    tab.form.select("admit")
    box.table.selectRow(list(box.values).index("verdict-window"))
    assert tab.form.template.currentData() == "param"
    assert tab.form.parameter.currentText() == "verdict-window"
    assert tab.form.meaning.text() == PARAMETERS["verdict-window"]
    assert "seconds" in tab.form.value.placeholderText()


def test_out_of_bounds_parameter_values_are_refused_before_proposing(tab, qtbot, ctx):
    propose(qtbot, tab, "param", parameter="committee-min", value="2")
    assert is_error(tab) and "committee-min must be within 3 .. 64, got 2" in tab.message.text()
    propose(qtbot, tab, "param", parameter="confirm-bps", value="5000")
    assert is_error(tab) and "confirm-bps must be within 5,001 bps" in tab.message.text()
    assert chain_proposals(ctx.session) == []
    propose(qtbot, tab, "param", parameter="committee-max", value="40")
    assert not is_error(tab), tab.message.text()
    (p,) = chain_proposals(ctx.session)
    assert p.call == ctx.session.governance().set_parameter("committee-max", 40)


def test_slash_template_checks_the_cap_and_proposes(tab, qtbot, ctx):
    s = ctx.session
    fed, who = s.sim.fed_id, s.sim.peers[0].address  # a simulated member staking 50 MILON
    propose(qtbot, tab, "slash", slash_fed_id=fed, slash_address=who, slash_amount="6",
            slash_reason="copied updates")
    assert is_error(tab) and "at most 10% (gov-slash-cap-bps)" in tab.message.text()
    assert "5 MILON, asked 6" in tab.message.text()
    propose(qtbot, tab, "slash", slash_fed_id=fed, slash_address=who, slash_amount="2",
            slash_reason="  ")
    assert is_error(tab) and "a slash needs a reason" in tab.message.text()
    propose(qtbot, tab, "slash", slash_fed_id=fed, slash_address=s.address, slash_amount="1",
            slash_reason="x")
    assert is_error(tab) and "has no stake in federation" in tab.message.text()
    assert chain_proposals(s) == []
    propose(qtbot, tab, "slash", slash_fed_id=fed, slash_address=who, slash_amount="2",
            slash_reason="copied updates")
    assert not is_error(tab), tab.message.text()
    (p,) = chain_proposals(s)
    assert p.call == s.governance().slash_member(fed, who, 2 * ETHER, "copied updates")
    assert cell(tab, p.id, "Description") == f"Slash {who} in federation {fed}: copied updates"
