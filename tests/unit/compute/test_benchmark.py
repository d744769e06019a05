"""The capacity benchmark returns a positive score quickly, for any spec and batch size."""

from __future__ import annotations

import time

import pytest

from milon_app.compute.benchmark import capacity_score, measure_capacity
from milon_app.compute.model_spec import digits_cnn, digits_mlp
from milon_app.errors import BadInputError, HardwareError


def test_default_benchmark_is_quick_and_positive():
    seen: list[float] = []
    t = time.perf_counter()
    result = measure_capacity("cpu", duration_s=0.2, progress=seen.append)
    assert time.perf_counter() - t < 5
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
