"""A tiny classification task for verdict tests: three Gaussian blobs in 4-D and a small MLP
that learns them in a few epochs on one thread."""

from __future__ import annotations

import torch

from milon_app.compute.model_spec import ModelSpec

CLASSES = 3


def tiny_spec() -> ModelSpec:
    return ModelSpec.from_dict(
        {
            "version": 1,
            "input_shape": [4],
            "layers": [
                {"type": "Linear", "in_features": 4, "out_features": 16},
                {"type": "ReLU"},
                {"type": "Linear", "in_features": 16, "out_features": CLASSES},
            ],
            "loss": "cross_entropy",
            "optimizer": {"type": "sgd", "lr": 0.1, "momentum": 0.9},
            "batch_size": 16,
        }
    )


def blobs(
    n: int, seed: int, classes: tuple[int, ...] = (0, 1, 2)
) -> tuple[torch.Tensor, torch.Tensor]:
    """``n`` samples cycling through ``classes`` (all three by default: balanced data)."""
    gen = torch.Generator().manual_seed(seed)
    y = torch.tensor([classes[i % len(classes)] for i in range(n)])
    centers = torch.tensor([[2.0, 0, 0, 0], [0, 2.0, 0, 0], [0, 0, 2.0, 0]])
    return centers[y] + 0.8 * torch.randn(n, 4, generator=gen), y
