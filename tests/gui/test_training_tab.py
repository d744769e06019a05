"""Training tab on a real session: a job this node owns, trained by the simulated members."""

from __future__ import annotations

import csv

from milon_app.compute.datasets import DatasetSpec
from milon_app.compute.model_spec import digits_mlp
from milon_app.node.owner import JobRequest
from tests.gui.conftest import refreshed, wait_until

ETHER = 10**18


def _owned_job(session, rounds: int = 2, epochs: int = 3) -> int:
    """A digits job owned by this node; the three simulated members train it."""
    req = JobRequest(
        fed_id=session.sim.fed_id,
        spec=digits_mlp(),
        dataset=DatasetSpec(kind="builtin", name="digits", test_fraction=0.2),
        total_epochs=rounds * epochs,
        epochs_per_round=epochs,
        reward_per_epoch=ETHER,
    )
    return session.core.owner.create_job(req)


def test_empty_tab_shows_a_hint_not_charts(ctx, qtbot):
    from milon_app.gui.tabs.training import NOTHING_YET, TrainingTab

    tab = TrainingTab(ctx)
    qtbot.addWidget(tab)
    refreshed(qtbot, tab)
    assert tab.stack.currentWidget() is tab.empty
    assert tab.empty.text() == NOTHING_YET
    assert tab.job_id is None and tab.progress.format() == "Not training"


def test_live_series_accuracy_export_and_node_switch(ctx, qtbot, session, tmp_path):
    from milon_app.gui.tabs.training import TrainingTab
    from milon_app.session.metrics import CSV_HEADER

    tab = TrainingTab(ctx)
    qtbot.addWidget(tab)
    job = _owned_job(session)
    peers = [p.address for p in session.sim.peers]

    # live: the members' progress events reach the chosen pair's charts
    wait_until(qtbot, lambda: tab.job_id == job and tab.node in peers, 60_000)
    # getData() gives None, then an array (whose truth value is an error past one point)
    wait_until(qtbot, lambda: tab.loss_curve.getData()[0] is not None, 60_000)
    wait_until(qtbot, lambda: len(tab.loss_curve.getData()[0]) > 0, 60_000)
    assert tab.stack.currentIndex() == 1
    assert "Round" in tab.progress.format()

    # the owner's accuracy per round, read from this node's database
    def accuracy_rounds():
        refreshed(qtbot, tab)
        xs = tab.acc_curve.getData()[0]
        return [] if xs is None else list(xs)

    wait_until(qtbot, lambda: accuracy_rounds() == [1, 2], 120_000)
    ys = list(tab.acc_curve.getData()[1])
    assert all(0.0 < y <= 100.0 for y in ys)  # percent
    assert tab.acc_stack.currentIndex() == 0

    # every member trained: the node combo lists them; picking another switches the series
    wait_until(qtbot, lambda: all(tab.store.has(p, job) for p in peers), 30_000)
    listed = [tab.node_combo.itemData(i) for i in range(tab.node_combo.count())]
    assert listed[0] == session.address and set(peers) <= set(listed)
    first = tab.node
    other = next(p for p in peers if p != first)
    before = list(tab.loss_curve.getData()[1])
    tab.node_combo.setCurrentIndex(tab.node_combo.findData(other))
    assert tab.node == other
    after = list(tab.loss_curve.getData()[1])
    assert after == tab.store.series(other, job).losses() and after != before
    refreshed(qtbot, tab)
    assert tab.node == other  # a user's pick survives refreshes

    # CSV export of what is shown
    path = tmp_path / "series.csv"
    tab.ask_path = lambda: path
    tab.export_button.click()
    wait_until(qtbot, lambda: "Wrote" in tab.message.text(), 20_000)
    with path.open(newline="") as fh:
        rows = list(csv.reader(fh))
    assert tuple(rows[0]) == CSV_HEADER
    kinds = {r[0] for r in rows[1:]}
    assert kinds == {"loss", "samples_per_s", "accuracy"}
    loss_rows = [r for r in rows[1:] if r[0] == "loss"]
    assert {r[6] for r in loss_rows} == {other} and {r[1] for r in rows[1:]} == {str(job)}
    assert len(loss_rows) == len(tab.store.series(other, job))
    assert [int(r[2]) for r in rows if r[0] == "accuracy"] == [1, 2]


def test_this_node_without_training_shows_why(ctx, qtbot, session):
    from milon_app.gui.tabs.training import TrainingTab

    job = _owned_job(session, rounds=1)
    tab = TrainingTab(ctx)
    qtbot.addWidget(tab)
    wait_until(qtbot, lambda: tab.store.nodes_for(job), 60_000)
    tab.select(job_id=job, node=session.address)  # the owner does not train its own job
    assert tab.node == session.address and tab.job_id == job
    assert tab.stack.currentWidget() is tab.empty  # no accuracy yet either: no charts at all
    assert f"This node has not trained on job {job}" in tab.empty.text()

    def accuracy_known():
        refreshed(qtbot, tab)
        return tab.store.rounds(job).points()[0] == [1]

    wait_until(qtbot, accuracy_known, 120_000)
    assert tab.node == session.address  # the pick is kept
    assert tab.stack.currentIndex() == 1 and tab.acc_stack.currentIndex() == 0
    assert tab.steps_stack.currentWidget() is tab.steps_note  # a note, not empty step charts
    assert f"has not trained on job {job}" in tab.steps_note.text()
