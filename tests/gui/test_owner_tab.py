"""The job owner's dashboard against a real session: wizard -> chain -> rounds -> export."""

from __future__ import annotations

import hashlib
import json
import time

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QWizard

from tests.gui.conftest import refreshed, wait_until

WEI = 10**18
NEXT = QWizard.WizardButton.NextButton
FINISH = QWizard.WizardButton.FinishButton


def click(qtbot, wizard, which):
    qtbot.mouseClick(wizard.button(which), Qt.MouseButton.LeftButton)


def ready_wizard(qtbot, tab, **kw):
    wizard = tab.open_wizard(**kw)
    wait_until(qtbot, lambda: wizard.ready)
    assert wizard.isVisible()
    return wizard


def choose(combo, data):
    index = combo.findData(data)
    assert index >= 0, data
    combo.setCurrentIndex(index)


def wait_view(qtbot, tab, check, timeout_s=90.0):
    """Reload the tab until ``check(tab.view)`` holds (the driver trains meanwhile)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        refreshed(qtbot, tab, 30_000)
        if tab.view is not None and check(tab.view):
            return
        qtbot.wait(300)
    raise AssertionError(f"the owner view never satisfied the check: {tab.view}")


def cells(table, row):
    return [table.item(row, c).text() for c in range(table.columnCount())]


def test_create_job_watch_a_round_and_export(qtbot, ctx, session, tmp_path):
    from milon_app.chain.bindings import AggregationRule, JobStatus
    from milon_app.gui.tabs.owner import OwnerTab, onnx_available

    tab = OwnerTab(ctx)
    qtbot.addWidget(tab)
    tab.show()
    refreshed(qtbot, tab)
    assert tab.empty.isVisible() and "No jobs yet" in tab.empty.text()
    assert not tab.jobs.isVisible() and not tab.detail.isVisible()

    wizard = ready_wizard(qtbot, tab)
    page = wizard.model_page
    assert page.federation.count() == 1 and page.federation.currentData() == 1
    choose(page.model, "digits_mlp")
    choose(page.dataset, "digits")
    assert "parameters" in page.summary.text()
    click(qtbot, wizard, NEXT)
    assert wizard.currentPage() is wizard.training_page, wizard.error_text()

    t = wizard.training_page
    t.rounds.setValue(1)
    t.epochs.setValue(6)  # 2 local epochs each: v2 clips every step to the median one
    t.reward.setText("2")
    choose(t.rule, "median")
    assert t.committee.value() == 0 and t.committee.text() == "governed default"
    hint = t.committee_hint.text()
    assert "0 = the governed default (7); otherwise 3..31" in hint
    assert "all 3 active members sit on the committee" in hint
    assert "6 epochs x 2 = 12 MILON" in t.estimate.text()
    assert "5,000,000 MILON" in t.estimate.text() and "enough" in t.estimate.text()

    me = session.address
    before = session.milon.balance(me)
    click(qtbot, wizard, FINISH)
    wait_until(qtbot, lambda: wizard.job_id is not None or wizard.error_text(), 30_000)
    assert wizard.job_id is not None, wizard.error_text()
    job_id = wizard.job_id
    wait_until(qtbot, lambda: not wizard.isVisible())

    job = session.milon.job(job_id)
    assert job.owner == me
    p = job.params
    assert (p.fed_id, p.total_epochs, p.epochs_per_round) == (1, 6, 6)
    assert p.reward_per_epoch == 2 * WEI
    assert p.aggregation_rule is AggregationRule.MEDIAN and p.committee_size == 0
    assert before - session.milon.balance(me) == 12 * WEI  # the escrow left the wallet
    assert job_id in session.core.state.jobs("owner")

    # the simulated members train it; the owner scores the new global model
    def scored(view):
        d = view.detail
        return d is not None and d.job_id == job_id and any(
            r.status == "finalized" and r.accuracy is not None for r in d.rounds
        )

    wait_view(qtbot, tab, scored)
    assert not tab.empty.isVisible() and tab.jobs.isVisible() and tab.detail.isVisible()
    row = cells(tab.jobs, 0)
    assert row[0] == str(job_id) and row[1] == "1"
    assert row[6].endswith("%")
    first = cells(tab.rounds, 0)
    assert first[0] == "1" and first[1] == "finalized" and first[2].endswith("%")
    assert int(first[3]) >= 1  # accepted updates
    assert len(first[5]) == 12  # the new model's hash, short
    xs, ys = tab.curve.getData()
    assert list(xs) == [1] and 0 <= ys[0] <= 100
    acc = tab.view.detail.rounds[0].accuracy
    assert ys[0] == pytest.approx(acc * 100)
    assert acc > 0.15  # trained: well above chance (10%) after one short round
    seats = [cells(tab.seats, r) for r in range(tab.seats.rowCount())]
    assert seats and all("simulated member" in s[0] for s in seats)
    assert sum(int(s[1]) for s in seats) == 6  # the round's epochs, split over members
    # the committee: every simulated member (fewer than the default 7), all voted
    committee = [cells(tab.committee, r) for r in range(tab.committee.rowCount())]
    assert len(committee) == 3 and all("simulated member" in c[0] for c in committee)
    assert all(c[2] == "yes" for c in committee)
    # round 1's verdicts: each update accepted by the two other members
    assert "Verdicts, round 1" in tab.verdict_title.text()
    verdicts = [cells(tab.verdicts, r) for r in range(tab.verdicts.rowCount())]
    accepted = [v for v in verdicts if v[1] == "accepted"]
    assert accepted and all(v[2].count("simulated member") == 2 for v in accepted)
    assert "committee of 7 (the governed default)" in tab.summary.text()

    dest = tmp_path / "export"
    tab.export(dest)  # injectable destination: no dialog
    wait_until(qtbot, lambda: bool(tab.exported) or "failed" in tab.message.text(), 60_000)
    assert tab.exported, tab.message.text()
    weights = dest / "model.safetensors"
    assert weights.is_file() and "written to" in tab.message.text()
    assert (dest / "model.onnx").is_file() == onnx_available()
    job = session.milon.job(job_id)
    expected = job.final_model_hash if job.status is JobStatus.COMPLETED else job.global_model_hash
    meta = json.loads((dest / "model-spec.json").read_text())
    assert meta["sha256"] == hashlib.sha256(weights.read_bytes()).hexdigest()
    assert meta["sha256"] == expected.hex()
    tab.hide()  # no event-driven reloads once the fixtures shut the runner down


def test_bad_inputs_explain_and_create_nothing(qtbot, ctx, session, tmp_path):
    from milon_app.compute.datasets import DatasetSpec
    from milon_app.compute.model_spec import digits_mlp
    from milon_app.gui.tabs.owner import OwnerTab
    from milon_app.node.owner import JobRequest

    me = session.address
    balance = session.milon.balance(me)
    bad = tmp_path / "hostile.json"
    bad.write_text('{"version": 1, "input_shape": [64], "layers": [{"type": "Exec"}], '
                   '"optimizer": {"type": "sgd", "lr": 0.1}}')
    tab = OwnerTab(ctx)
    qtbot.addWidget(tab)
    wizard = ready_wizard(qtbot, tab, choose_file=lambda: str(bad))
    page = wizard.model_page

    # a model that does not take the dataset's inputs
    choose(page.model, "digits_mlp")
    choose(page.dataset, "wine")
    assert "wine has 13 features" in page.error.text()
    click(qtbot, wizard, NEXT)
    assert wizard.currentPage() is page and "wine has 13 features" in wizard.error_text()

    # a hostile spec file picked through Browse… (the dialog is injected)
    choose(page.model, "file")
    assert page.browse.isEnabled()
    qtbot.mouseClick(page.browse, Qt.MouseButton.LeftButton)
    assert page.spec_path.text() == str(bad)
    click(qtbot, wizard, NEXT)
    assert wizard.currentPage() is page
    assert "hostile.json" in wizard.error_text() and "Exec" in wizard.error_text()
    garbage = tmp_path / "garbage.json"
    garbage.write_bytes(b"{not json at all")
    wizard.set_spec_file(garbage)
    assert "garbage.json" in page.error.text() and "not valid JSON" in page.error.text()

    # a good spec file for wine
    good = tmp_path / "wine.json"
    from milon_app.compute.model_spec import tabular_mlp

    good.write_text(tabular_mlp(13, 3).to_json())
    wizard.set_spec_file(good)
    assert page.error.text() == "" and "parameters" in page.summary.text()
    click(qtbot, wizard, NEXT)
    t = wizard.training_page
    assert wizard.currentPage() is t, wizard.error_text()

    t.rounds.setValue(1)
    t.epochs.setValue(2)
    for setup, message in (
        (lambda: t.reward.setText("0"), "reward per epoch must be more than 0"),
        (lambda: (t.reward.setText("1"), t.epochs.setValue(20_000)), "too many epochs"),
        (lambda: (t.epochs.setValue(2), t.committee.setValue(2)),
         "committee size 2 is outside the governed bounds"),
        (lambda: (t.committee.setValue(0), t.reward.setText("10000000")), "insufficient balance"),
    ):
        setup()
        click(qtbot, wizard, FINISH)
        assert message in wizard.error_text()
        assert wizard.isVisible() and wizard.job_id is None
    assert "short by 15,000,000 MILON" in t.estimate.text()
    ctx.runner.wait_idle(10_000)
    assert session.milon.job_count() == 0
    assert session.milon.balance(me) == balance
    wizard.reject()

    # someone else's job: hidden until "show all jobs on chain"
    peer = session.sim.peers[0]
    other = peer.owner.create_job(JobRequest(
        fed_id=1, spec=digits_mlp(), dataset=DatasetSpec(name="digits"), total_epochs=2,
        epochs_per_round=2, reward_per_epoch=WEI))
    tab.show()
    refreshed(qtbot, tab)
    assert tab.empty.isVisible() and tab.view is not None and tab.view.jobs == []
    tab.show_all.setChecked(True)
    wait_until(qtbot, lambda: tab.view is not None and tab.view.show_all and tab.view.jobs)
    assert cells(tab.jobs, 0)[0] == f"{other} (not yours)"
    assert tab.detail.isVisible() and f"Job {other}" in tab.summary.text()
    tab.hide()


def test_a_rejected_update_shows_its_reason_and_who_voted_what(qtbot, ctx, session):
    from milon_app.compute.datasets import DatasetSpec
    from milon_app.compute.model_spec import digits_mlp
    from milon_app.gui.tabs.owner import OwnerTab
    from milon_app.node.behaviour import Behaviour
    from milon_app.node.owner import JobRequest

    session.sim.peers[0].behaviour = Behaviour("lazy")  # member 1 hands back the base model
    job_id = session.core.owner.create_job(JobRequest(
        fed_id=1, spec=digits_mlp(), dataset=DatasetSpec(name="digits"), total_epochs=6,
        epochs_per_round=6, reward_per_epoch=WEI))
    tab = OwnerTab(ctx)
    qtbot.addWidget(tab)
    tab.show()

    def judged(view):
        d = view.detail
        return d is not None and d.job_id == job_id and any(
            v.outcome == "rejected" for v in d.verdicts.get(1, [])
        )

    wait_view(qtbot, tab, judged, timeout_s=120)
    tab.select_round(1)
    rows = [cells(tab.verdicts, r) for r in range(tab.verdicts.rowCount())]
    (bad,) = [r for r in rows if r[0].startswith("simulated member 1 ")]
    assert bad[1] == "rejected" and bad[2] == "—"  # nobody accepted it
    votes = bad[3].split("; ")
    assert len(votes) == 2  # the two other members; the author's own seat does not count
    for vote in votes:
        who, why = vote.rsplit(": ", 1)
        assert who.startswith("simulated member ") and why == "unchanged", vote
    assert all(r[1] == "accepted" for r in rows if r is not bad)
    # the rounds table names it with the reason too
    assert cells(tab.rounds, 0)[4] == "simulated member 1 (" + bad[0].split("(")[1] + ": unchanged"
    tab.hide()
