"""Trainer results pinned across speed work, and the speed options (precision, layout, compile).

The digests below were computed with the trainer of commit 531cf97, before the
speed options existed: an fp32 spec trained on the CPU with the same seed and
thread count must keep producing these exact bytes. Bit-equality holds for one
torch build on one kind of CPU kernel, so the pinned digests are checked only
there; the comparison with a plain reference loop runs everywhere.
"""

from __future__ import annotations

import hashlib

import pytest
import torch

from milon_app.compute.datasets import load_builtin
from milon_app.compute.model_spec import ModelSpec, digits_cnn, digits_mlp
from milon_app.compute.trainer import train
from milon_app.compute.weights import encode_state
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
