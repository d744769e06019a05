"""Declarative model specs: a job's model as bounded JSON, checked before anything is built.

A spec lists layers from the allowlist in :mod:`milon_app.compute.layers`,
the loss, the optimizer and the batch size. Everything that could exhaust
memory (layer count, parameter count, activation sizes, JSON size and depth)
is computed from the arguments and refused before a tensor exists. The
canonical JSON (defaults filled in, sorted keys) is what ``spec_hash`` covers,
so two spellings of one model hash the same.
"""

from __future__ import annotations

import contextlib
import hashlib
import math
import threading
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from milon_app.compute import layers as L
from milon_app.compute import tasks as T
from milon_app.compute.blocks import iter_layers
from milon_app.compute.bounded_json import canonical_json, loads_bounded
from milon_app.compute.privacy_spec import NO_PRIVACY, PrivacySpec
from milon_app.errors import BadInputError, NotFoundError

if TYPE_CHECKING:
    import torch
    from torch import nn

SPEC_VERSION = 1
MAX_SPEC_BYTES = 64 * 1024
MAX_JSON_DEPTH = 8
MAX_LAYERS = 64  # in the top-level list
MAX_TOTAL_LAYERS = 256  # every layer, those inside blocks included
MAX_PARAMS = 50_000_000
MAX_INPUT_DIM = 1 << 16
MAX_SAMPLE_ELEMENTS = 1 << 24  # largest activation of one sample
MAX_BATCH_ELEMENTS = 1 << 28  # largest activation of one batch (1 GiB in fp32)
MAX_BATCH_SIZE = 65536
LOSSES = tuple(T.LOSSES)  # the task each one means: milon_app.compute.tasks
# Module init and dropout draw from torch's global RNG. Every MILON use of it (seeding
# included) holds this lock, so a build or a dropout run in one thread cannot reseed or
# rewind the generator under another and break seeded determinism.
RNG_LOCK = threading.RLock()
_SQUASHING = ("Sigmoid", "Softmax", "LogSoftmax")
_TOP_KEYS = {
    "version", "input_shape", "layers", "loss", "optimizer", "batch_size", "precision", "privacy"
}  # fmt: skip
# Training arithmetic a job allows. Reduced precision applies on CUDA only (the trainer
# documents why); "fp32" is the default and is left out of the canonical JSON, so specs
# written before the key existed keep their hash.
PRECISIONS = ("fp32", "bf16", "fp16")

_LR = L.Arg("float", 1e-12, 1e6)
_WD = L.Arg("float", 0.0, 1.0, 0.0)
OPTIMIZERS: dict[str, dict[str, L.Arg]] = {
    "sgd": {
        "lr": _LR,
        "momentum": L.Arg("float", 0.0, 0.999999, 0.0),
        "weight_decay": _WD,
        "nesterov": L.Arg("bool", default=False),
    },
    "adam": {
        "lr": _LR,
        "beta1": L.Arg("float", 0.0, 0.999999, 0.9),
        "beta2": L.Arg("float", 0.0, 0.999999, 0.999),
        "eps": L.Arg("float", 1e-12, 1.0, 1e-8),
        "weight_decay": _WD,
    },
    "adamw": {
        "lr": _LR,
        "beta1": L.Arg("float", 0.0, 0.999999, 0.9),
        "beta2": L.Arg("float", 0.0, 0.999999, 0.999),
        "eps": L.Arg("float", 1e-12, 1.0, 1e-8),
        "weight_decay": L.Arg("float", 0.0, 1.0, 0.01),
    },
}


@dataclass(frozen=True)
class LayerSpec:
    type: str
    args: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class OptimizerSpec:
    type: str
    params: dict[str, Any]


@dataclass(frozen=True)
class ModelSpec:
    """A validated model description; build instances with :meth:`from_dict` / :meth:`from_json`."""

    input_shape: tuple[int, ...]
    layers: tuple[LayerSpec, ...]
    optimizer: OptimizerSpec
    loss: str = "cross_entropy"
    batch_size: int = 32
    version: int = SPEC_VERSION
    precision: str = "fp32"
    privacy: PrivacySpec = NO_PRIVACY  # the job's differential privacy (compute.privacy_spec)

    # --- parsing --------------------------------------------------------------------------

    @classmethod
    def from_json(cls, data: bytes | str) -> ModelSpec:
        obj = loads_bounded(
            data, max_bytes=MAX_SPEC_BYTES, max_depth=MAX_JSON_DEPTH, what="model spec"
        )
        return cls.from_dict(obj)

    @classmethod
    def from_file(cls, path: str | Path) -> ModelSpec:
        p = Path(path)
        try:
            if p.stat().st_size > MAX_SPEC_BYTES:
                raise BadInputError(f"model spec {p} is over {MAX_SPEC_BYTES} bytes")
            data = p.read_bytes()
        except FileNotFoundError:
            raise NotFoundError(f"model spec file {p} does not exist") from None
        try:
            return cls.from_json(data)
        except BadInputError as exc:
            raise BadInputError(f"{p}: {exc}") from None

    @classmethod
    def from_dict(cls, obj: Any) -> ModelSpec:
        if not isinstance(obj, dict):
            raise BadInputError("model spec must be a JSON object")
        unknown = sorted(set(obj) - _TOP_KEYS)
        if unknown:
            raise BadInputError(f"model spec has unknown key {unknown[0]!r}")
        for key in ("input_shape", "layers", "optimizer"):
            if key not in obj:
                raise BadInputError(f"model spec lacks {key!r}")
        version = obj.get("version", SPEC_VERSION)
        if version != SPEC_VERSION or isinstance(version, bool):
            raise BadInputError(f"model spec version {version!r} is not supported (want 1)")
        spec = cls(
            input_shape=_input_shape(obj["input_shape"]),
            layers=_layers(obj["layers"]),
            optimizer=_optimizer(obj["optimizer"]),
            loss=_loss(obj.get("loss", "cross_entropy")),
            batch_size=_batch_size(obj.get("batch_size", 32)),
            precision=_precision(obj.get("precision", "fp32")),
            privacy=PrivacySpec.from_dict(obj.get("privacy", {"mode": "none"})),
        )
        spec.check()
        return spec

    # --- derived facts ----------------------------------------------------------------------

    def _walk(self) -> tuple[tuple[int, ...], int]:
        shape, params = self.input_shape, 0
        largest = math.prod(shape)
        for i, layer in enumerate(self.layers):
            inferred = L.infer(i, layer.type, layer.args, shape)
            shape = inferred.shape
            params += inferred.params
            if params > MAX_PARAMS:
                raise BadInputError(
                    f"model has over {MAX_PARAMS} parameters by layer {i} ({layer.type})"
                )
            size = math.prod(shape)
            if size > MAX_SAMPLE_ELEMENTS:
                raise BadInputError(
                    f"layer {i} ({layer.type}): output of {size} values per sample is over "
                    f"{MAX_SAMPLE_ELEMENTS}"
                )
            if inferred.peak > MAX_SAMPLE_ELEMENTS:
                raise BadInputError(
                    f"layer {i} ({layer.type}): an intermediate of {inferred.peak} values per "
                    f"sample (attention or a block's inner layers) is over {MAX_SAMPLE_ELEMENTS}"
                )
            largest = max(largest, size, inferred.peak)
        if largest * self.batch_size > MAX_BATCH_ELEMENTS:
            raise BadInputError(
                f"batch_size {self.batch_size} makes an activation of {largest * self.batch_size}"
                f" values, over {MAX_BATCH_ELEMENTS}"
            )
        return shape, params

    def _all_layers(self) -> Iterator[tuple[str, str, dict[str, Any]]]:
        for i, layer in enumerate(self.layers):
            yield from iter_layers(str(i), layer.type, layer.args)

    def check(self) -> None:
        """Shapes fit, bounds hold and the output fits the loss's task; raises BadInputError."""
        for place, type_name, _ in self._all_layers():
            if type_name == "Embedding" and place != "0":
                raise BadInputError(
                    f"layer {place} (Embedding): only the first layer may be an Embedding "
                    "(it reads the integer token ids of the input)"
                )
        shape, _ = self._walk()
        T.check_output(self.loss, shape)
        if self.loss == "nll" and self.layers[-1].type != "LogSoftmax":
            raise BadInputError("loss 'nll' needs LogSoftmax as the last layer")
        if self.loss == "bce_with_logits" and self.layers[-1].type in _SQUASHING:
            raise BadInputError(
                f"loss 'bce_with_logits' takes raw scores; drop the final {self.layers[-1].type}"
            )

    def output_shape(self) -> tuple[int, ...]:
        return self._walk()[0]

    @property
    def num_classes(self) -> int:
        """Classes, regression targets or labels: the length of the output vector."""
        return self.output_shape()[0]

    @property
    def task(self) -> str:
        """classification, regression or multilabel, from the loss."""
        return T.task_of(self.loss)

    @property
    def vocab_size(self) -> int:
        """The first layer's Embedding rows (inputs are token ids below it); 0: no Embedding."""
        first = self.layers[0]
        return int(first.args["num_embeddings"]) if first.type == "Embedding" else 0

    def param_count(self) -> int:
        return self._walk()[1]

    # --- serialisation ------------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {
            "version": self.version,
            "input_shape": list(self.input_shape),
            "layers": [{"type": layer.type, **layer.args} for layer in self.layers],
            "loss": self.loss,
            "optimizer": {"type": self.optimizer.type, **self.optimizer.params},
            "batch_size": self.batch_size,
        }
        if self.precision != "fp32":  # absent means fp32: older specs keep their hash
            d["precision"] = self.precision
        if self.privacy.enabled:  # absent means none: older specs keep their hash
            d["privacy"] = self.privacy.to_dict()
        return d

    def to_json(self) -> str:
        return canonical_json(self.to_dict())

    def spec_hash(self) -> str:
        return hashlib.sha256(self.to_json().encode("utf-8")).hexdigest()

    def with_batch_size(self, batch_size: int) -> ModelSpec:
        d = self.to_dict()
        d["batch_size"] = batch_size
        return ModelSpec.from_dict(d)

    def with_privacy(self, privacy: PrivacySpec) -> ModelSpec:
        """This spec with another privacy setting (a new spec hash unless mode is none)."""
        d = self.to_dict()
        d.pop("privacy", None)
        if privacy.enabled:
            d["privacy"] = privacy.to_dict()
        return ModelSpec.from_dict(d)

    # --- torch objects ------------------------------------------------------------------------

    def build(self, seed: int = 0) -> nn.Sequential:
        """The model on the CPU, initialised from ``seed`` without touching the global RNG."""
        import torch
        from torch import nn

        with RNG_LOCK, torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            modules = [L.build_layer(layer.type, layer.args) for layer in self.layers]
        return nn.Sequential(*modules)

    @property
    def is_stochastic(self) -> bool:
        """True when training draws random numbers (dropout) from the global RNG."""
        return any(
            (type_name == "Dropout" and args["p"] > 0) or args.get("dropout", 0) > 0
            for _, type_name, args in self._all_layers()
        )

    @contextlib.contextmanager
    def seeded_rng(self, seed: int, device: torch.device) -> Iterator[None]:
        """Seed the global RNG for a training run that needs it (dropout), under
        RNG_LOCK, restoring it afterwards; a deterministic model leaves it untouched."""
        if not self.is_stochastic:
            yield
            return
        import torch

        devices = [device.index or 0] if device.type == "cuda" else []
        with RNG_LOCK, torch.random.fork_rng(devices=devices):
            torch.manual_seed(seed)
            yield

    def make_optimizer(self, params: Iterable[torch.nn.Parameter]) -> torch.optim.Optimizer:
        import torch

        p = self.optimizer.params
        if self.optimizer.type == "sgd":
            return torch.optim.SGD(
                params,
                lr=p["lr"],
                momentum=p["momentum"],
                weight_decay=p["weight_decay"],
                nesterov=p["nesterov"],
            )
        cls = torch.optim.Adam if self.optimizer.type == "adam" else torch.optim.AdamW
        return cls(
            params,
            lr=p["lr"],
            betas=(p["beta1"], p["beta2"]),
            eps=p["eps"],
            weight_decay=p["weight_decay"],
        )

    def make_loss(self) -> nn.Module:
        return T.make_loss(self.loss)


# --- field checks ---------------------------------------------------------------------------


def _input_shape(value: Any) -> tuple[int, ...]:
    if not isinstance(value, list) or not 1 <= len(value) <= 3:
        raise BadInputError("input_shape must be a list of 1 to 3 positive integers")
    for d in value:
        if isinstance(d, bool) or not isinstance(d, int) or not 1 <= d <= MAX_INPUT_DIM:
            raise BadInputError(
                f"input_shape entry {d!r} is not an integer in [1, {MAX_INPUT_DIM}]"
            )
    if math.prod(value) > MAX_SAMPLE_ELEMENTS:
        raise BadInputError(f"input_shape {value} holds over {MAX_SAMPLE_ELEMENTS} values")
    return tuple(value)


def _layers(value: Any) -> tuple[LayerSpec, ...]:
    if not isinstance(value, list) or not value:
        raise BadInputError("layers must be a non-empty list")
    if len(value) > MAX_LAYERS:
        raise BadInputError(f"model spec has {len(value)} layers, over the limit of {MAX_LAYERS}")
    out = []
    total = 0
    for i, raw in enumerate(value):
        if not isinstance(raw, dict) or not isinstance(raw.get("type"), str):
            raise BadInputError(f"layer {i}: must be an object with a string 'type'")
        args = {k: v for k, v in raw.items() if k != "type"}
        out.append(LayerSpec(raw["type"], L.normalize_args(i, raw["type"], args)))
        total += L.layer_count(raw["type"], out[-1].args)
        if total > MAX_TOTAL_LAYERS:
            raise BadInputError(
                f"model spec has over {MAX_TOTAL_LAYERS} layers by layer {i}, counting those "
                "inside blocks"
            )
    return tuple(out)


def _optimizer(value: Any) -> OptimizerSpec:
    if not isinstance(value, dict) or value.get("type") not in OPTIMIZERS:
        got = value.get("type") if isinstance(value, dict) else value
        raise BadInputError(f"optimizer type {got!r} is not one of {', '.join(OPTIMIZERS)}")
    schema = OPTIMIZERS[value["type"]]
    unknown = sorted(set(value) - set(schema) - {"type"})
    if unknown:
        raise BadInputError(f"optimizer ({value['type']}): unknown argument {unknown[0]!r}")
    params: dict[str, Any] = {}
    for name, arg in schema.items():
        if name not in value:
            if arg.default is L._REQUIRED:
                raise BadInputError(f"optimizer ({value['type']}): missing {name!r}")
            params[name] = arg.default
            continue
        try:
            params[name] = L._check_value(arg, name, value[name])
        except BadInputError as exc:
            raise BadInputError(f"optimizer ({value['type']}): {exc}") from None
    if params.get("nesterov") and params["momentum"] == 0:
        raise BadInputError("optimizer (sgd): nesterov needs a momentum above 0")
    return OptimizerSpec(value["type"], params)


def _loss(value: Any) -> str:
    if value not in LOSSES:
        raise BadInputError(f"loss {value!r} is not one of {', '.join(LOSSES)}")
    return str(value)


def _batch_size(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_BATCH_SIZE:
        raise BadInputError(f"batch_size {value!r} is not an integer in [1, {MAX_BATCH_SIZE}]")
    return value


def _precision(value: Any) -> str:
    if value not in PRECISIONS:
        raise BadInputError(f"precision {value!r} is not one of {', '.join(PRECISIONS)}")
    return str(value)


def spec_summary(spec: ModelSpec) -> Mapping[str, Any]:
    return {
        "spec_hash": spec.spec_hash(),
        "params": spec.param_count(),
        "input_shape": list(spec.input_shape),
        "num_classes": spec.num_classes,
        "batch_size": spec.batch_size,
    }


# Built-in specs live in milon_app.compute.builtin_models; re-exported for older imports.
from milon_app.compute.builtin_models import BUILTIN_MODELS as BUILTIN_MODELS  # noqa: E402
from milon_app.compute.builtin_models import digits_cnn as digits_cnn  # noqa: E402
from milon_app.compute.builtin_models import digits_mlp as digits_mlp  # noqa: E402
from milon_app.compute.builtin_models import resolve_model_spec as resolve_model_spec  # noqa: E402
from milon_app.compute.builtin_models import tabular_mlp as tabular_mlp  # noqa: E402
