"""Training series per (node, job), bounded, as the Training tab charts and exports them.

The tab receives progress events at up to 20 a second per node for as long
as the app runs, so every series keeps only its newest points. The logic
lives here, free of Qt, so the bounding, de-duplication (the same step may
arrive from the event history, the node's database and the live bus) and
the CSV layout are tested without a window.
"""

from __future__ import annotations

import csv
from collections import deque
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from milon_app.node import events as ev

MAX_POINTS = 5_000
CSV_HEADER = ("kind", "job", "round", "step", "value", "epoch", "node")
MetricRow = tuple[int, int, int, float, float, float]  # StateDB.metrics: round, epoch, step, ...


@dataclass(frozen=True)
class StepPoint:
    x: int  # steps since the series began: round after round, epoch after epoch
    round: int
    epoch: int
    step: int
    loss: float
    samples_per_s: float

    @property
    def key(self) -> tuple[int, int, int]:
        return (self.round, self.epoch, self.step)


@dataclass
class LocalRun:
    """The node's current (or last) local training, for a progress bar with an ETA."""

    round: int = 0
    epoch: int = 0
    step: int = 0
    steps_total: int = 0
    eta_s: float = 0.0
    started_ts: float = 0.0
    last_ts: float = 0.0
    finished: bool = False

    @property
    def fraction(self) -> float:
        """Elapsed / (elapsed + ETA): the event carries no epoch count, but always an ETA."""
        if self.finished:
            return 1.0
        elapsed = max(0.0, self.last_ts - self.started_ts)
        total = elapsed + max(0.0, self.eta_s)
        return min(1.0, elapsed / total) if total > 0 else 0.0


class Series:
    """One node's local training on one job: bounded, in step order, no duplicates."""

    def __init__(self, node: str, job_id: int, max_points: int = MAX_POINTS) -> None:
        self.node = node
        self.job_id = job_id
        self.points: deque[StepPoint] = deque(maxlen=max_points)
        self.run = LocalRun()
        self._x = 0  # the x of the newest point
        self._last_total = 0  # steps in the newest point's epoch, when the event said

    def __len__(self) -> int:
        return len(self.points)

    @property
    def last_key(self) -> tuple[int, int, int]:
        return self.points[-1].key if self.points else (0, 0, 0)

    def add(
        self, rnd: int, epoch: int, step: int, loss: float, sps: float, steps_total: int = 0
    ) -> bool:
        """Append one step; False (and nothing kept) when it is not newer than the last."""
        key = (rnd, epoch, step)
        if key <= self.last_key:
            return False
        last_step = self.last_key[2]
        if self.points and (rnd, epoch) == self.last_key[:2]:
            self._x += step - last_step
        else:  # a new epoch or round continues where the previous one ended
            self._x += max(0, self._last_total - last_step) + step
        self._last_total = steps_total
        self.points.append(StepPoint(self._x, rnd, epoch, step, loss, sps))
        return True

    def add_progress(self, e: ev.TrainingProgress) -> bool:
        added = self.add(e.round, e.epoch, e.step, e.loss, e.samples_per_s, e.steps_total)
        run = self.run
        if e.round > run.round:
            self.run = run = LocalRun(round=e.round, started_ts=e.ts)
        if e.round == run.round and not run.finished:
            run.epoch, run.step, run.steps_total = e.epoch, e.step, e.steps_total
            run.eta_s, run.last_ts = e.eta_s, e.ts
        return added

    def finish(self, e: ev.TrainingFinished) -> None:
        if e.round >= self.run.round:
            if e.round != self.run.round:
                self.run = LocalRun(round=e.round, started_ts=e.ts)
            self.run.finished, self.run.eta_s, self.run.last_ts = True, 0.0, e.ts

    def merge_rows(self, rows: Iterable[MetricRow]) -> None:
        """Rebuild from the node's database (complete), keeping live points newer than it."""
        newer = list(self.points)
        self.points = deque(maxlen=self.points.maxlen)
        self._x = self._last_total = 0
        for rnd, epoch, step, loss, sps, _ts in rows:
            self.add(rnd, epoch, step, loss, sps)
        for p in newer:
            self.add(p.round, p.epoch, p.step, p.loss, p.samples_per_s)

    def xs(self) -> list[int]:
        return [p.x for p in self.points]

    def losses(self) -> list[float]:
        return [p.loss for p in self.points]

    def rates(self) -> list[float]:
        return [p.samples_per_s for p in self.points]


@dataclass
class JobRounds:
    """Per-round results of a job: what the owner measured, and what the chain finalized."""

    accuracy: dict[int, float | None]
    finalized: set[int]

    def points(self) -> tuple[list[int], list[float]]:
        known = sorted((r, a) for r, a in self.accuracy.items() if a is not None)
        return [r for r, _ in known], [a for _, a in known]


class MetricsStore:
    """Every series and job result the tab has seen; fed by events and database reads."""

    def __init__(self, max_points: int = MAX_POINTS) -> None:
        self.max_points = max_points
        self._series: dict[tuple[str, int], Series] = {}
        self._rounds: dict[int, JobRounds] = {}
        self.nodes_seen: list[str] = []  # in order of first appearance

    # -- feeding ---------------------------------------------------------------------------
    def handle(self, event: ev.Event) -> bool:
        """Take one bus event; True when it changed something a chart shows."""
        if isinstance(event, ev.TrainingProgress):
            return self.series(event.node, event.job_id).add_progress(event)
        if isinstance(event, ev.TrainingFinished):
            self.series(event.node, event.job_id).finish(event)
            return True
        if isinstance(event, ev.RoundEvaluated):  # the owner's accuracy, wherever it runs
            return self.set_results(event.job_id, [(event.round, event.accuracy)])
        if isinstance(event, ev.RoundFinalized):
            rounds = self.rounds(event.job_id)
            new = event.round not in rounds.finalized
            rounds.finalized.add(event.round)
            return new
        return False

    def handle_all(self, events: Iterable[ev.Event]) -> None:
        for e in events:
            self.handle(e)

    def merge_db(self, node: str, job_id: int, rows: Sequence[MetricRow]) -> None:
        if rows:
            self.series(node, job_id).merge_rows(rows)

    def set_results(self, job_id: int, results: Iterable[tuple[int, float | None]]) -> bool:
        """The owner's ``round_results``: True when a round's accuracy is new or changed."""
        rounds = self.rounds(job_id)
        changed = False
        for rnd, acc in results:
            if rounds.accuracy.get(rnd, -1.0) != acc:
                rounds.accuracy[rnd] = acc
                changed = True
            rounds.finalized.add(rnd)
        return changed

    # -- reading ---------------------------------------------------------------------------
    def series(self, node: str, job_id: int) -> Series:
        key = (node, job_id)
        if key not in self._series:
            self._series[key] = Series(node, job_id, self.max_points)
            if node not in self.nodes_seen:
                self.nodes_seen.append(node)
        return self._series[key]

    def has(self, node: str, job_id: int) -> bool:
        s = self._series.get((node, job_id))
        return s is not None and len(s) > 0

    def rounds(self, job_id: int) -> JobRounds:
        if job_id not in self._rounds:
            self._rounds[job_id] = JobRounds({}, set())
        return self._rounds[job_id]

    def jobs(self) -> list[int]:
        return sorted({j for _, j in self._series} | set(self._rounds))

    def nodes_for(self, job_id: int) -> list[str]:
        """Nodes with points on ``job_id``, in order of first appearance."""
        return [n for n in self.nodes_seen if self.has(n, job_id)]

    def csv_rows(self, node: str, job_id: int) -> Iterator[tuple[object, ...]]:
        """The shown series: one row per loss and rate point, then one per round's accuracy."""
        s = self._series.get((node, job_id))
        for p in s.points if s is not None else ():
            yield ("loss", job_id, p.round, p.x, p.loss, p.epoch, node)
            yield ("samples_per_s", job_id, p.round, p.x, p.samples_per_s, p.epoch, node)
        for rnd, acc in zip(*self.rounds(job_id).points(), strict=True):
            yield ("accuracy", job_id, rnd, "", acc, "", "")

    def write_csv(self, path: Path, node: str, job_id: int) -> int:
        """Write the shown series to ``path``; returns the number of data rows."""
        return write_rows(path, list(self.csv_rows(node, job_id)))


def write_rows(path: Path, rows: Sequence[Sequence[object]]) -> int:
    """A snapshot of :meth:`MetricsStore.csv_rows` to disk (a worker may do this part)."""
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(CSV_HEADER)
        writer.writerows(rows)
    return len(rows)
