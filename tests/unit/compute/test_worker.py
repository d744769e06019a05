"""Training on a worker thread: futures, cancellation, one job per device."""

from __future__ import annotations

import threading

import pytest
import torch

from milon_app.compute.datasets import load_builtin
from milon_app.compute.model_spec import digits_mlp
from milon_app.compute.trainer import TrainingCancelled, TrainProgress, train
from milon_app.compute.worker import TrainerWorker, submit_training
from milon_app.errors import HardwareError


@pytest.fixture(scope="module")
def small():
    d = load_builtin("digits")
    return d.x_train[:256], d.y_train[:256]


@pytest.fixture
def worker():
    w = TrainerWorker()
    yield w
    w.shutdown()


def test_future_runs_off_thread_and_matches_sync(small, worker):
    threads: set[str] = set()

    def record(_p: TrainProgress) -> None:
        threads.add(threading.current_thread().name)

    fut = worker.submit(digits_mlp(), None, small, epochs=1, seed=2, progress=record, threads=1)
    result = fut.result(timeout=60)
    assert threads and all(name.startswith("milon-train-cpu") for name in threads)
    assert threading.current_thread().name not in threads
    assert (
        result.update_bytes
        == train(digits_mlp(), None, small, epochs=1, seed=2, threads=1).update_bytes
    )


def test_cancel_running_job(small, worker):
    cancel = threading.Event()
    started = threading.Event()

    def on_progress(_p: TrainProgress) -> None:
        started.set()

    fut = worker.submit(
        digits_mlp(batch_size=8),
        None,
        small,
        epochs=1000,
        seed=0,
        cancel=cancel,
        progress=on_progress,
        report_interval_s=0,
    )
    assert started.wait(30)
    cancel.set()
    assert isinstance(fut.exception(timeout=30), TrainingCancelled)


def test_one_job_at_a_time_per_device(small, worker):
    order: list[int] = []
    overlaps: list[tuple[int, int]] = []
    active: list[int | None] = [None]

    def tracker(job: int):
        def progress(p: TrainProgress) -> None:
            if active[0] not in (None, job):
                overlaps.append((active[0], job))
            active[0] = job
            order.append(job)
            if p.epoch == p.epochs and p.step == p.steps_total:
                active[0] = None

        return progress

    futures = [
        worker.submit(
            digits_mlp(), None, small, epochs=2, seed=i, progress=tracker(i), report_interval_s=0
        )
        for i in range(3)
    ]
    for f in futures:
        f.result(timeout=60)
    assert not overlaps
    assert order == sorted(order)  # submission order


def test_shutdown_cancels_and_module_api(small):
    w = TrainerWorker()
    started = threading.Event()
    fut = w.submit(
        digits_mlp(batch_size=8),
        None,
        small,
        epochs=1000,
        seed=0,
        progress=lambda _p: started.set(),
        report_interval_s=0,
    )
    queued = w.submit(digits_mlp(), None, small, epochs=1, seed=0)
    assert started.wait(30)
    w.shutdown(cancel=True, wait=True)
    assert isinstance(fut.exception(timeout=30), TrainingCancelled)
    assert queued.cancelled()
    result = submit_training(digits_mlp(), None, small, epochs=1, seed=0).result(timeout=60)
    assert result.num_samples == 256


def test_unusable_device_fails_at_submit(small, worker):
    if torch.cuda.is_available():
        pytest.skip("CUDA present")
    with pytest.raises(HardwareError):
        worker.submit(digits_mlp(), None, small, epochs=1, seed=0, device="cuda:0")


def test_dropout_run_is_deterministic_while_other_threads_build(small, worker):
    from milon_app.compute.model_spec import ModelSpec

    spec = ModelSpec.from_dict(
        {
            "input_shape": [64],
            "layers": [
                {"type": "Linear", "in_features": 64, "out_features": 32},
                {"type": "Dropout", "p": 0.5},
                {"type": "ReLU"},
                {"type": "Linear", "in_features": 32, "out_features": 10},
            ],
            "optimizer": {"type": "sgd", "lr": 0.05},
            "batch_size": 16,
        }
    )
    expected = train(spec, None, small, epochs=3, seed=9, threads=1).update_bytes
    fut = worker.submit(spec, None, small, epochs=3, seed=9, threads=1)
    while not fut.done():  # hammer the global RNG users from this thread meanwhile
        spec.build(1)
        digits_mlp().build(2)
    assert fut.result(timeout=60).update_bytes == expected
