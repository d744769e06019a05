"""The simulated federation's data split: iid by default, label-skewed on request."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
import torch

from milon_app.compute.datasets import DatasetSpec, load_dataset
from milon_app.compute.model_spec import digits_mlp
from milon_app.errors import BadInputError
from milon_app.node.local_data import BuiltinPartition
from milon_app.session.simulation import SimOptions

CTX = SimpleNamespace(
    job_id=1, dataset=DatasetSpec(kind="builtin", name="digits"), spec=digits_mlp()
)


def classes_per_part(parts):
    return [len(torch.unique(p.train_data(CTX)[1])) for p in parts]


def test_iid_split_is_the_default_partition():
    iid = [BuiltinPartition(i, 4, partition="iid") for i in range(4)]
    plain = [BuiltinPartition(i, 4) for i in range(4)]
    for a, b in zip(iid, plain, strict=True):
        assert torch.equal(a.train_data(CTX)[1], b.train_data(CTX)[1])


@pytest.mark.parametrize("spec", ["shards:1", "dirichlet:0.05"])
def test_skewed_splits_cover_the_data_once_with_few_classes_each(spec):
    parts = [BuiltinPartition(i, 4, partition=spec) for i in range(4)]
    total = int(load_dataset(CTX.dataset).for_model(CTX.spec).y_train.shape[0])
    assert sum(int(p.train_data(CTX)[0].shape[0]) for p in parts) == total
    assert max(classes_per_part(parts)) < 10  # iid parts hold all 10 digits
    assert min(classes_per_part([BuiltinPartition(i, 4) for i in range(4)])) == 10


def test_sim_options_check_the_partition():
    SimOptions(partition="dirichlet:0.3").check(20)
    with pytest.raises(BadInputError, match="alpha 'x' is not a positive number"):
        SimOptions(partition="dirichlet:x").check(20)
