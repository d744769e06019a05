"""The simulation's job: its tiny model, the digits split and each member's samples.

Kept free of chain and node imports so that Flower's side of the scale benchmark
(``tests/bench/flower_scale.py``, in its own venv) trains exactly the same job.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import torch

    from milon_app.compute.datasets import Dataset
    from milon_app.compute.model_spec import ModelSpec

BATCH = 8  # the sim model's batch size: a few SGD steps per member even on 32 samples
Samples = tuple["torch.Tensor", "torch.Tensor"]


def sim_model() -> ModelSpec:
    """64 -> 32 -> 10 MLP on digits, batch :data:`BATCH`."""
    from milon_app.compute.model_spec import tabular_mlp

    return tabular_mlp(64, 10).with_batch_size(BATCH)


def sim_data(members: int, samples: int, seed: int) -> tuple[Dataset, Samples, list[Samples]]:
    """The digits split, the owner's validation share, and each member's ``samples``."""
    from milon_app.compute.datasets import DatasetSpec, load_dataset
    from milon_app.node.validation_data import split_holdout

    data = load_dataset(DatasetSpec(kind="builtin", name="digits")).for_model(sim_model())
    (x, y), held = split_holdout(data.x_train, data.y_train, seed)
    return data, held, member_samples(x, y, members, samples, seed)


def member_samples(
    x: torch.Tensor, y: torch.Tensor, members: int, samples: int, seed: int
) -> list[Samples]:
    """Each member's ``samples`` training samples, drawn with replacement from ``x, y``
    (members overlap: a thousand members would otherwise hold one or two digits each)."""
    import torch

    g = torch.Generator().manual_seed(seed)
    idx = torch.randint(0, int(x.shape[0]), (members, samples), generator=g)
    return [(x[row], y[row]) for row in idx]
