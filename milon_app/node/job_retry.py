"""Each job's step on its own: one job's failure never stops the node's other jobs.

Anyone can create a job in a federation for an escrow of one wei, with a model spec
nobody serves or that does not parse. A node that stopped its tick at the first failing
job would never reach the jobs after it and miss their deadlines, and be slashed for it
(tests/attacks/test_poison_job.py). So a failing job is skipped for a delay that doubles
from ``FIRST_RETRY_S`` up to ``MAX_RETRY_S`` while the other jobs go on; the cap stays well
inside a round's accept window, so a job that only failed for a moment (its owner's peer
briefly offline) is picked up again in time.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

from milon_app.node.chain_watch import backoff_delays

FIRST_RETRY_S = 2.0
MAX_RETRY_S = 60.0


@dataclass
class JobRetry:
    """When each failing job may be tried again (monotonic seconds)."""

    clock: Callable[[], float] = time.monotonic
    _failures: dict[int, int] = field(default_factory=dict)
    _not_before: dict[int, float] = field(default_factory=dict)
    _delay: Callable[[int], float] = field(
        default_factory=lambda: backoff_delays(FIRST_RETRY_S, MAX_RETRY_S)
    )

    def due(self, job_id: int) -> bool:
        return self.clock() >= self._not_before.get(job_id, 0.0)

    def failed(self, job_id: int) -> float:
        """Record a failure; the seconds until the job is tried again."""
        n = self._failures.get(job_id, 0)
        wait = self._delay(n)
        self._failures[job_id] = n + 1
        self._not_before[job_id] = self.clock() + wait
        return wait

    def succeeded(self, job_id: int) -> None:
        self._failures.pop(job_id, None)
        self._not_before.pop(job_id, None)
