"""What both Flower apps share with MILON: the model spec, the data split, the epoch split.

The model (``digits_mlp``: 64-128-64-10, SGD lr 0.05 momentum 0.9, batch 32), the
80/20 split of scikit-learn's digits (seed 0), the IID partition
(``partition_iid``) and the training loop (``milon_app.compute.trainer.train``) are
MILON's own code, imported from the checkout (PYTHONPATH), so Flower and MILON train
exactly the same job and only the systems around the loop differ.
"""

from __future__ import annotations

import hashlib
import json
import os
from functools import lru_cache
from typing import TYPE_CHECKING, Any

import torch

from milon_app.compute.datasets import Dataset, DatasetSpec, load_dataset
from milon_app.compute.model_spec import ModelSpec, digits_mlp
from milon_app.compute.partition import partition_iid

if TYPE_CHECKING:
    from milon_app.demo_data import Workload

CONFIG_ENV = "MILON_FLOWER_BENCH_CONFIG"
# model "sim": ``milon sim``'s job (its 64-32-10 MLP, batch 8, each client ``samples`` digits
# drawn as the simulation draws its members'; tests/bench/flower_scale.py)
SIM = "sim"


def bench_config(run_config: dict[str, Any] | None = None) -> dict[str, Any]:
    """The benchmark's settings: a JSON file named by the run config or the environment."""
    path = str((run_config or {}).get("bench-config") or os.environ.get(CONFIG_ENV, ""))
    if not path:
        raise RuntimeError(f"no benchmark config: set run config bench-config or ${CONFIG_ENV}")
    with open(path, encoding="utf-8") as fh:
        cfg: dict[str, Any] = json.load(fh)
    return cfg


def spec(model: str = "", data: str = "") -> ModelSpec:
    """The digits MLP, or (the privacy section) the spec ``milon demo --model --dataset`` runs."""
    if model == SIM:
        from milon_app.sim.workload import sim_model

        return sim_model()
    return workload(model, data).spec if model or data else digits_mlp()


@lru_cache(maxsize=2)
def dataset(seed: int, data: str = "", model: str = "") -> Dataset:
    """The same split MILON's demo and daemons use (test_fraction 0.2)."""
    if model == SIM:
        return sim_members(seed, 2, 2)[0]
    if model or data:
        return workload(model, data, seed).data
    return load_dataset(DatasetSpec(kind="builtin", name="digits", test_fraction=0.2, seed=seed))


@lru_cache(maxsize=2)
def workload(model: str, data: str, seed: int = 0) -> Workload:
    """``milon demo --model M --dataset D``'s model and data (an image folder, a spec file)."""
    from milon_app.demo_data import load_workload

    return load_workload(model, data or "digits", seed)


@lru_cache(maxsize=2)
def sim_members(seed: int, clients: int, samples: int) -> tuple[Dataset, list[Any]]:
    """``milon sim``'s digits split and its members' data (milon_app.sim.workload)."""
    from milon_app.sim.workload import sim_data

    data, _held, members = sim_data(clients, samples, seed)
    return data, members


def partition(
    index: int,
    clients: int,
    seed: int,
    data: str = "",
    model: str = "",
    holdout: bool = False,
    samples: int = 0,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Client ``index``'s IID share of the training split; with ``holdout`` of what is left
    once the demo's owner has held its validation samples out (as ``milon demo`` splits).
    Model "sim": the ``samples`` digits ``milon sim``'s member ``index`` holds."""
    if model == SIM:
        x, y = sim_members(seed, clients, samples)[1][index]
        return x, y
    data_ = dataset(seed, data, model)
    x, y = data_.x_train, data_.y_train
    if holdout:
        from milon_app.node.validation_data import split_holdout

        (x, y), _held = split_holdout(x, y, seed)
    idx = torch.as_tensor(partition_iid(int(x.shape[0]), clients, seed)[index])
    return x[idx], y[idx]


def epochs_for(index: int, clients: int, epochs_per_round: int) -> int:
    """MILON's contract splits a round's epochs by capacity; the demo's capacities are
    100, 200, ... so client i gets (i+1)/sum share (2, 4, 6, 8 of 20 for 4 clients)."""
    caps = [100 * (i + 1) for i in range(clients)]
    return max(1, epochs_per_round * caps[index] // sum(caps))


def train_seed(server_round: int, index: int) -> int:
    """A per-round, per-client seed, derived like MILON's (a hash, first 4 bytes)."""
    tag = f"flower:{server_round}:{index}".encode()
    return int.from_bytes(hashlib.sha256(tag).digest()[:4], "big")
