"""Many members' local training as one vectorised run: why the simulation is cheap.

Each member's update is what :func:`milon_app.compute.trainer.train` would produce for
that member alone (same global model, data, epochs and seed: same shuffles, same
batches, same optimizer), computed for a whole group of members at once. The members'
parameters are stacked along a new first axis; ``torch.func.vmap`` over
``functional_call`` runs every member's forward pass in one call; the summed loss's
gradient with respect to member ``m``'s slice is member ``m``'s own gradient (the members
never interact); and the spec's optimizer steps the stacked tensors, which is the same
as stepping each member's, because SGD (with momentum, Nesterov, weight decay), Adam and
AdamW work element by element. Results differ from training alone only by float rounding
(batched matmuls sum in another order).

Members are grouped by (spec, sample count, epochs); a model that is not safe to batch
(buffers such as BatchNorm's, dropout's random draws, reduced precision) trains member by
member with the real trainer instead.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from milon_app.compute.model_spec import ModelSpec
from milon_app.compute.trainer import StateLike, TrainResult, prepare_data, train
from milon_app.compute.trainer import _batch_bounds as batch_bounds  # the very same batches
from milon_app.compute.weights import check_compatible, decode_state, encode_state
from milon_app.errors import TrainingError

if TYPE_CHECKING:
    import torch

    Data = tuple[torch.Tensor, torch.Tensor]


@dataclass(frozen=True)
class Member:
    """One member's training request: what :func:`train` would be called with."""

    global_state: StateLike
    data: Data
    seed: int


def batchable(spec: ModelSpec) -> bool:
    """True when members of ``spec`` train exactly alike batched: no buffers, no
    randomness inside training, full precision."""
    if spec.is_stochastic or spec.precision != "fp32":
        return False
    model = spec.build(0)
    return not any(True for _ in model.buffers())


def _state(model: torch.nn.Module, state: StateLike) -> dict[str, torch.Tensor]:
    import torch

    own = model.state_dict()
    if state is None:
        return {k: v.detach().clone() for k, v in own.items()}
    tensors = decode_state(bytes(state)) if isinstance(state, (bytes, bytearray)) else dict(state)
    check_compatible(own, tensors)
    return {k: torch.as_tensor(tensors[k]).to(own[k].dtype) for k in own}


def train_group(
    spec: ModelSpec, members: Sequence[Member], epochs: int, threads: int | None = None
) -> list[TrainResult | Exception]:
    """Train every member for ``epochs`` epochs; all must hold the same number of samples.

    Returns one :class:`TrainResult` per member, or the error that member's training
    would have raised (a diverged member does not fail the others)."""
    import torch
    from torch.func import functional_call, vmap

    if not members:
        return []
    if not batchable(spec):
        return [_alone(spec, m, epochs, threads) for m in members]
    t0 = time.perf_counter()
    old_threads = torch.get_num_threads()
    if threads is not None:
        torch.set_num_threads(threads)
    try:
        prepared = [prepare_data(spec, m.data) for m in members]
        n = int(prepared[0][0].shape[0])
        if any(int(x.shape[0]) != n for x, _ in prepared):
            raise ValueError("train_group: members of one group must hold the same sample count")
        model = spec.build(0)
        states = [_state(model, m.global_state) for m in members]
        leaves = [torch.nn.Parameter(torch.stack([s[k] for s in states])) for k in states[0]]
        stacked: dict[str, torch.Tensor] = dict(zip(states[0], leaves, strict=True))
        optimizer = spec.make_optimizer(leaves)
        loss_fn = spec.make_loss()

        def one(p: dict[str, torch.Tensor], xb: torch.Tensor, yb: torch.Tensor) -> torch.Tensor:
            out: torch.Tensor = loss_fn(functional_call(model, p, (xb,)), yb)
            return out

        losses_of = vmap(one)
        xs_all = torch.stack([x for x, _ in prepared])
        ys_all = torch.stack([y for _, y in prepared])
        gens = [torch.Generator(device="cpu") for _ in members]
        for g, m in zip(gens, members, strict=True):
            g.manual_seed(m.seed)
        rows = torch.arange(len(members)).unsqueeze(1)
        bounds = batch_bounds(n, spec.batch_size)
        sums = torch.zeros(len(members), dtype=torch.float64)
        for _ in range(epochs):
            perms = torch.stack([torch.randperm(n, generator=g) for g in gens])
            xs, ys = xs_all[rows, perms], ys_all[rows, perms]
            sums.zero_()
            for a, b in bounds:
                optimizer.zero_grad(set_to_none=True)
                losses = losses_of(stacked, xs[:, a:b], ys[:, a:b])
                losses.sum().backward()
                optimizer.step()
                sums += losses.detach().double() * (b - a)
    finally:
        if threads is not None:
            torch.set_num_threads(old_threads)
    share = (time.perf_counter() - t0) / len(members)
    return [
        _result({k: v[i].detach().clone() for k, v in stacked.items()}, n, epochs,
                float(sums[i]) / n, share)
        for i in range(len(members))
    ]  # fmt: skip


def _result(
    state: dict[str, torch.Tensor], n: int, epochs: int, loss: float, wall_s: float
) -> TrainResult | Exception:
    if not math.isfinite(loss) or not all(bool(t.isfinite().all()) for t in state.values()):
        return TrainingError("training diverged: the update holds NaN or Inf")
    return TrainResult(
        update_bytes=encode_state(state),
        state=state,
        num_samples=n,
        train_loss=loss,
        val_loss=None,
        val_accuracy=None,
        epochs=epochs,
        wall_s=wall_s,
        samples_per_s=n * epochs / wall_s if wall_s > 0 else 0.0,
    )


def _alone(spec: ModelSpec, m: Member, epochs: int, threads: int | None) -> TrainResult | Exception:
    try:
        return train(spec, m.global_state, m.data, epochs=epochs, seed=m.seed, threads=threads)
    except Exception as exc:  # handed to that member's future, as the worker would
        return exc
