"""What ``milon demo`` trains: a model and a dataset, matched before any chain exists.

The model is a built-in spec name or a JSON spec file; without one the demo
keeps its old choice (the digits MLP on digits, a small MLP sized to the data
otherwise). The dataset is a built-in name, a dataset spec JSON file (NPZ,
CSV, image folders), an ``.npz`` file or a folder of class-per-subfolder
images. A model that cannot take the data (input shape or class count) is
refused here with both shapes named, so nothing is deployed for a run that
could only fail.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from milon_app.errors import BadInputError, NotFoundError

if TYPE_CHECKING:
    from milon_app.compute.datasets import Dataset, DatasetSpec
    from milon_app.compute.model_spec import ModelSpec

TEST_FRACTION = 0.2


@dataclass(frozen=True)
class Workload:
    model_name: str
    spec: ModelSpec
    dataset_name: str
    dataset: DatasetSpec  # pinned to the data's content hash
    data: Dataset  # shaped as the model's input

    def describe(self) -> tuple[dict[str, Any], dict[str, Any]]:
        """The report's ``model`` and ``dataset`` entries."""
        model = {
            "name": self.model_name,
            "spec_hash": self.spec.spec_hash(),
            "params": self.spec.param_count(),
            "input_shape": list(self.spec.input_shape),
            "num_classes": self.spec.num_classes,
        }
        d = self.data
        dataset = {
            "name": self.dataset_name,
            "kind": self.dataset.kind,
            "train_samples": len(d.x_train),
            "test_samples": len(d.x_test),
            "input_shape": list(d.input_shape),
            "num_classes": d.num_classes,
            "content_hash": d.content_hash,
        }
        return model, dataset


def dataset_spec(text: str, seed: int) -> DatasetSpec:
    """The spec ``--dataset text`` names; cheap (no data is read)."""
    from milon_app.compute.datasets import BUILTINS, DatasetSpec

    name = text.replace("-", "_")
    if name in BUILTINS:
        return DatasetSpec(kind="builtin", name=name, test_fraction=TEST_FRACTION, seed=seed)
    path = Path(text).expanduser()
    if path.is_dir():
        return DatasetSpec(
            kind="images", path=str(path.resolve()), test_fraction=TEST_FRACTION, seed=seed
        )
    if path.is_file() and path.suffix.lower() == ".npz":
        return DatasetSpec(
            kind="npz", path=str(path.resolve()), test_fraction=TEST_FRACTION, seed=seed
        )
    if path.is_file():
        try:
            return DatasetSpec.from_json(path.read_bytes())
        except BadInputError as exc:
            raise BadInputError(f"{path}: {exc}") from None
    what = (
        f"--dataset {text!r} is neither a built-in ({', '.join(BUILTINS)}), a dataset spec "
        "JSON file, an .npz file nor a folder of class-per-subfolder images"
    )
    if len(path.parts) == 1 and not path.suffix:  # a name, not a path: an unknown built-in
        raise BadInputError(what)
    raise NotFoundError(what)


def check_fit(spec: ModelSpec, data: Dataset, model: str, dataset: str) -> None:
    """Refuse a model that cannot take the data: input shape and class count must match.

    Flat data may feed any input shape with as many values (64 digits features fill a
    1x8x8 CNN); data with its own layout (images) must match the model's exactly.
    """
    have, want = tuple(data.input_shape), tuple(spec.input_shape)
    if math.prod(have) != math.prod(want) or (len(have) > 1 and len(want) > 1 and have != want):
        hint = ", or resize with image_size / grayscale in a dataset spec" if len(have) == 3 else ""
        raise BadInputError(
            f"model {model} takes input of shape {list(want)}, but dataset {dataset} has "
            f"samples of shape {list(have)}: pick a model for this data{hint}"
        )
    if spec.num_classes != data.num_classes:
        from milon_app.compute.tasks import CLASSIFICATION

        what = "classes" if data.task == CLASSIFICATION else f"{data.task} targets"
        raise BadInputError(
            f"model {model} outputs {spec.num_classes} {what}, but dataset {dataset} has "
            f"{data.num_classes}: pick a model with {data.num_classes} outputs"
        )


def default_model(dataset: DatasetSpec, data: Dataset) -> tuple[str, ModelSpec]:
    from milon_app.compute.model_spec import digits_mlp, tabular_mlp

    if dataset.kind == "builtin" and dataset.name == "digits":
        return "digits_mlp", digits_mlp()
    return "tabular_mlp", tabular_mlp(int(math.prod(data.input_shape)), data.num_classes)


def load_workload(model: str, dataset: str, seed: int) -> Workload:
    """Resolve, load and match ``--model`` and ``--dataset``; BadInputError on a mismatch."""
    from milon_app.compute.datasets import load_dataset
    from milon_app.compute.model_choice import builtin_name, resolve_model

    dspec = dataset_spec(dataset, seed)
    data = load_dataset(dspec)
    if dspec.kind != "builtin" and not dspec.content_hash:  # files: pin what was read
        dspec = replace(dspec, content_hash=data.content_hash)
    dname = dspec.name if dspec.kind == "builtin" else (Path(dataset).name or dataset)
    if model:
        spec = resolve_model(model)
        name = builtin_name(model) or Path(model).name
    else:
        name, spec = default_model(dspec, data)
    check_fit(spec, data, name, dname)
    return Workload(name, spec, dname, dspec, data.for_model(spec))
