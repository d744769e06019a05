"""The simulation's round driver: the members' roles, with the shared reads done once.

A real node's :meth:`NodeCore.tick` polls the chain's event log, then reads the job, the
round and its own membership and seat before it calls its roles. With N members in one
process that is N event polls (each decoding every member's events: O(N^2) per round) and
N copies of the same job and round reads. This driver, for the simulation only, reads the
job and the round once per cohort and pass, the committee once per round, and calls each
member's own :class:`~milon_app.node.contributor.Contributor` and
:class:`~milon_app.node.committee.Committee` ``step`` with them, exactly as ``tick``'s
``_reconcile`` does. Everything else is the member's own work: it reads its assignment,
trains (batched, :mod:`milon_app.sim.worker`), accepts, commits, reveals, fetches and judges
updates and votes with its own account; the owner node (owner and keeper roles) ticks as a
real node. When a pass changes nothing and no training is queued, chain time moves a minute
(dev chains only), as in ``milon demo``.
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field

from milon_app.chain.bindings import JobStatus
from milon_app.sim.federation import SimFederation

ROUND_LIMIT_S = 1_800.0
Progress = Callable[[str, int, int], None]


@dataclass
class RoundStats:
    round: int
    wall_seconds: float
    gas: int
    members: int  # round members across cohorts
    accepted: int
    accuracy: float | None
    timed_out: int  # cohorts whose round timed out
    passes: int
    start_round_gas: int  # the largest startRound of the round (one per cohort)
    seconds_by_phase: dict[str, float] = field(default_factory=dict)


class SimDriver:
    def __init__(self, sim: SimFederation) -> None:
        self.sim = sim
        self._committees: dict[tuple[int, int], frozenset[str]] = {}
        # (gas, seconds, largest startRound gas) of the next round, spent by this one's end
        self._carry: tuple[int, float, int] = (0, 0.0, 0)

    def run_round(self, r: int, progress: Progress | None = None) -> RoundStats:
        """Drive round ``r`` of every cohort's job until each has closed.

        A round is counted from the owner's ``startRound`` transactions (sent at the end of
        the round before, they are carried over) to the last one that closes it."""
        sim, client = self.sim, self.sim.client
        gas0, t0 = client.gas_ok - self._carry[0], time.monotonic() - self._carry[1]
        starts = self._carry[2]
        phases: dict[str, float] = defaultdict(float)
        passes = 0
        while not self._all_closed(r):
            if time.monotonic() - t0 > ROUND_LIMIT_S:
                raise TimeoutError(f"simulated round {r} did not close in {ROUND_LIMIT_S:.0f} s")
            passes += 1
            block = client.block_number()
            starts = max(starts, self._starts(lambda: sim.owner.tick(), phases))
            revealed = self._members_pass(r, phases)
            trained = self._timed(phases, "training", sim.worker.flush)
            if progress is not None:
                progress(f"round {r}", revealed, len(sim.members))
            if not trained and client.block_number() == block:
                self._timed(phases, "chain time", lambda: client.increase_time(60))
        gas, t1 = client.gas_ok - gas0, time.monotonic()
        sim.shared.clear()
        # the owner records the accuracy and opens the next round: counted with that round
        nxt = self._starts(lambda: sim.owner.tick(), defaultdict(float))
        self._carry = (client.gas_ok - gas0 - gas, time.monotonic() - t1, nxt)
        stats = self._stats(r, t1 - t0, gas, passes, phases)
        stats.start_round_gas = starts
        return stats

    def _starts(self, tick: Callable[[], object], phases: dict[str, float]) -> int:
        """Run the owner's ``tick``; the gas of its largest startRound (0: none)."""
        client = self.sim.client
        before = client.tx_count
        self._timed(phases, "owner", tick)
        sent = list(client.history)[len(client.history) - (client.tx_count - before) :]
        return max((t.gas_used for t in sent if t.action == "startRound"), default=0)

    def _members_pass(self, r: int, phases: dict[str, float]) -> int:
        """One step of every member's contributor and (if seated) committee role; on a
        devnet, members' transactions are settled together at the end of the pass, and their
        assignments read in one batch (:mod:`milon_app.sim.pipeline`)."""
        pipeline = self.sim.client.pipeline
        with pipeline.one_pass():
            revealed = self._steps(r, phases)
            t = time.perf_counter()
        phases["receipts"] += time.perf_counter() - t
        return revealed

    def _steps(self, r: int, phases: dict[str, float]) -> int:
        milon, revealed = self.sim.owner.milon, 0
        for c in self.sim.cohorts:
            t = time.perf_counter()
            job = milon.job(c.job_id)
            if job.status is not JobStatus.OPEN or job.current_round != r:
                continue
            rnd = milon.round(c.job_id, r)
            now = self.sim.client.now()
            seated = self._committee(c.job_id, r)
            phases["shared reads"] += time.perf_counter() - t
            revealed += rnd.revealed_count
            if rnd.closed:
                continue
            t = time.perf_counter()
            self.sim.client.preload(milon, c.job_id, r, milon.round_members(c.job_id, r))
            phases["shared reads"] += time.perf_counter() - t
            for node in c.members:
                ctx = node.context(c.job_id, job)
                t = time.perf_counter()
                node.contributor.step(ctx, r, rnd, now, eligible=node.membership(c.fed_id).active)
                phases["contributors"] += time.perf_counter() - t
                if node.address in seated:
                    t = time.perf_counter()
                    node.committee.step(ctx, r, rnd, now)
                    phases["committee"] += time.perf_counter() - t
            # Settled per cohort: a devnet keeps recent states only (a revert is named by
            # replaying it on the block before), and the next cohort's reads see these.
            t = time.perf_counter()
            self.sim.client.pipeline.settle()
            phases["receipts"] += time.perf_counter() - t
        return revealed

    def _committee(self, job_id: int, r: int) -> frozenset[str]:
        key = (job_id, r)
        if key not in self._committees:
            self._committees[key] = frozenset(self.sim.owner.milon.committee(job_id, r))
        return self._committees[key]

    def _all_closed(self, r: int) -> bool:
        milon = self.sim.owner.milon
        for c in self.sim.cohorts:
            job = milon.job(c.job_id)
            if job.status is JobStatus.OPEN and (
                job.current_round < r or not milon.round(c.job_id, r).closed
            ):
                return False
        return True

    @staticmethod
    def _timed(phases: dict[str, float], name: str, fn: Callable[[], object]) -> object:
        t = time.perf_counter()
        try:
            return fn()
        finally:
            phases[name] += time.perf_counter() - t

    def _stats(
        self, r: int, wall: float, gas: int, passes: int, phases: dict[str, float]
    ) -> RoundStats:
        milon, owner = self.sim.owner.milon, self.sim.owner
        members = accepted = timed_out = 0
        weighted, weight = 0.0, 0
        for c in self.sim.cohorts:
            rnd = milon.round(c.job_id, r)
            members += rnd.member_count
            accepted += bin(rnd.accepted_bits).count("1") if rnd.finalized else 0
            timed_out += int(rnd.timed_out)
            acc = {row[0]: row[2] for row in owner.state.round_results(c.job_id)}.get(r)
            if acc is not None:
                weighted += acc * len(c.members)
                weight += len(c.members)
        return RoundStats(
            round=r,
            wall_seconds=wall,
            gas=gas,
            members=members,
            accepted=accepted,
            accuracy=weighted / weight if weight else None,
            timed_out=timed_out,
            passes=passes,
            start_round_gas=0,
            seconds_by_phase={k: round(v, 3) for k, v in sorted(phases.items())},
        )
