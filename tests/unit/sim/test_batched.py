"""Batched training gives each member the update it would get training alone."""

from __future__ import annotations

import pytest
import torch

from milon_app.compute.model_spec import ModelSpec, digits_cnn, digits_mlp, tabular_mlp
from milon_app.compute.trainer import TrainResult, train
from milon_app.compute.weights import decode_state
from milon_app.sim.batched import Member, batchable, train_group
from milon_app.sim.worker import BatchedWorker


def _members(k: int, n: int, features: int = 64) -> list[Member]:
    g = torch.Generator().manual_seed(7)
    base = tabular_mlp(features, 10).build(3).state_dict()
    return [
        Member(
            base,
            (torch.randn(n, features, generator=g), torch.randint(0, 10, (n,), generator=g)),
            seed=100 + i,
        )
        for i in range(k)
    ]


def _adam(spec: ModelSpec) -> ModelSpec:
    d = spec.to_dict()
    d["optimizer"] = {"type": "adam", "lr": 0.01}
    return ModelSpec.from_dict(d)


def _same(a: TrainResult, b: TrainResult) -> None:
    assert a.num_samples == b.num_samples
    assert a.train_loss == pytest.approx(b.train_loss, rel=1e-5, abs=1e-6)
    sa, sb = decode_state(a.update_bytes), decode_state(b.update_bytes)
    assert sa.keys() == sb.keys()
    for k in sa:
        torch.testing.assert_close(sa[k], sb[k], rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("make", [lambda: tabular_mlp(64, 10), lambda: _adam(tabular_mlp(64, 10))])
@pytest.mark.parametrize(("n", "epochs"), [(32, 1), (45, 3)])  # 45: a ragged last batch
def test_batched_updates_match_training_alone(make, n: int, epochs: int) -> None:
    spec = make()
    members = _members(5, n)
    batched = train_group(spec, members, epochs)
    for m, got in zip(members, batched, strict=True):
        assert isinstance(got, TrainResult)
        _same(got, train(spec, m.global_state, m.data, epochs=epochs, seed=m.seed))


def test_members_do_not_interact() -> None:
    spec = tabular_mlp(64, 10)
    members = _members(4, 32)
    together = train_group(spec, members, 2)
    alone = train_group(spec, members[2:3], 2)
    assert isinstance(together[2], TrainResult) and isinstance(alone[0], TrainResult)
    _same(together[2], alone[0])


def test_unbatchable_models_train_alone() -> None:
    assert batchable(digits_mlp())
    cnn = digits_cnn()
    members = [
        Member(None, (torch.randn(8, 1, 8, 8), torch.randint(0, 10, (8,))), seed=i)
        for i in range(2)
    ]
    if batchable(cnn):  # a CNN without buffers batches too
        return
    out = train_group(cnn, members, 1)
    assert all(isinstance(r, TrainResult) for r in out)


def test_worker_flush_resolves_futures_by_group() -> None:
    spec = tabular_mlp(64, 10)
    worker = BatchedWorker()
    small, big = _members(3, 16), _members(2, 40)
    futures = [worker.submit(spec, m.global_state, m.data, epochs=1, seed=m.seed) for m in small]
    futures += [worker.submit(spec, m.global_state, m.data, epochs=2, seed=m.seed) for m in big]
    assert worker.pending == 5 and not any(f.done() for f in futures)
    assert worker.flush() == 5
    for f, m, e in zip(futures, [*small, *big], [1, 1, 1, 2, 2], strict=True):
        _same(f.result(), train(spec, m.global_state, m.data, epochs=e, seed=m.seed))
    assert worker.flush() == 0
