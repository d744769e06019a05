"""A failing job waits a doubling delay, capped, and is due at once after it succeeds."""

from __future__ import annotations

from milon_app.node.job_retry import FIRST_RETRY_S, MAX_RETRY_S, JobRetry


class Clock:
    def __init__(self) -> None:
        self.t = 100.0

    def __call__(self) -> float:
        return self.t


def test_failures_back_off_to_the_cap_and_only_for_that_job():
    clock = Clock()
    retry = JobRetry(clock=clock)
    waits = [retry.failed(7) for _ in range(10)]
    assert waits[:3] == [FIRST_RETRY_S, 2 * FIRST_RETRY_S, 4 * FIRST_RETRY_S]
    assert max(waits) == waits[-1] == MAX_RETRY_S
    assert not retry.due(7) and retry.due(8)  # another job is never held back
    clock.t += MAX_RETRY_S - 0.01
    assert not retry.due(7)
    clock.t += 0.01
    assert retry.due(7)


def test_a_success_clears_the_delay():
    clock = Clock()
    retry = JobRetry(clock=clock)
    retry.failed(1)
    retry.failed(1)
    retry.succeeded(1)
    assert retry.due(1)
    assert retry.failed(1) == FIRST_RETRY_S  # the next failure starts the doubling again
