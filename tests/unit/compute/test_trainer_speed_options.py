"""Trainer results pinned across speed work, and the speed options (precision, layout, compile).

The digests below were computed with the trainer of commit 531cf97, before the
speed options existed: an fp32 spec trained on the CPU with the same seed and
thread count must keep producing these exact bytes. Bit-equality holds for one
torch build on one kind of CPU kernel, so the pinned digests are checked only
there; the comparison with a plain reference loop runs everywhere.
"""

from __future__ import annotations

import functools
import hashlib
import logging
import math
from typing import Any

import pytest
import torch

from milon_app.compute import trainer as T
from milon_app.compute import worker as W
from milon_app.compute.datasets import load_builtin
from milon_app.compute.model_spec import ModelSpec, digits_cnn, digits_mlp
from milon_app.compute.trainer import evaluate, train
from milon_app.compute.weights import encode_state
from milon_app.config import Config, config_from_dict
from milon_app.errors import BadInputError, ConfigError
from tests.unit.compute.test_trainer import bn_dropout_spec

PINNED_ON = ("2.13.0+cpu", "AVX2")  # torch build and CPU kernel set the digests came from
PINNED = {  # name: (sha256 of the update bytes, train_loss) for epochs=2, seed=7, threads=1
    "mlp32": (
        "09a08896b1f7072b10203fbdfcda0399102a72659c1b2463a2aa729e20b405f8",
        2.23587703704834,
    ),
    "cnn32": (
        "71b1dd07aa847442a232779bf849de3b8eeb69ad4d29caffe3a2b473c0f7958a",
        2.2805745601654053,
    ),
    "bn17": (
        "412aa3ad1e76d79bf1a610671a89fc83ddd4cbbc343644a00ca2d78a332076fd",
        1.27890155185014,
    ),
}


SPECS = {"mlp32": lambda: digits_mlp(32), "cnn32": lambda: digits_cnn(32), "bn17": bn_dropout_spec}


@pytest.fixture(scope="module")
def small() -> tuple[torch.Tensor, torch.Tensor]:
    d = load_builtin("digits", seed=0)
    return d.x_train[:256], d.y_train[:256]


def _reference_update(
    spec: ModelSpec, x: torch.Tensor, y: torch.Tensor, epochs: int, seed: int
) -> bytes:
    """The documented training semantics as a plain loop: a seeded permutation per epoch,
    contiguous batches, a trailing batch of one merged into the one before it, dropout
    drawing from the global RNG seeded with ``seed``."""
    n = len(x)
    x = x.reshape(n, *spec.input_shape).float()
    model = spec.build(seed)
    opt = spec.make_optimizer(model.parameters())
    loss_fn = spec.make_loss()
    starts = list(range(0, n, spec.batch_size))
    if len(starts) > 1 and n - starts[-1] == 1:
        starts.pop()
    ends = [*starts[1:], n]
    gen = torch.Generator().manual_seed(seed)
    model.train()
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        for _ in range(epochs):
            perm = torch.randperm(n, generator=gen)
            xs, ys = x[perm], y[perm]
            for a, b in zip(starts, ends):
                opt.zero_grad(set_to_none=True)
                loss_fn(model(xs[a:b]), ys[a:b]).backward()
                opt.step()
    return encode_state({k: v.detach().clone() for k, v in model.state_dict().items()})


@pytest.mark.parametrize("name", sorted(SPECS))
def test_fp32_cpu_update_equals_the_plain_reference_loop(small, name):
    spec = SPECS[name]()
    result = train(spec, None, small, epochs=2, seed=7, threads=1)
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        expected = _reference_update(spec, *small, epochs=2, seed=7)
    finally:
        torch.set_num_threads(before)
    assert result.update_bytes == expected


@pytest.mark.skipif(
    (torch.__version__, torch.backends.cpu.get_cpu_capability()) != PINNED_ON,
    reason=f"digests pinned for torch/CPU kernels {PINNED_ON}",
)
@pytest.mark.parametrize("name", sorted(PINNED))
def test_fp32_cpu_update_digest_is_pinned(small, name):
    result = train(SPECS[name](), None, small, epochs=2, seed=7, threads=1)
    digest, loss = PINNED[name]
    assert hashlib.sha256(result.update_bytes).hexdigest() == digest
    assert result.train_loss == loss


# --- speed options ----------------------------------------------------------------------------


def _with(spec: ModelSpec, **changes: Any) -> ModelSpec:
    return ModelSpec.from_dict({**spec.to_dict(), **changes})


def test_precision_key_is_validated_and_fp32_keeps_the_hash():
    base = digits_cnn()
    explicit = _with(base, precision="fp32")
    assert explicit == base and explicit.spec_hash() == base.spec_hash()
    assert "precision" not in base.to_json()
    for p in ("bf16", "fp16"):
        spec = _with(base, precision=p)
        assert spec.precision == p and spec.to_dict()["precision"] == p
        assert ModelSpec.from_json(spec.to_json()) == spec
        assert spec.spec_hash() != base.spec_hash()
        assert spec.with_batch_size(64).precision == p
    for bad in ("fp8", "FP16", "", 16, None, True, ["bf16"]):
        with pytest.raises(BadInputError, match="precision"):
            _with(base, precision=bad)


def test_device_choices_for_precision_and_layout():
    cnn, mlp = digits_cnn(), digits_mlp()
    cpu, cuda = torch.device("cpu"), torch.device("cuda")
    for p in ("fp32", "bf16", "fp16"):
        assert T._autocast_dtype(_with(cnn, precision=p), cpu) is None  # the CPU: fp32 math
    assert T._autocast_dtype(cnn, cuda) is None
    assert T._autocast_dtype(_with(cnn, precision="fp16"), cuda) == torch.float16
    conv_net, flat_net = cnn.build(0), mlp.build(0)
    assert T._memory_format(cnn, conv_net, cpu) is None  # fp32 on the CPU: as before
    assert T._memory_format(_with(cnn, precision="bf16"), conv_net, cpu) == torch.channels_last
    assert T._memory_format(cnn, conv_net, cuda) == torch.channels_last
    assert T._memory_format(_with(mlp, precision="bf16"), flat_net, cuda) is None  # no Conv2d
    residual = ModelSpec.from_dict(  # the only Conv2d sits inside a block
        {
            "input_shape": [1, 8, 8],
            "layers": [
                {
                    "type": "Residual",
                    "body": [
                        {
                            "type": "Conv2d",
                            "in_channels": 1,
                            "out_channels": 1,
                            "kernel_size": 3,
                            "padding": 1,
                        }
                    ],
                },
                {"type": "Flatten"},
                {"type": "Linear", "in_features": 64, "out_features": 10},
            ],
            "optimizer": {"type": "sgd", "lr": 0.1},
        }
    )
    assert T._memory_format(residual, residual.build(0), cuda) == torch.channels_last


def test_reduced_precision_mlp_on_cpu_trains_exactly_as_fp32(small):
    expected = train(digits_mlp(), None, small, epochs=1, seed=3, threads=1).update_bytes
    for p in ("bf16", "fp16"):
        got = train(_with(digits_mlp(), precision=p), None, small, epochs=1, seed=3, threads=1)
        assert got.update_bytes == expected


def test_channels_last_on_cpu_matches_fp32_within_tolerance(small):
    ref = train(digits_cnn(), None, small, epochs=2, seed=1, threads=1)
    fast_spec = _with(digits_cnn(), precision="bf16")  # on the CPU: fp32 math, channels_last
    a = train(fast_spec, None, small, epochs=2, seed=1, threads=1)
    b = train(fast_spec, None, small, epochs=2, seed=1, threads=1)
    assert a.update_bytes == b.update_bytes  # still deterministic
    for name, tensor in ref.state.items():
        assert a.state[name].is_contiguous()  # the update is stored in the standard layout
        torch.testing.assert_close(a.state[name], tensor, rtol=1e-4, atol=1e-5)
    assert a.train_loss == pytest.approx(ref.train_loss, rel=1e-4)


@pytest.mark.parametrize("amp", [torch.bfloat16, torch.float16])
def test_autocast_step_lowers_the_loss(small, amp):
    """The CUDA autocast step (fp16 with its gradient scaler) run on the CPU, which has
    autocast too, so the code path is tested on machines without a GPU."""
    spec = digits_mlp()
    x, y = small
    model = spec.build(0)
    before, _ = evaluate(spec, model.state_dict(), x, y)
    loss, _ = T._loop(spec, model, x, y, 3, torch.device("cpu"), 0, None, None, 0.1, amp=amp)
    after, _ = evaluate(spec, model.state_dict(), x, y)
    assert math.isfinite(loss) and after < before


def _counting_compile(calls: list[int], fail_at: int | None = None) -> Any:
    """A stand-in for torch.compile that runs the model eagerly and counts the calls;
    call number ``fail_at`` raises the way a missing compiler does, lazily."""

    def compile_(model: torch.nn.Module) -> Any:
        def forward(xb: torch.Tensor) -> torch.Tensor:
            calls.append(len(xb))
            if len(calls) == fail_at:
                raise RuntimeError("no working C++ compiler")
            return model(xb)

        return forward

    return compile_


def test_compile_failure_falls_back_to_eager_with_the_same_update(small, monkeypatch, caplog):
    spec = bn_dropout_spec()  # BatchNorm statistics and dropout draws must be restored
    expected = train(spec, None, small, epochs=2, seed=4, threads=1).update_bytes
    calls: list[int] = []
    monkeypatch.setattr(torch, "compile", _counting_compile(calls, fail_at=2))
    with caplog.at_level(logging.DEBUG, logger="milon_app.compute.trainer"):
        got = train(spec, None, small, epochs=2, seed=4, threads=1, compile_model=True)
    assert got.update_bytes == expected
    assert calls == [17, 18]  # the probe: one batch per size (256 = 14 x 17 + 18)
    logged = [r for r in caplog.records if "torch.compile" in r.getMessage()]
    assert [r.levelno for r in logged] == [logging.DEBUG]


def test_compiled_model_trains_every_step_and_the_probe_leaves_no_trace(small, monkeypatch):
    spec = bn_dropout_spec()
    expected = train(spec, None, small, epochs=2, seed=4, threads=1).update_bytes
    calls: list[int] = []
    monkeypatch.setattr(torch, "compile", _counting_compile(calls))
    got = train(spec, None, small, epochs=2, seed=4, threads=1, compile_model=True)
    assert got.update_bytes == expected
    assert len(calls) == 2 + 2 * 15  # the probe's two sizes, then 15 steps x 2 epochs


def test_compile_with_dynamo_traces_the_training_step(small, monkeypatch):
    """Real torch.compile graph capture (the eager backend: no C++ compiler needed)."""
    monkeypatch.setattr(torch, "compile", functools.partial(torch.compile, backend="eager"))
    spec = digits_mlp()
    expected = train(spec, None, small, epochs=1, seed=2, threads=1)
    got = train(spec, None, small, epochs=1, seed=2, threads=1, compile_model=True)
    for name, tensor in expected.state.items():
        torch.testing.assert_close(got.state[name], tensor, rtol=1e-5, atol=1e-6)


def test_compile_setting_reaches_the_trainer(small, monkeypatch):
    assert Config().compute.compile is False
    assert config_from_dict({"compute": {"compile": True}}).compute.compile is True
    with pytest.raises(ConfigError, match="compute.compile"):
        config_from_dict({"compute": {"compile": "yes"}})
    seen: list[bool] = []
    monkeypatch.setattr(W, "train", lambda *a, **k: seen.append(k["compile_model"]))
    worker = W.TrainerWorker(compile_model=True)
    try:
        worker.submit(digits_mlp(), None, small, epochs=1, seed=0).result(timeout=60)
        worker.submit(digits_mlp(), None, small, epochs=1, seed=0, compile_model=False).result(
            timeout=60
        )
    finally:
        worker.shutdown()
    assert seen == [True, False]
    assert W.TrainerWorker().compile_model is False


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")
@pytest.mark.parametrize("precision", ["fp32", "bf16", "fp16"])
def test_trains_on_cuda_in_each_precision(precision):
    d = load_builtin("digits", seed=0)
    spec = _with(digits_cnn(64), precision=precision)
    test = (d.x_test, d.y_test)
    before, _ = evaluate(spec, spec.build(0).state_dict(), *test, device="cuda")
    result = train(
        spec, None, (d.x_train, d.y_train), epochs=3, seed=0, device="cuda", val_data=test
    )
    assert result.val_loss is not None and result.val_loss < before
    assert math.isfinite(result.train_loss)
    for tensor in result.state.values():
        assert tensor.device.type == "cpu" and tensor.is_contiguous()
        assert not tensor.is_floating_point() or tensor.dtype == torch.float32
