"""The capacity benchmark returns a positive score quickly, for any spec and batch size."""

from __future__ import annotations

import pytest

from milon_app.compute.benchmark import capacity_score, measure_capacity, summarize
from milon_app.compute.model_spec import digits_cnn, digits_mlp
from milon_app.errors import BadInputError, HardwareError


def test_default_benchmark_is_quick_and_positive():
    seen: list[float] = []
    result = measure_capacity("cpu", duration_s=0.2, progress=seen.append)
    assert result.samples_per_s > 0 and result.score >= 1 and result.steps > 0
    assert result.batch_size == 32 and result.device == "cpu"
    assert result.spec_hash == digits_mlp().spec_hash()
    assert seen[-1] == 1.0
    assert set(result.to_dict()) >= {"score", "samples_per_s", "batch_size"}


def test_benchmark_at_the_jobs_model_and_batch():
    result = measure_capacity("cpu", digits_cnn(), batch_size=8, duration_s=0.1, warmup_s=0)
    assert result.batch_size == 8 and result.score >= 1
    assert result.spec_hash == digits_cnn(8).spec_hash()


def test_score_floor_and_bad_arguments():
    assert capacity_score(0.2) == 1
    assert capacity_score(1234.6) == 1235
    for duration in (0, -1, 3600):
        with pytest.raises(BadInputError, match="duration"):
            measure_capacity("cpu", duration_s=duration)
    with pytest.raises(BadInputError, match="batch_size"):
        measure_capacity("cpu", batch_size=0, duration_s=0.1)
    with pytest.raises((HardwareError, BadInputError)):
        measure_capacity("tpu", duration_s=0.1)


class StallingClock:
    """A fake timer: every reading moves on ``tick`` seconds, and reading number ``stall_at``
    jumps ``stall`` seconds (another process took the CPU). Binary fractions keep it exact."""

    def __init__(self, tick: float = 2**-6, stall_at: int = -1, stall: float = 16.0) -> None:
        self.t, self.calls, self.tick, self.stall_at, self.stall = 0.0, 0, tick, stall_at, stall

    def __call__(self) -> float:
        self.calls += 1
        self.t += self.tick + (self.stall if self.calls == self.stall_at else 0.0)
        return self.t


def test_capacity_is_the_median_of_the_timed_runs_not_moved_by_a_stall():
    """Five runs of 0.125 s (8 ticks: 8 steps, then one more reading) at batch 32; the second
    run stalls 16 s. The median is an undisturbed run's rate, the stall only widens the spread
    (one long run, or the mean, would report about 78 samples/s)."""
    undisturbed = 8 * 32 / (9 * 2**-6)
    seen: list[float] = []
    clock = StallingClock(stall_at=14)  # run 1 reads the clock 10 times, run 2 from the 11th
    result = measure_capacity(
        "cpu", duration_s=0.625, warmup_s=0, repeats=5, clock=clock, progress=seen.append
    )
    assert result.repeats == 5 and len(result.rates) == 5
    assert result.rates[1] < 20 and result.rates[0] == pytest.approx(undisturbed)
    assert result.samples_per_s == pytest.approx(undisturbed)
    assert result.score == round(undisturbed) and result.steps == 8 + 3 + 8 + 8 + 8
    assert result.spread == pytest.approx((undisturbed - result.rates[1]) / undisturbed)
    assert seen == sorted(seen) and seen[-1] == 1.0
    assert result.to_dict()["rates"] == list(result.rates) and result.to_dict()["repeats"] == 5


def test_steady_runs_have_no_spread_and_warm_up_is_not_timed():
    clock = StallingClock(stall_at=3)  # the stall falls in the warm-up
    result = measure_capacity("cpu", duration_s=0.375, warmup_s=0.1, repeats=3, clock=clock)
    assert result.rates == (result.samples_per_s,) * 3 and result.spread == 0.0


def test_summary_and_repeat_bounds():
    assert summarize([5.0, 1.0, 4.0]) == (4.0, 1.0)
    assert summarize([2.0, 4.0]) == (3.0, pytest.approx(2 / 3))
    with pytest.raises(BadInputError, match="no timed"):
        summarize([])
    for repeats in (0, -2, 51):
        with pytest.raises(BadInputError, match="repeats must be 1..50"):
            measure_capacity("cpu", duration_s=0.1, repeats=repeats)
