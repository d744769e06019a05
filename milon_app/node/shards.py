"""Shared-data jobs: the owner's dataset, split into shards that contributors fetch.

In federated mode the job's dataset spec only describes the data each
member already holds; in shared mode it is a :class:`SharedData` document
listing the sha256 of every shard. Shards are safetensors (``x`` float32,
``y`` int64), content-addressed like any blob, and validated on arrival.
For token models ``x`` holds int64 ids; for regression and multi-label jobs
``y`` holds float32 ``[n, k]`` targets (``num_classes`` then counts them);
both are checked against the job's model spec (:func:`decode_samples`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from milon_app.compute.bounded_json import canonical_json, loads_bounded
from milon_app.compute.datasets import DatasetSpec
from milon_app.compute.weights import decode_state, encode_state
from milon_app.errors import BadInputError
from milon_app.store.blobs import check_digest

if TYPE_CHECKING:
    import torch

    from milon_app.compute.model_spec import ModelSpec

MAX_SHARDS = 512  # the shard list must fit a 64 KiB dataset-spec blob
MAX_DOC_BYTES = 128 * 1024


@dataclass(frozen=True)
class SharedData:
    source: DatasetSpec
    shards: tuple[str, ...]
    num_classes: int
    input_shape: tuple[int, ...]
    validation: tuple[str, ...] = ()  # owner-published held-out shards for the committee

    def to_json(self) -> str:
        doc = {
            "version": 1,
            "mode": "shared",
            "source": self.source.to_dict(),
            "shards": list(self.shards),
            "num_classes": self.num_classes,
            "input_shape": list(self.input_shape),
        }
        if self.validation:
            doc["validation"] = list(self.validation)
        return canonical_json(doc)

    def shard_for(self, position: int) -> str:
        """The shard a member trains on: its position in the round, modulo the shard count."""
        return self.shards[position % len(self.shards)]


@dataclass(frozen=True)
class FederatedData:
    """Federated mode with owner-published validation shards: members train on their own
    data, the committee judges updates on held-out data no contributor controls."""

    source: DatasetSpec
    validation: tuple[str, ...]

    def to_json(self) -> str:
        return canonical_json(
            {
                "version": 1,
                "mode": "federated",
                "source": self.source.to_dict(),
                "validation": list(self.validation),
            }
        )


@dataclass(frozen=True)
class DatasetDoc:
    """A job's dataset document, parsed: what members train on and the validation shards."""

    dataset: DatasetSpec | SharedData
    validation: tuple[str, ...]


def parse_dataset_doc(data: bytes) -> DatasetDoc:
    """A job's dataset document: a plain dataset spec, a federated spec with validation
    shards, or a shared-data shard list (with or without validation shards)."""
    doc = loads_bounded(data, max_bytes=MAX_DOC_BYTES, max_depth=5, what="dataset document")
    mode = doc.get("mode") if isinstance(doc, dict) else None
    if mode == "federated":
        unknown = sorted(set(doc) - {"version", "mode", "source", "validation"})
        if unknown or doc.get("version") != 1:
            raise BadInputError(f"federated dataset document: bad version or key {unknown[:1]}")
        return DatasetDoc(DatasetSpec.from_dict(doc.get("source")), _validation(doc))
    if mode != "shared":
        return DatasetDoc(DatasetSpec.from_dict(doc), ())
    keys = {"version", "mode", "source", "shards", "num_classes", "input_shape", "validation"}
    unknown = sorted(set(doc) - keys)
    if unknown or doc.get("version") != 1:
        raise BadInputError(f"shared dataset document: bad version or key {unknown[:1]}")
    shards = doc.get("shards")
    if not isinstance(shards, list) or not 1 <= len(shards) <= MAX_SHARDS:
        raise BadInputError(f"shared dataset document: 1..{MAX_SHARDS} shard digests expected")
    classes, shape = doc.get("num_classes"), doc.get("input_shape")
    if not isinstance(classes, int) or not 1 <= classes <= 100_000:  # 1: one target
        raise BadInputError(f"shared dataset document: bad num_classes {classes!r}")
    if not isinstance(shape, list) or not all(isinstance(d, int) and d > 0 for d in shape):
        raise BadInputError(f"shared dataset document: bad input_shape {shape!r}")
    validation = _validation(doc)
    shared = SharedData(
        DatasetSpec.from_dict(doc.get("source")),
        tuple(check_digest(d) for d in shards),
        classes,
        tuple(shape),
        validation,
    )
    return DatasetDoc(shared, validation)


def _validation(doc: dict[str, object]) -> tuple[str, ...]:
    digests = doc.get("validation", [])
    if not isinstance(digests, list) or len(digests) > MAX_SHARDS:
        raise BadInputError(f"dataset document: at most {MAX_SHARDS} validation digests")
    return tuple(check_digest(d) for d in digests)


def encode_shard(x: torch.Tensor, y: torch.Tensor) -> bytes:
    """float32 features or int64 token ids; int64 class labels or float32 targets."""
    import torch

    x = x.to(torch.float32 if x.is_floating_point() else torch.int64)
    y = y.to(torch.float32 if y.is_floating_point() else torch.int64)
    return encode_state({"x": x.contiguous(), "y": y.contiguous()})


def decode_shard(
    data: bytes, shared: SharedData, spec: ModelSpec | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """A shard from a peer, refused unless its shapes and labels fit the job."""
    return decode_samples(data, shared.input_shape, shared.num_classes, spec)


def decode_samples(
    data: bytes, input_shape: tuple[int, ...], num_classes: int, spec: ModelSpec | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Samples (a training or validation shard) refused unless shapes and labels fit.

    With the job's ``spec``, token ids and regression or multi-label targets are
    accepted and checked by the trainer's own rules; without it, only float32
    features and int64 class labels are."""
    import math

    import torch

    state = decode_state(data, max_bytes=len(data))
    if set(state) != {"x", "y"}:
        raise BadInputError(f"shard holds tensors {sorted(state)}, expected x and y")
    x, y = state["x"], state["y"]
    if spec is not None and (spec.vocab_size or spec.task != "classification"):
        return _decode_for(spec, x, y)
    if x.dtype != torch.float32 or y.dtype != torch.int64 or y.dim() != 1:
        raise BadInputError("shard: x must be float32 and y a vector of int64 labels")
    if x.shape[0] != y.shape[0] or x.shape[0] == 0:
        raise BadInputError(f"shard: {x.shape[0]} samples but {y.shape[0]} labels")
    if math.prod(x.shape[1:]) != math.prod(input_shape):
        raise BadInputError(
            f"shard samples have shape {list(x.shape[1:])}, job expects {list(input_shape)}"
        )
    if int(y.min()) < 0 or int(y.max()) >= num_classes:
        raise BadInputError(f"shard labels outside [0, {num_classes})")
    return x.reshape(-1, *input_shape), y


def _decode_for(
    spec: ModelSpec, x: torch.Tensor, y: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    import torch

    from milon_app.compute.trainer import prepare_data

    want_x = torch.int64 if spec.vocab_size else torch.float32
    want_y = torch.int64 if spec.task == "classification" else torch.float32
    if x.dtype != want_x or y.dtype != want_y or x.dim() == 0 or y.dim() == 0:
        raise BadInputError(f"shard: x must be {want_x} and y {want_y} for this job's model")
    if x.shape[0] != y.shape[0]:
        raise BadInputError(f"shard: {x.shape[0]} samples but {y.shape[0]} labels")
    return prepare_data(spec, (x, y), "shard")


def make_shards(
    x: torch.Tensor, y: torch.Tensor, count: int, seed: int
) -> list[tuple[torch.Tensor, torch.Tensor]]:
    import torch

    from milon_app.compute.partition import partition_iid

    if not 1 <= count <= MAX_SHARDS:
        raise BadInputError(f"shard count {count} not in 1..{MAX_SHARDS}")
    parts = partition_iid(int(x.shape[0]), count, seed)
    return [(x[torch.as_tensor(p)], y[torch.as_tensor(p)]) for p in parts]
