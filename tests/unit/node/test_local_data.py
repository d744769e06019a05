"""Simulated nodes' data: disjoint slices of whichever built-in dataset a job names."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
import torch

from milon_app.compute.datasets import DatasetSpec
from milon_app.compute.model_spec import digits_mlp
from milon_app.demo import model_for
from milon_app.errors import BadInputError
from milon_app.node.local_data import BuiltinPartition, eval_split


@dataclass
class Ctx:
    job_id: int
    dataset: object
    spec: object


def test_parts_are_disjoint_and_cover_the_train_split():
    ctx = Ctx(1, DatasetSpec(kind="builtin", name="digits"), digits_mlp())
    parts = [BuiltinPartition(i, 3).train_data(ctx) for i in range(3)]
    sizes = [x.shape[0] for x, _ in parts]
    assert max(sizes) - min(sizes) <= 1
    rows = torch.cat([x.reshape(x.shape[0], -1) for x, _ in parts])
    assert torch.unique(rows, dim=0).shape[0] >= rows.shape[0] - 20  # digits has few duplicates
    x_test, y_test = eval_split(ctx.dataset, ctx.spec)
    assert x_test.shape[0] > 0 and y_test.shape[0] == x_test.shape[0]


def test_follows_the_jobs_dataset():
    wine = DatasetSpec(kind="builtin", name="wine")
    ctx = Ctx(2, wine, model_for("wine", 13, 3))
    x, y = BuiltinPartition(0, 2).train_data(ctx)
    assert x.shape[1] == 13 and set(y.tolist()) <= {0, 1, 2}


def test_refuses_what_it_does_not_hold():
    with pytest.raises(BadInputError, match="partition"):
        BuiltinPartition(3, 3)
    ctx = Ctx(3, DatasetSpec(kind="npz", path="/nonexistent.npz"), digits_mlp())
    with pytest.raises(BadInputError, match="built-in"):
        BuiltinPartition(0, 2).train_data(ctx)
