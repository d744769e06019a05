"""Simulate tab: the in-app demo on the session's own chain, driven from the form."""

from __future__ import annotations

from tests.gui.conftest import wait_until


def _form(tab, *, nodes=2, rounds=2, epochs=2, rule="fedavg", byzantine=0, attack="signflip"):
    tab.nodes.setValue(nodes)
    tab.rounds.setValue(rounds)
    tab.epochs.setValue(epochs)
    tab.rule.setCurrentText(rule)
    tab.byzantine.setValue(byzantine)
    tab.attack.setCurrentText(attack)
    tab.governance.setChecked(False)
    tab.baseline.setChecked(False)


def test_run_fills_rows_and_summary_and_other_tabs_see_it(ctx, qtbot, session):
    from milon_app.gui.tabs.simulate import COLUMNS, SimulateTab
    from milon_app.gui.tabs.training import TrainingTab

    tab = SimulateTab(ctx)
    training = TrainingTab(ctx)  # another tab: it should see the demo nodes train, live
    qtbot.addWidget(tab)
    qtbot.addWidget(training)
    assert tab.nodes.maximum() == len(session.sim.spare_accounts) - 1
    _form(tab)
    tab.committee.setValue(3)
    tab.partition.setCurrentText("dirichlet:1")
    tab.validation.setCurrentText("local")
    opts = tab.options()
    assert opts.transport == "inprocess"
    assert (opts.committee, opts.partition, opts.validation) == (3, "dirichlet:1", "local")
    tab.run_button.click()
    assert tab.running and not tab.run_button.isEnabled()
    wait_until(qtbot, lambda: tab.report is not None, 120_000)
    assert tab.run_button.isEnabled()
    assert tab.table.rowCount() == 2
    assert tab.live_rounds == 2  # each round came through the worker-to-GUI signal
    col = {name: i for i, name in enumerate(COLUMNS)}
    assert [tab.table.item(r, 0).text() for r in range(2)] == ["1", "2"]
    assert tab.table.item(0, col["Outcome"]).text() == "finalized"
    accuracy = tab.table.item(1, col["Accuracy"]).text()
    assert accuracy.endswith("%") and float(accuracy[:-1]) > 0
    assert tab.table.item(0, col["Rejected (reason)"]).text() == "none"  # an honest run
    # both demo nodes sit on the committee (fewer than 3 asked) and voted
    seats = tab.table.item(0, col["Committee"]).text().split(", ")
    assert len(seats) == 2 and all(seat.endswith("✓") for seat in seats)
    assert tab.table.item(0, col["Validators paid (MILON)"]).text() != "none"
    assert int(tab.table.item(0, col["Gas"]).text().replace(",", "")) > 0
    assert tab.bar.value() == tab.bar.maximum() == 2
    report = tab.report
    assert tab.final.text() == f"{report.final_accuracy:.1%}"
    assert tab.central.text() == "not trained" and tab.gov.text() == "not run"
    assert tab.slashed.text() == "nobody" and " s · " in tab.wall.text()
    assert "Simulation finished" in tab.message.text()
    assert ctx.notes and ctx.notes[-1][0] == "Simulation finished"

    demo_nodes = {n["address"] for n in report.nodes}
    wait_until(qtbot, lambda: set(training.store.nodes_for(report.job_id)) == demo_nodes)
    assert training.store.rounds(report.job_id).finalized == {1, 2}


def test_bad_options_show_an_error_and_nothing_runs(ctx, qtbot, session):
    from milon_app.gui.tabs.simulate import SimulateTab

    tab = SimulateTab(ctx)
    qtbot.addWidget(tab)
    jobs_before = session.milon.job_count()
    _form(tab, nodes=2)
    tab.partition.setCurrentText("dirichlet:-1")  # typed into the editable combo
    tab.run_button.click()
    assert "partition 'dirichlet:-1': alpha '-1' is not a positive number" in tab.message.text()
    tab.partition.setCurrentText("iid")
    tab.committee.setValue(2)
    tab.run_button.click()
    assert "--committee must be 0 (the default) or 3..31, not 2" in tab.message.text()
    tab.committee.setValue(0)
    _form(tab, nodes=2, byzantine=2)  # as many byzantine nodes as nodes
    tab.run_button.click()
    assert "--byzantine must be in 0..1" in tab.message.text()
    assert tab.message.property("error") is True
    assert tab.run_button.isEnabled() and tab.report is None and tab.table.rowCount() == 0
    assert ctx.runner.pending == 0 and not session.demo_running.is_set()
    assert session.milon.job_count() == jobs_before


def test_byzantine_member_is_rejected_with_a_reason(ctx, qtbot, session):
    from milon_app.gui.tabs.simulate import SimulateTab

    tab = SimulateTab(ctx)
    qtbot.addWidget(tab)
    # a lazy node hands back the model it was given: every honest judge rejects it
    _form(tab, nodes=3, rounds=2, epochs=3, rule="median", byzantine=1, attack="lazy")
    tab.run_button.click()
    wait_until(qtbot, lambda: tab.report is not None, 120_000)
    byz = tab.report.nodes[-1]
    assert byz["behaviour"] == "lazy"
    rejected = [tab.table.item(r, 5).text() for r in range(tab.table.rowCount())]
    assert any("unchanged" in text for text in rejected), rejected
    assert any(":" in text and text != "none" for text in rejected), rejected
    assert any(byz["address"] in row.rejected and row.rejected[byz["address"]]
               for row in tab.report.rounds)
