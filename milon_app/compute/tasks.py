"""What a model's loss makes of its job: classification, regression or multi-label.

The loss names the task, and the task decides everything that differs between
them, in one place:

- the model's output: at least 2 class scores / at least 1 target / at least 1 label score;
- the labels ``y``: int class ids ``[n]`` / float targets ``[n, k]`` (``[n]`` when k is 1) /
  0-or-1 labels ``[n, k]``, checked and converted here;
- the per-sample loss validators sum (the mean over a sample's targets or labels);
- the metric reported as ``val_accuracy``: accuracy / R^2 over all targets /
  per-label accuracy with a logit above 0 meaning "present";
- how a validator groups its samples (:func:`group_keys`).

Inputs too: a model whose first layer is an ``Embedding`` reads integer token ids,
which stay int64; anything else reads float32 features.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from milon_app.errors import BadInputError

if TYPE_CHECKING:
    import torch
    from torch import nn

    from milon_app.compute.model_spec import ModelSpec

CLASSIFICATION, REGRESSION, MULTILABEL = "classification", "regression", "multilabel"
TASKS = (CLASSIFICATION, REGRESSION, MULTILABEL)
LOSSES: dict[str, str] = {
    "cross_entropy": CLASSIFICATION,
    "nll": CLASSIFICATION,
    "mse": REGRESSION,
    "huber": REGRESSION,
    "bce_with_logits": MULTILABEL,
}
HUBER_DELTA = 1.0
REGRESSION_BINS = 4  # validator groups of a regression task: quantile bins of target 0
_OUTPUTS = {CLASSIFICATION: "class scores", REGRESSION: "targets", MULTILABEL: "label scores"}


def task_of(loss: str) -> str:
    return LOSSES[loss]


def check_output(loss: str, shape: tuple[int, ...]) -> None:
    """The model's output fits the loss's task; raises BadInputError."""
    task = task_of(loss)
    least = 2 if task == CLASSIFICATION else 1
    if len(shape) != 1 or shape[0] < least:
        raise BadInputError(
            f"model output shape {list(shape)} is not a vector of at least {least} {_OUTPUTS[task]}"
        )


def make_loss(loss: str) -> nn.Module:
    """The training loss, a mean over the batch (and over targets or labels)."""
    from torch import nn

    modules = {
        "cross_entropy": nn.CrossEntropyLoss,
        "nll": nn.NLLLoss,
        "mse": nn.MSELoss,
        "bce_with_logits": nn.BCEWithLogitsLoss,
    }
    return nn.HuberLoss(delta=HUBER_DELTA) if loss == "huber" else modules[loss]()


def per_sample_loss(loss: str, out: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """``[n]`` losses whose mean is :func:`make_loss`'s value."""
    from torch.nn import functional as F

    if loss == "cross_entropy":
        return F.cross_entropy(out, y, reduction="none")
    if loss == "nll":
        return F.nll_loss(out, y, reduction="none")
    if loss == "mse":
        each = F.mse_loss(out, y, reduction="none")
    elif loss == "huber":
        each = F.huber_loss(out, y, reduction="none", delta=HUBER_DELTA)
    else:
        each = F.binary_cross_entropy_with_logits(out, y, reduction="none")
    return each.mean(dim=1)


def prepare_inputs(spec: ModelSpec, x: torch.Tensor, n: int, what: str) -> torch.Tensor:
    """``x`` reshaped to the input shape: int64 token ids for an Embedding, else float32."""
    import torch

    if x[0].numel() != math.prod(spec.input_shape):
        raise BadInputError(
            f"{what}: samples have shape {list(x.shape[1:])}, the model expects "
            f"{list(spec.input_shape)}"
        )
    vocab = spec.vocab_size
    if not vocab:
        if not x.is_floating_point():
            x = x.float()
        return x.reshape(n, *spec.input_shape).to(torch.float32)
    if x.is_floating_point() or x.is_complex() or x.dtype == torch.bool:
        raise BadInputError(
            f"{what}: the model starts with an Embedding, so x must hold integer token ids, "
            f"got {x.dtype}"
        )
    lo, hi = int(x.min()), int(x.max())
    if lo < 0 or hi >= vocab:
        raise BadInputError(
            f"{what}: token ids span [{lo}, {hi}], the model's Embedding has {vocab} entries"
        )
    return x.reshape(n, *spec.input_shape).to(torch.long)


def prepare_targets(spec: ModelSpec, y: torch.Tensor, n: int, what: str) -> torch.Tensor:
    """``y`` checked for the spec's task: int64 ``[n]`` classes or float32 ``[n, k]``."""
    import torch

    task, k = spec.task, spec.num_classes
    if task == CLASSIFICATION:
        if y.dim() != 1 or int(y.shape[0]) != n:
            raise BadInputError(f"{what}: y has shape {list(y.shape)}, expected [{n}] labels")
        if y.dtype.is_floating_point or y.dtype == torch.bool or y.is_complex():
            raise BadInputError(f"{what}: labels must be integers, got {y.dtype}")
        lo, hi = int(y.min()), int(y.max())
        if lo < 0 or hi >= k:
            raise BadInputError(f"{what}: labels span [{lo}, {hi}], the model has {k} classes")
        return y.to(torch.long)
    if y.dim() == 1 and k == 1:
        y = y.reshape(-1, 1)
    if y.dim() != 2 or tuple(y.shape) != (n, k):
        alt = f" or [{n}]" if k == 1 else ""
        raise BadInputError(
            f"{what}: y has shape {list(y.shape)}, expected [{n}, {k}]{alt} {_OUTPUTS[task]}"
        )
    if y.is_complex():
        raise BadInputError(f"{what}: targets must be real numbers, got {y.dtype}")
    y = y.to(torch.float32)
    if task == REGRESSION and not bool(y.isfinite().all()):
        raise BadInputError(f"{what}: regression targets hold NaN or Inf (or overflow float32)")
    if task == MULTILABEL and not bool(((y == 0) | (y == 1)).all()):
        raise BadInputError(f"{what}: multi-label targets must all be 0 or 1")
    return y


class Metric:
    """The task's quality measure, summed over chunks on their device and read once."""

    def __init__(self, task: str) -> None:
        self.task = task
        self.count = 0
        self.sums: list[torch.Tensor] = []

    def add(self, out: torch.Tensor, y: torch.Tensor) -> None:
        import torch

        if self.task == CLASSIFICATION:
            parts = [(out.argmax(dim=1) == y).sum()]
            self.count += int(y.shape[0])
        elif self.task == MULTILABEL:
            parts = [((out > 0) == (y > 0.5)).sum()]
            self.count += int(y.numel())
        else:  # regression: squared errors, sum and sum of squares of each target
            yd = y.to(torch.float64)
            parts = [((out.to(torch.float64) - yd) ** 2).sum(0), yd.sum(0), (yd * yd).sum(0)]
            self.count += int(y.shape[0])
        if self.sums:
            parts = [a + b for a, b in zip(self.sums, parts, strict=True)]
        self.sums = parts

    def value(self) -> float:
        """Accuracy, per-label accuracy, or R^2 = 1 - SSE / SST summed over targets."""
        if not self.count:
            return math.nan
        if self.task != REGRESSION:
            return int(self.sums[0].item()) / self.count
        sse, total, squares = (t.cpu() for t in self.sums)
        sst = float((squares - total * total / self.count).clamp(min=0).sum())
        err = float(sse.sum())
        if sst == 0.0:
            return 1.0 if err == 0.0 else 0.0  # constant targets: R^2 is undefined
        return 1.0 - err / sst


def group_keys(task: str, y: torch.Tensor) -> torch.Tensor:
    """A validator's group of each sample (int64, CPU): its class; the quantile bin of its
    first target (REGRESSION_BINS bins by rank, ties broken by position); or its lowest
    positive label, with the samples that have none in one more group."""
    import torch

    y = y.cpu()
    if task == CLASSIFICATION:
        return y.to(torch.long)
    n = int(y.shape[0])
    if task == REGRESSION:
        order = torch.argsort(y[:, 0], stable=True)
        rank = torch.empty(n, dtype=torch.long)
        rank[order] = torch.arange(n)
        return rank * min(REGRESSION_BINS, n) // n
    k = int(y.shape[1])
    positive = y > 0.5
    first = positive.to(torch.long).argmax(dim=1)
    return torch.where(positive.any(dim=1), first, torch.full_like(first, k))


def synthetic_data(
    spec: ModelSpec, n: int, gen: torch.Generator
) -> tuple[torch.Tensor, torch.Tensor]:
    """Random inputs and labels that fit ``spec`` (for capacity benchmarks)."""
    import torch

    vocab, k = spec.vocab_size, spec.num_classes
    if vocab:
        x = torch.randint(0, vocab, (n, *spec.input_shape), generator=gen)
    else:
        x = torch.rand((n, *spec.input_shape), generator=gen)
    if spec.task == CLASSIFICATION:
        return x, torch.randint(0, k, (n,), generator=gen)
    if spec.task == REGRESSION:
        return x, torch.randn((n, k), generator=gen)
    return x, torch.randint(0, 2, (n, k), generator=gen).to(torch.float32)
