"""One way to name a model on any command line: a built-in spec or a JSON spec file.

Built-in names are looked up as written and with ``-``/``_`` swapped, so
``digits-mlp`` and ``digits_mlp`` name the same spec, and names that use
hyphens themselves (``resnet8-cifar``) work whichever way they are typed.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from milon_app.errors import NotFoundError

if TYPE_CHECKING:
    from milon_app.compute.model_spec import ModelSpec


def builtin_name(text: str) -> str | None:
    """The BUILTIN_MODELS key ``text`` means, or None when it names no built-in."""
    from milon_app.compute.model_spec import BUILTIN_MODELS

    for name in (text, text.replace("-", "_"), text.replace("_", "-")):
        if name in BUILTIN_MODELS:
            return name
    return None


def resolve_model(text: str) -> ModelSpec:
    """A built-in spec by name, else the spec in the JSON file ``text``."""
    from milon_app.compute.model_spec import BUILTIN_MODELS, ModelSpec

    name = builtin_name(text)
    if name is not None:
        return BUILTIN_MODELS[name]()
    path = Path(text).expanduser()
    if not path.exists():
        raise NotFoundError(
            f"model {text!r} is not a built-in ({', '.join(sorted(BUILTIN_MODELS))}) "
            f"and no model spec file {path} exists"
        )
    return ModelSpec.from_file(path)
