"""The local trainer: determinism, accuracy, progress, cancellation, divergence, bad inputs."""

from __future__ import annotations

import threading

import pytest
import torch

from milon_app.compute.datasets import load_builtin
from milon_app.compute.model_spec import ModelSpec, digits_cnn, digits_mlp
from milon_app.compute.trainer import (
    TrainingCancelled,
    TrainProgress,
    evaluate,
    result_summary,
    train,
)
from milon_app.compute.weights import decode_state, encode_state
from milon_app.errors import BadInputError, HardwareError, TrainingError


@pytest.fixture(scope="module")
def digits():
    return load_builtin("digits", seed=0)


@pytest.fixture(scope="module")
def small(digits):
    return digits.x_train[:256], digits.y_train[:256]


def test_same_seed_gives_identical_update_bytes(small):
    spec = digits_mlp()
    a = train(spec, None, small, epochs=2, seed=5, threads=1)
    b = train(spec, None, small, epochs=2, seed=5, threads=1)
    c = train(spec, None, small, epochs=2, seed=6, threads=1)
    assert a.update_bytes == b.update_bytes
    assert a.update_bytes != c.update_bytes
    assert decode_state(a.update_bytes).keys() == a.state.keys()
    assert a.num_samples == 256 and a.epochs == 2
    assert all(t.device.type == "cpu" for t in a.state.values())


def test_mlp_learns_digits(digits):
    spec = digits_mlp()
    result = train(
        spec,
        None,
        (digits.x_train, digits.y_train),
        epochs=4,
        seed=0,
        val_data=(digits.x_test, digits.y_test),
        threads=1,  # one thread: robust on a busy 2-core CI machine
    )
    assert result.val_accuracy is not None and result.val_accuracy > 0.90
    assert result.train_loss < 0.5
    assert result.samples_per_s > 0 and result.wall_s > 0
    loss, acc = evaluate(spec, result.update_bytes, digits.x_test, digits.y_test)
    assert acc == pytest.approx(result.val_accuracy)
    assert loss == pytest.approx(result.val_loss, rel=1e-5)
    assert set(result_summary(result)) >= {"train_loss", "val_accuracy", "update_bytes"}


def test_continues_from_global_state(small):
    spec = digits_mlp()
    first = train(spec, None, small, epochs=1, seed=1)
    x, y = small
    loss_before, _ = evaluate(spec, first.state, x, y)
    second = train(spec, first.update_bytes, small, epochs=2, seed=1)
    loss_after, _ = evaluate(spec, second.state, x, y)
    assert loss_after < loss_before
    # dict and bytes global states are equivalent
    third = train(spec, first.state, small, epochs=2, seed=1)
    assert third.update_bytes == second.update_bytes


def test_cnn_with_flat_data_is_reshaped(small):
    result = train(digits_cnn(), None, small, epochs=1, seed=0)
    assert result.state["0.weight"].shape == (16, 1, 3, 3)


def test_progress_reports(small):
    seen: list[TrainProgress] = []
    spec = digits_mlp(batch_size=64)
    train(spec, None, small, epochs=2, seed=0, progress=seen.append, report_interval_s=0)
    assert len(seen) == 8  # 4 steps x 2 epochs, every step when the interval is 0
    assert [(p.epoch, p.step) for p in seen][:5] == [(1, 1), (1, 2), (1, 3), (1, 4), (2, 1)]
    assert all(p.steps_total == 4 and p.epochs == 2 for p in seen)
    assert all(p.loss > 0 and p.samples_per_s > 0 and p.eta_s >= 0 for p in seen)
    assert seen[-1].eta_s == 0
    # throttled: a long interval still reports the end of every epoch
    few: list[TrainProgress] = []
    train(spec, None, small, epochs=2, seed=0, progress=few.append, report_interval_s=3600)
    assert [(p.epoch, p.step) for p in few] == [(1, 4), (2, 4)]


def test_cancel_from_callback_and_before_start(small):
    cancel = threading.Event()

    def stop_soon(p: TrainProgress) -> None:
        if p.step == 2:
            cancel.set()

    with pytest.raises(TrainingCancelled, match="epoch 1 step 3"):
        train(
            digits_mlp(batch_size=16),
            None,
            small,
            epochs=5,
            seed=0,
            cancel=cancel,
            progress=stop_soon,
            report_interval_s=0,
        )
    with pytest.raises(TrainingCancelled) as err:
        train(digits_mlp(), None, small, epochs=1, seed=0, cancel=cancel)
    assert isinstance(err.value, TrainingError)
    assert err.value.exit_code == 11


def test_divergence_detected(small):
    d = digits_mlp().to_dict()
    d["optimizer"] = {"type": "sgd", "lr": 1e6}
    with pytest.raises(TrainingError, match=r"diverged at epoch 1 step \d+"):
        train(ModelSpec.from_dict(d), None, small, epochs=3, seed=0)


def test_wrong_global_state_refused(small):
    cnn_state = digits_cnn().build(0).state_dict()
    with pytest.raises(BadInputError, match="weights lack tensor '4.bias'"):
        train(digits_mlp(), cnn_state, small, epochs=1, seed=0)
    state = digits_mlp().build(0).state_dict()
    state["0.weight"] = torch.zeros(128, 63)
    with pytest.raises(BadInputError, match=r"tensor '0.weight': shape \(128, 63\) differs"):
        train(digits_mlp(), encode_state(state), small, epochs=1, seed=0)
    state = digits_mlp().build(0).state_dict()
    state["2.bias"] = torch.full((64,), float("nan"))
    with pytest.raises(BadInputError, match="NaN or Inf"):
        train(digits_mlp(), encode_state(state), small, epochs=1, seed=0)
    with pytest.raises(BadInputError, match="truncated"):
        train(digits_mlp(), b"abc", small, epochs=1, seed=0)


def test_bad_data_refused(small):
    x, y = small
    spec = digits_mlp()
    cases = [
        ((x, y + 5), "labels span [5, 14], the model has 10 classes"),
        ((x[:, :60], y), "samples have shape [60], the model expects [64]"),
        ((x, y.float()), "labels must be integers"),
        ((x, y[:-1]), "y has shape [255], expected [256] labels"),
        ((x[:0], y[:0]), "training data is empty"),
        ((x.numpy(), y), "must be torch tensors"),
    ]
    for data, message in cases:
        with pytest.raises(BadInputError) as err:
            train(spec, None, data, epochs=1, seed=0)
        assert message in str(err.value)
    for epochs in (0, -1, True, 1.5):
        with pytest.raises(BadInputError, match="epochs"):
            train(spec, None, small, epochs=epochs, seed=0)
    with pytest.raises(BadInputError, match="validation data"):
        train(spec, None, small, epochs=1, seed=0, val_data=(x, y + 10))


def bn_dropout_spec() -> ModelSpec:
    """BatchNorm, dropout and Adam: a trailing batch to merge and a global-RNG draw."""
    return ModelSpec.from_dict(
        {
            "input_shape": [64],
            "layers": [
                {"type": "Linear", "in_features": 64, "out_features": 16},
                {"type": "BatchNorm1d", "num_features": 16},
                {"type": "ReLU"},
                {"type": "Dropout", "p": 0.2},
                {"type": "Linear", "in_features": 16, "out_features": 10},
            ],
            "optimizer": {"type": "adam", "lr": 0.01},
            "batch_size": 17,
        }
    )


def test_batchnorm_with_single_leftover_sample(small):
    spec = bn_dropout_spec()
    x, y = small
    a = train(spec, None, (x[:35], y[:35]), epochs=2, seed=3)  # 35 = 2 x 17 + 1
    b = train(spec, None, (x[:35], y[:35]), epochs=2, seed=3)
    assert a.update_bytes == b.update_bytes  # dropout is seeded too
    assert "1.num_batches_tracked" in a.state


def test_threads_restored_and_device_checked(small):
    before = torch.get_num_threads()
    train(digits_mlp(), None, small, epochs=1, seed=0, threads=1)
    assert torch.get_num_threads() == before
    if not torch.cuda.is_available():
        with pytest.raises(HardwareError, match="'cuda'"):
            train(digits_mlp(), None, small, epochs=1, seed=0, device="cuda")
    with pytest.raises(BadInputError, match="threads"):
        train(digits_mlp(), None, small, epochs=1, seed=0, threads=0)


@pytest.mark.gpu
def test_trains_on_cuda(digits):
    if not torch.cuda.is_available():
        pytest.skip("no CUDA device")
    spec = digits_mlp(batch_size=64)
    result = train(
        spec,
        None,
        (digits.x_train, digits.y_train),
        epochs=5,
        seed=0,
        device="cuda",
        val_data=(digits.x_test, digits.y_test),
    )
    assert result.val_accuracy is not None and result.val_accuracy > 0.9
    assert all(t.device.type == "cpu" for t in result.state.values())
    _, acc = evaluate(spec, result.update_bytes, digits.x_test, digits.y_test, device="cuda")
    assert acc == pytest.approx(result.val_accuracy)
    d = spec.to_dict()
    d["optimizer"] = {"type": "sgd", "lr": 1e6}
    with pytest.raises(TrainingError, match="diverged"):
        train(
            ModelSpec.from_dict(d),
            None,
            (digits.x_train, digits.y_train),
            epochs=3,
            seed=0,
            device="cuda",
        )


def test_device_side_loss_sum_path_on_cpu(small):
    """The GPU bookkeeping (loss summed on the device, checked when reporting) run on the CPU."""
    from milon_app.compute import trainer as T

    spec = digits_mlp()
    x, y = small
    results = []
    for on_device in (False, True):
        model = spec.build(0)
        seen: list[TrainProgress] = []
        loss, _ = T._loop(
            spec,
            model,
            x,
            y,
            2,
            torch.device("cpu"),
            0,
            seen.append,
            None,
            0.0,
            sum_on_device=on_device,
        )
        results.append((loss, model.state_dict(), [p.loss for p in seen]))
    (l1, s1, p1), (l2, s2, p2) = results
    assert l1 == pytest.approx(l2, rel=1e-5) and p1 == pytest.approx(p2, rel=1e-5)
    assert all(torch.equal(s1[k], s2[k]) for k in s1)
    d = spec.to_dict()
    d["optimizer"] = {"type": "sgd", "lr": 1e6}
    bad = ModelSpec.from_dict(d)
    with pytest.raises(TrainingError, match="diverged at epoch"):
        T._loop(
            bad, bad.build(0), x, y, 3, torch.device("cpu"), 0, None, None, 0.0, sum_on_device=True
        )
