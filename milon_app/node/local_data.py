"""Local data that follows the job: a node's slice of a built-in dataset.

A simulated federation (the desktop app's "this machine" network, tests)
gives each node part ``index`` of ``parts`` of whatever built-in dataset a
job names, so jobs on digits, wine or breast cancer all find data. Real
contributors use :class:`milon_app.node.core.TensorData` with their own files.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from milon_app.compute.datasets import DatasetSpec
from milon_app.errors import BadInputError

if TYPE_CHECKING:
    import torch

    from milon_app.node.jobs import JobContext


@dataclass
class BuiltinPartition:
    index: int
    parts: int
    seed: int = 0
    partition: str = "iid"  # how the parts are cut: iid, dirichlet:ALPHA or shards:K
    _cache: dict[str, Any] = field(default_factory=dict, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def __post_init__(self) -> None:
        if not 0 <= self.index < self.parts:
            raise BadInputError(f"partition {self.index}/{self.parts}: need 0 <= index < parts")
        from milon_app.compute.partition import parse_partition

        parse_partition(self.partition)  # a BadInputError quoting the text

    def train_data(self, ctx: JobContext) -> tuple[torch.Tensor, torch.Tensor]:
        spec = ctx.dataset
        if not isinstance(spec, DatasetSpec) or spec.kind != "builtin":
            raise BadInputError(
                f"job {ctx.job_id} names a dataset this node does not hold "
                "(simulated nodes hold slices of the built-in datasets only)"
            )
        key = f"{spec.to_json()}|{ctx.spec.to_json()}"
        with self._lock:
            if key not in self._cache:
                self._cache[key] = self._load(spec, ctx)
            x, y = self._cache[key]
        return x, y

    def _load(self, spec: DatasetSpec, ctx: JobContext) -> tuple[torch.Tensor, torch.Tensor]:
        import torch

        from milon_app.compute.datasets import load_dataset
        from milon_app.compute.partition import parse_partition, split_clients

        data = load_dataset(spec).for_model(ctx.spec)
        labels = data.y_train.numpy()
        parts = split_clients(parse_partition(self.partition), labels, self.parts, self.seed)
        t = torch.as_tensor(parts[self.index])
        return data.x_train[t], data.y_train[t]


def eval_split(spec: DatasetSpec, model: Any) -> tuple[torch.Tensor, torch.Tensor]:
    """The held-out split a job owner scores each round's global model on."""
    from milon_app.compute.datasets import load_dataset

    data = load_dataset(spec).for_model(model)
    return data.x_test, data.y_test
