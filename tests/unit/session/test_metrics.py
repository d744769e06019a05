"""The Training tab's data keeping: bounded series, no duplicates, progress, CSV rows."""

from __future__ import annotations

import csv

from milon_app.node import events as ev
from milon_app.session.metrics import CSV_HEADER, MetricsStore, Series

A, B = "0x" + "a" * 40, "0x" + "b" * 40


def progress(node=A, job=1, rnd=1, epoch=1, step=1, total=10, loss=1.0, sps=100.0, eta=5.0, ts=0.0):
    return ev.TrainingProgress(node=node, job_id=job, round=rnd, epoch=epoch, step=step,
                               steps_total=total, loss=loss, samples_per_s=sps, eta_s=eta, ts=ts)


def test_steps_continue_across_epochs_and_rounds():
    s = Series(A, 1)
    for rnd in (1, 2):
        for epoch in (1, 2):
            for step in (4, 10):  # coalesced: only some steps arrive, the last always does
                s.add(rnd, epoch, step, 0.5, 10.0, steps_total=10)
    assert s.xs() == [4, 10, 14, 20, 24, 30, 34, 40]


def test_an_epoch_whose_last_step_was_dropped_still_counts_its_steps():
    s = Series(A, 1)
    s.add(1, 1, 7, 0.5, 1.0, steps_total=10)
    s.add(1, 2, 2, 0.4, 1.0, steps_total=10)
    assert s.xs() == [7, 12]


def test_duplicates_and_older_steps_are_dropped():
    s = Series(A, 1)
    assert s.add(1, 1, 5, 1.0, 1.0)
    assert not s.add(1, 1, 5, 1.0, 1.0)
    assert not s.add(1, 1, 3, 1.0, 1.0)
    assert s.add(1, 1, 6, 0.9, 1.0)
    assert len(s) == 2


def test_series_are_bounded_and_keep_the_newest():
    store = MetricsStore(max_points=100)
    for step in range(1, 1001):
        store.handle(progress(step=step, total=1000, loss=1.0 / step))
    s = store.series(A, 1)
    assert len(s) == 100
    assert s.points[0].step == 901 and s.points[-1].step == 1000


def test_database_rows_fill_in_what_the_bus_coalesced_and_keep_newer_live_points():
    store = MetricsStore()
    store.handle(progress(step=2))
    store.handle(progress(step=9))  # live, newer than the database snapshot below
    rows = [(1, 1, step, 1.0, 50.0, 0.0) for step in range(1, 6)]
    store.merge_db(A, 1, rows)
    assert [p.step for p in store.series(A, 1).points] == [1, 2, 3, 4, 5, 9]


def test_progress_fraction_from_eta_and_finish():
    store = MetricsStore()
    store.handle(progress(step=1, eta=9.0, ts=100.0))
    store.handle(progress(step=5, eta=3.0, ts=103.0))
    run = store.series(A, 1).run
    assert run.round == 1 and run.step == 5
    assert abs(run.fraction - 0.5) < 1e-9
    store.handle(ev.TrainingFinished(node=A, job_id=1, round=1, ts=106.0))
    assert store.series(A, 1).run.finished and store.series(A, 1).run.fraction == 1.0
    store.handle(progress(rnd=2, step=1, eta=4.0, ts=200.0))
    run = store.series(A, 1).run
    assert run.round == 2 and not run.finished and run.fraction == 0.0


def test_nodes_and_jobs_are_listed_in_order_seen():
    store = MetricsStore()
    store.handle(progress(node=B, job=2))
    store.handle(progress(node=A, job=1))
    store.handle(progress(node=A, job=2))
    assert store.nodes_seen == [B, A]
    assert store.jobs() == [1, 2]
    assert store.nodes_for(2) == [B, A] and store.nodes_for(1) == [A]
    assert not store.has(B, 1)


def test_round_results_and_finalized_rounds():
    store = MetricsStore()
    assert store.handle(ev.RoundFinalized(node=A, job_id=3, round=1))
    assert not store.handle(ev.RoundFinalized(node=B, job_id=3, round=1))  # every node says it
    assert store.rounds(3).points() == ([], [])
    assert store.set_results(3, [(1, 0.5), (2, None), (3, 0.75)])
    assert not store.set_results(3, [(1, 0.5)])
    assert store.rounds(3).points() == ([1, 3], [0.5, 0.75])
    assert store.rounds(3).finalized == {1, 2, 3}


def test_csv_has_the_header_and_one_row_per_point(tmp_path):
    store = MetricsStore()
    store.handle(progress(step=1, loss=2.0, sps=10.0))
    store.handle(progress(step=2, loss=1.5, sps=12.0))
    store.handle(progress(node=B, step=1, loss=9.0))  # another node: not in A's export
    store.set_results(1, [(1, 0.8)])
    path = tmp_path / "out.csv"
    assert store.write_csv(path, A, 1) == 5
    with path.open(newline="") as fh:
        rows = list(csv.reader(fh))
    assert tuple(rows[0]) == CSV_HEADER == ("kind", "job", "round", "step", "value", "epoch", "node")
    assert rows[1] == ["loss", "1", "1", "1", "2.0", "1", A]
    assert rows[2] == ["samples_per_s", "1", "1", "1", "10.0", "1", A]
    assert rows[4][:5] == ["samples_per_s", "1", "1", "2", "12.0"]
    assert rows[5] == ["accuracy", "1", "1", "", "0.8", "", ""]
    assert "9.0" not in {r[4] for r in rows[1:]}


def test_an_owners_evaluation_event_charts_accuracy_for_jobs_owned_elsewhere():
    store = MetricsStore()
    assert store.handle(ev.RoundEvaluated(node="0xowner", job_id=4, round=1, accuracy=0.8))
    assert not store.handle(ev.RoundEvaluated(node="0xowner", job_id=4, round=1, accuracy=0.8))
    assert store.rounds(4).accuracy == {1: 0.8} and 1 in store.rounds(4).finalized
