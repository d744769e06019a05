"""A validator's loss measurements: mean loss per class of its validation data.

Verdicts need more than one loss number. On label-skewed data an honest
update trained on two classes improves those classes and makes the others
worse, so "does it improve anything?" is asked class by class, and "does
it make the model worse?" uses the overall mean. Per-sample losses are
summed in float64 by fixed pairwise trees over group-sorted samples, so the
same model and data give the same numbers on every call.

Groups follow the job's task (:func:`milon_app.compute.tasks.group_keys`): a
class per group for classification; for regression, quantile bins of the
first target (the low, middle and high targets an update may favour); for
multi-label data, each sample's lowest positive label, plus one group for
samples with none.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from milon_app.errors import BadInputError
from milon_app.federation.deltas import tree_sum_rows

if TYPE_CHECKING:
    import torch

    from milon_app.compute.model_spec import ModelSpec

EVAL_CHUNK = 4096  # samples per forward pass


@dataclass(frozen=True)
class GroupLosses:
    """Mean loss per group of validation samples (a group per class present, or per
    task group), and group sizes."""

    losses: tuple[float, ...]
    counts: tuple[int, ...]

    def __post_init__(self) -> None:
        if not self.losses or len(self.losses) != len(self.counts):
            raise BadInputError("group losses need one count per group and at least one group")
        if any(c <= 0 for c in self.counts):
            raise BadInputError(f"group counts must be positive, got {list(self.counts)}")

    @property
    def mean(self) -> float:
        """Sample-weighted mean loss over all groups (nan/inf propagate)."""
        total = 0.0
        for loss, count in zip(self.losses, self.counts, strict=True):
            total += loss * count
        return total / sum(self.counts)

    @property
    def weights(self) -> tuple[float, ...]:
        n = sum(self.counts)
        return tuple(c / n for c in self.counts)

    @property
    def finite(self) -> bool:
        return all(math.isfinite(v) for v in self.losses)


EvaluateFn = Callable[[Mapping[str, "torch.Tensor"]], GroupLosses]


def make_evaluator(
    spec: ModelSpec,
    val_data: tuple[torch.Tensor, torch.Tensor],
    *,
    device: str | torch.device = "cpu",
) -> EvaluateFn:
    """An ``evaluate_fn`` for :func:`judge_round`: the spec's loss per group of ``val_data``.

    The model is built once and reloaded for every state. Forward passes run
    on ``device``; the same device and thread count give the same numbers.
    """
    import torch

    from milon_app.compute.hardware import select_device
    from milon_app.compute.tasks import group_keys, per_sample_loss
    from milon_app.compute.trainer import load_state, prepare_data

    dev = select_device(device)
    x, y = prepare_data(spec, val_data, "validation data")
    keys = group_keys(spec.task, y)
    order = torch.argsort(keys, stable=True)
    x, y = x[order].to(dev), y[order].to(dev)
    _, counts = torch.unique_consecutive(keys[order], return_counts=True)
    bounds = [0, *torch.cumsum(counts, 0).tolist()]
    model = spec.build(0).to(dev)

    def evaluate(state: Mapping[str, torch.Tensor]) -> GroupLosses:
        load_state(model, state)
        model.eval()
        per_sample = []
        with torch.no_grad():
            for i in range(0, int(x.shape[0]), EVAL_CHUNK):
                out = model(x[i : i + EVAL_CHUNK])
                target = y[i : i + EVAL_CHUNK]
                loss = per_sample_loss(spec.loss, out, target)
                per_sample.append(loss.to("cpu", torch.float64))
        losses = torch.cat(per_sample)
        means = []
        for k in range(len(counts)):
            part = losses[bounds[k] : bounds[k + 1]].unsqueeze(0)
            means.append(float(tree_sum_rows(part)[0]) / (bounds[k + 1] - bounds[k]))
        return GroupLosses(tuple(means), tuple(int(c) for c in counts.tolist()))

    return evaluate
