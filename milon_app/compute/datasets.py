"""Dataset specs and loading: built-in scikit-learn sets and user files, split by seed.

A ``DatasetSpec`` names where the data comes from, how it is split, and the
content hash of the data files, so a job can pin the exact data and a node
can refuse files that changed. ``spec_hash`` covers the canonical JSON.

NPZ data may also hold token ids (``tokens``: x int ``[n, seq]``, kept int64,
for models that start with an Embedding) and regression or multi-label
targets (``task``). Both keys are left out of the JSON at their defaults, so
older specs keep their hashes.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from milon_app.compute import data_files as F
from milon_app.compute.bounded_json import canonical_json, loads_bounded
from milon_app.compute.partition import stable_permutation
from milon_app.compute.tasks import CLASSIFICATION, TASKS
from milon_app.errors import BadInputError

if TYPE_CHECKING:
    import torch

    from milon_app.compute.model_spec import ModelSpec

KINDS = ("builtin", "npz", "csv", "images")
BUILTINS = ("digits", "wine", "breast_cancer")
MAX_DATASET_SPEC_BYTES = 16 * 1024


@dataclass(frozen=True)
class DatasetSpec:
    kind: str = "builtin"
    name: str = "digits"
    path: str = ""
    label_column: str = ""
    test_fraction: float = 0.2
    seed: int = 0
    content_hash: str = ""  # sha256 of the data files; empty: not checked
    num_classes: int = 0  # 0: one more than the largest label
    standardize: bool = False  # per-feature, with train-split stats (always on for wine/cancer)
    image_size: tuple[int, int] | None = None
    grayscale: bool = False
    version: int = 1
    task: str = CLASSIFICATION  # or regression / multilabel (NPZ only)
    tokens: bool = False  # x holds integer token ids (NPZ only)

    def __post_init__(self) -> None:
        if isinstance(self.image_size, list):
            object.__setattr__(self, "image_size", tuple(self.image_size))
        tf = self.test_fraction
        if isinstance(tf, int) and not isinstance(tf, bool):
            if abs(tf) > 1:  # also keeps float() from overflowing on a huge JSON integer
                raise BadInputError(f"test_fraction {str(tf)[:20]} is not in [0, 0.9]")
            object.__setattr__(self, "test_fraction", float(tf))
        _check(self)

    @classmethod
    def from_dict(cls, obj: Any) -> DatasetSpec:
        if not isinstance(obj, dict):
            raise BadInputError("dataset spec must be a JSON object")
        names = set(cls.__dataclass_fields__)
        unknown = sorted(set(obj) - names)
        if unknown:
            raise BadInputError(f"dataset spec has unknown key {unknown[0]!r}")
        return cls(**obj)

    @classmethod
    def from_json(cls, data: bytes | str) -> DatasetSpec:
        obj = loads_bounded(
            data, max_bytes=MAX_DATASET_SPEC_BYTES, max_depth=4, what="dataset spec"
        )
        return cls.from_dict(obj)

    def to_dict(self) -> dict[str, Any]:
        d = {name: getattr(self, name) for name in self.__dataclass_fields__}
        d["image_size"] = list(self.image_size) if self.image_size else None
        for key, default in (("task", CLASSIFICATION), ("tokens", False)):
            if d[key] == default:
                del d[key]  # older specs keep their canonical JSON and hash
        return d

    def to_json(self) -> str:
        return canonical_json(self.to_dict())

    def spec_hash(self) -> str:
        return hashlib.sha256(self.to_json().encode("utf-8")).hexdigest()

    def with_content_hash(self) -> DatasetSpec:
        """This spec pinned to the current content of its data."""
        return replace(self, content_hash=content_hash(self))


def _check(s: DatasetSpec) -> None:
    def typed(name: str, tp: type, value: Any) -> None:
        if isinstance(value, bool) != (tp is bool) or not isinstance(value, tp):
            raise BadInputError(f"dataset spec {name!r} must be {tp.__name__}, got {value!r}")

    for name, tp in (
        ("kind", str),
        ("name", str),
        ("path", str),
        ("label_column", str),
        ("content_hash", str),
        ("seed", int),
        ("num_classes", int),
        ("standardize", bool),
        ("grayscale", bool),
        ("version", int),
        ("test_fraction", float),
        ("task", str),
        ("tokens", bool),
    ):
        typed(name, tp, getattr(s, name))
    if s.task not in TASKS:
        raise BadInputError(f"dataset task {s.task!r} is not one of {', '.join(TASKS)}")
    if (s.tokens or s.task != CLASSIFICATION) and s.kind != "npz":
        raise BadInputError(
            "token ids and regression or multi-label targets load from NPZ files only "
            f"(kind 'npz'), not kind {s.kind!r}"
        )
    if s.tokens and s.standardize:
        raise BadInputError("token ids cannot be standardized")
    if s.version != 1:
        raise BadInputError(f"dataset spec version {s.version} is not supported (want 1)")
    if s.kind not in KINDS:
        raise BadInputError(f"dataset kind {s.kind!r} is not one of {', '.join(KINDS)}")
    if s.kind == "builtin" and s.name not in BUILTINS:
        raise BadInputError(f"built-in dataset {s.name!r} is not one of {', '.join(BUILTINS)}")
    if s.kind != "builtin" and not s.path:
        raise BadInputError(f"dataset kind {s.kind!r} needs a path")
    if s.kind == "csv" and not s.label_column:
        raise BadInputError("CSV datasets need label_column")
    if not (math.isfinite(s.test_fraction) and 0.0 <= s.test_fraction <= 0.9):
        raise BadInputError(f"test_fraction {s.test_fraction} is not in [0, 0.9]")
    if not 0 <= s.num_classes <= 1 << 16:
        raise BadInputError(f"num_classes {s.num_classes} is not in [0, 65536]")
    if s.content_hash and (len(s.content_hash) != 64 or not _is_hex(s.content_hash)):
        raise BadInputError("content_hash must be 64 hex digits (sha256) or empty")
    if s.image_size is not None and (
        not isinstance(s.image_size, tuple)
        or len(s.image_size) != 2
        or not all(
            isinstance(v, int) and not isinstance(v, bool) and 1 <= v <= 4096 for v in s.image_size
        )
    ):
        raise BadInputError(f"image_size {s.image_size!r} must be [height, width] in [1, 4096]")


def _is_hex(text: str) -> bool:
    return all(c in "0123456789abcdef" for c in text)


@dataclass
class Dataset:
    x_train: torch.Tensor
    y_train: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor
    num_classes: int
    input_shape: tuple[int, ...]
    content_hash: str = ""
    class_names: list[str] = field(default_factory=list)
    task: str = CLASSIFICATION  # regression, multilabel: num_classes counts targets, labels

    def for_model(self, spec: ModelSpec) -> Dataset:
        """The same data shaped as the model's input (e.g. 64 features -> 1x8x8)."""
        if math.prod(spec.input_shape) != math.prod(self.input_shape):
            raise BadInputError(
                f"dataset samples have shape {list(self.input_shape)}, the model expects "
                f"{list(spec.input_shape)}"
            )
        if spec.task != self.task:
            raise BadInputError(
                f"the dataset is for {self.task}, the model's loss {spec.loss!r} for {spec.task}"
            )
        if self.task == CLASSIFICATION and spec.num_classes < self.num_classes:
            raise BadInputError(
                f"dataset has {self.num_classes} classes, the model outputs {spec.num_classes}"
            )
        if self.task != CLASSIFICATION and spec.num_classes != self.num_classes:
            raise BadInputError(
                f"dataset has {self.num_classes} {self.task} targets per sample, the model "
                f"outputs {spec.num_classes}"
            )
        self._check_tokens(spec.vocab_size)
        shape = tuple(spec.input_shape)
        return replace(
            self,
            x_train=self.x_train.reshape(-1, *shape),
            x_test=self.x_test.reshape(-1, *shape),
            input_shape=shape,
        )

    def _check_tokens(self, vocab: int) -> None:
        """Token ids go with an Embedding first layer, and fit its rows."""
        tokens = not self.x_train.is_floating_point()
        if vocab and not tokens:
            raise BadInputError(
                "the model starts with an Embedding and reads token ids; this dataset holds "
                "features (token data needs 'tokens': true in its dataset spec)"
            )
        if tokens and not vocab:
            raise BadInputError("the dataset holds token ids; the model must start with Embedding")
        if tokens:
            hi = max(int(t.max()) for t in (self.x_train, self.x_test) if t.numel())
            if hi >= vocab:
                raise BadInputError(
                    f"the dataset has token id {hi}, the model's Embedding has {vocab} entries"
                )


def _builtin_arrays(name: str) -> tuple[npt.NDArray[Any], npt.NDArray[Any]]:
    from sklearn import datasets as skd

    loader = {
        "digits": skd.load_digits,
        "wine": skd.load_wine,
        "breast_cancer": skd.load_breast_cancer,
    }[name]
    bunch = loader()
    return np.asarray(bunch.data), np.asarray(bunch.target)


def _arrays_sha256(x: npt.NDArray[Any], y: npt.NDArray[Any]) -> str:
    h = hashlib.sha256()
    for a in (x, y):
        a = np.ascontiguousarray(a)
        h.update(f"{a.dtype.str}{list(a.shape)}".encode())
        h.update(a.tobytes())
    return h.hexdigest()


def content_hash(spec: DatasetSpec) -> str:
    if spec.kind == "builtin":
        return _arrays_sha256(*_builtin_arrays(spec.name))
    path = Path(spec.path)
    if spec.kind == "images":
        F._existing(path, 0, folder=True)
        return F.folder_sha256(path)
    F._existing(path, F.MAX_FILE_BYTES)
    return F.file_sha256(path)


def _read(spec: DatasetSpec) -> tuple[npt.NDArray[Any], npt.NDArray[Any], str, list[str]]:
    if spec.kind == "builtin":
        raw_x, raw_y = _builtin_arrays(spec.name)
        digest = _arrays_sha256(raw_x, raw_y)
        if spec.name == "digits":
            raw_x = raw_x / 16.0
        x, y = F.validate_arrays(raw_x, raw_y, f"built-in {spec.name}", spec.num_classes)
        return x, y, digest, []
    digest = content_hash(spec)
    if spec.content_hash and digest != spec.content_hash:
        # checked before parsing: a changed file is refused without being read as data
        raise BadInputError(
            f"{spec.path}: content hash {digest[:16]}... differs from the spec's "
            f"{spec.content_hash[:16]}... (the data changed)"
        )
    path = Path(spec.path)
    if spec.kind == "npz":
        x, y = F.load_npz(path, spec.num_classes, task=spec.task, tokens=spec.tokens)
        return x, y, digest, []
    if spec.kind == "csv":
        x, y = F.load_csv(path, spec.label_column, spec.num_classes)
        return x, y, digest, []
    x, y, classes = F.load_image_folder(
        path, image_size=spec.image_size, grayscale=spec.grayscale, num_classes=spec.num_classes
    )
    return x, y, digest, classes


def load_dataset(spec: DatasetSpec) -> Dataset:
    """Load, validate and split ``spec`` deterministically (same seed, same split anywhere)."""
    import torch

    x, y, digest, classes = _read(spec)
    if spec.content_hash and digest != spec.content_hash:
        raise BadInputError(
            f"dataset {spec.name if spec.kind == 'builtin' else spec.path}: content hash "
            f"{digest[:16]}... differs from the spec's {spec.content_hash[:16]}..."
        )
    n = len(x)
    n_test = round(n * spec.test_fraction)
    if spec.test_fraction > 0:
        n_test = min(max(n_test, 1), n - 1)
    if n - n_test < 1:
        raise BadInputError(f"dataset has {n} samples: too few to split")
    perm = stable_permutation(n, spec.seed)
    test_idx, train_idx = perm[:n_test], perm[n_test:]
    x_train, x_test = x[train_idx], x[test_idx]
    if spec.standardize or (spec.kind == "builtin" and spec.name != "digits"):
        flat = x_train.reshape(len(x_train), -1)
        mean = flat.mean(axis=0)
        std = flat.std(axis=0)
        std[std == 0] = 1.0
        x_train = ((flat - mean) / std).reshape(x_train.shape).astype(np.float32)
        x_test = ((x_test.reshape(len(x_test), -1) - mean) / std).reshape(x_test.shape)
        x_test = x_test.astype(np.float32)
    if spec.task == CLASSIFICATION:
        num_classes = spec.num_classes or max(int(y.max()) + 1, len(classes))
    else:
        num_classes = int(y.shape[1]) if y.ndim == 2 else 1
        if spec.num_classes and spec.num_classes != num_classes:
            raise BadInputError(
                f"dataset has {num_classes} {spec.task} targets per sample, the spec's "
                f"num_classes says {spec.num_classes}"
            )
    x_dtype = np.int64 if spec.tokens else np.float32
    return Dataset(
        x_train=torch.from_numpy(np.ascontiguousarray(x_train, dtype=x_dtype)),
        y_train=torch.from_numpy(np.ascontiguousarray(y[train_idx])),
        x_test=torch.from_numpy(np.ascontiguousarray(x_test, dtype=x_dtype)),
        y_test=torch.from_numpy(np.ascontiguousarray(y[test_idx])),
        num_classes=num_classes,
        input_shape=tuple(int(d) for d in x.shape[1:]),
        content_hash=digest,
        class_names=classes,
        task=spec.task,
    )


def load_builtin(name: str = "digits", *, test_fraction: float = 0.2, seed: int = 0) -> Dataset:
    return load_dataset(
        DatasetSpec(kind="builtin", name=name, test_fraction=test_fraction, seed=seed)
    )
