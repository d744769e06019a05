"""What a soak run measured: rounds, daemon lives with their RSS samples, and the summary table."""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field

import psutil

MB = 1024 * 1024


@dataclass
class Life:
    """One daemon process: a node's run between a start and a stop."""

    node: str
    pid: int
    started_round: int
    samples: list[tuple[int, float]] = field(default_factory=list)  # (round, RSS MB)

    def growth(self, second_half: bool = False) -> float | None:
        """MB per round: least-squares slope over the samples (or their second half)."""
        pts = self.samples[len(self.samples) // 2 :] if second_half else self.samples
        if len(pts) < 2:
            return None
        xs, ys = [p[0] for p in pts], [p[1] for p in pts]
        mx, my = statistics.fmean(xs), statistics.fmean(ys)
        den = sum((x - mx) ** 2 for x in xs)
        return sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / den if den else None


@dataclass
class RoundRecord:
    round: int
    seconds: float
    members: int
    accepted: int
    finalized: bool
    timed_out: bool
    declined: int = 0  # a leaver's assignment handed back when its leave landed late
    epochs: int = 0  # epochs the round handed out
    trained: int = 0  # epochs the committee accepted: fewer means an honest update was lost
    churn: str = ""
    seated: int = 0  # members on the round's committee
    voted: int = 0  # of them, those that voted (an absent one delays the round, loses stake)


@dataclass
class SoakResult:
    rounds: list[RoundRecord]
    lives: list[Life]
    churn: list[str]
    wall_s: float
    stall_s: float
    job_completed: bool
    exits: dict[str, int | None]
    revealed: dict[str, int] = field(default_factory=dict)  # node -> rounds it delivered in
    members_at_end: list[str] = field(default_factory=list)  # running contributors, all joined

    @property
    def failed(self) -> list[int]:
        return [r.round for r in self.rounds if not r.finalized]

    @property
    def lost(self) -> list[int]:
        """Rounds in which epochs were not accepted (every node here is honest)."""
        return [r.round for r in self.rounds if r.trained < r.epochs]

    @property
    def absent(self) -> list[int]:
        """Rounds in which a committee member did not vote (churn must never cause one)."""
        return [r.round for r in self.rounds if r.voted < r.seated]

    @property
    def stalled(self) -> list[int]:
        return [r.round for r in self.rounds if r.seconds > self.stall_s]

    def table(self) -> str:
        lines = [f"{'daemon life':<14}{'rounds':>8}{'first MB':>10}{'last MB':>9}"
                 f"{'MB/round':>10}{'2nd half':>10}"]  # fmt: skip
        for life in self.lives:
            if not life.samples:
                continue
            g, g2 = life.growth(), life.growth(second_half=True)
            lines.append(
                f"{life.node:<14}{len(life.samples):>8}{life.samples[0][1]:>10.1f}"
                f"{life.samples[-1][1]:>9.1f}{_fmt(g):>10}{_fmt(g2):>10}"
            )
        secs = [r.seconds for r in self.rounds]
        lines += [
            f"rounds finalized {sum(r.finalized for r in self.rounds)}/{len(self.rounds)}, "
            f"failed {self.failed or 'none'}, stalled (> {self.stall_s:.0f} s) "
            f"{self.stalled or 'none'}, with unaccepted epochs {self.lost or 'none'}, "
            f"with an absent committee member {self.absent or 'none'}, "
            f"job completed: {self.job_completed}",
            f"round time median {statistics.median(secs):.1f} s, max {max(secs):.1f} s; "
            f"wall time {self.wall_s:.0f} s; churn events {len(self.churn)}",
            "rounds delivered per node: "
            + ", ".join(f"{k} {v}" for k, v in sorted(self.revealed.items()))
            + f"; members at the end: {', '.join(self.members_at_end)}",
            *[f"  {c}" for c in self.churn],
        ]
        return "\n".join(lines)


def _fmt(v: float | None) -> str:
    return "-" if v is None else f"{v:+.2f}"


def rss_mb(pid: int) -> float:
    """Resident memory of a process and its children, in MiB."""
    proc = psutil.Process(pid)
    total = proc.memory_info().rss
    for child in proc.children(recursive=True):
        try:
            total += child.memory_info().rss
        except psutil.NoSuchProcess:
            continue
    return total / MB
