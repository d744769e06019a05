"""A job's initial weights: a fresh seeded init, or released weights to fine-tune from.

Given weights become the job's initial model blob, byte for byte, so its
sha256 (what goes on chain as the initial model hash, and round 1's base) is
the file's own. They are checked here, before anything is written on chain
or escrowed: safetensors framing, finite values, and exactly the tensor
names, shapes and dtypes the job's spec builds.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from milon_app.compute.weights import DEFAULT_MAX_BYTES, check_compatible, decode_state
from milon_app.errors import BadInputError, NotFoundError

if TYPE_CHECKING:
    from milon_app.compute.model_spec import ModelSpec


def read_weights_file(path: str | Path, *, max_bytes: int = DEFAULT_MAX_BYTES) -> bytes:
    """The bytes of a weights file, refusing a missing, non-file or oversized one."""
    p = Path(path).expanduser()
    if not p.exists():
        raise NotFoundError(f"weights file {p} does not exist")
    if not p.is_file():
        raise BadInputError(f"weights {p} is not a file (want a .safetensors file)")
    size = p.stat().st_size
    if size > max_bytes:
        raise BadInputError(f"weights file {p} is {size} bytes, over the limit of {max_bytes}")
    return p.read_bytes()


def check_initial(
    spec: ModelSpec, blob: bytes, *, source: str, max_bytes: int = DEFAULT_MAX_BYTES
) -> None:
    """Raise BadInputError unless ``blob`` is safetensors that fits ``spec`` exactly."""
    try:
        state = decode_state(blob, max_bytes=max_bytes)
    except BadInputError as exc:
        raise BadInputError(f"{source}: not usable safetensors weights: {exc}") from None
    try:
        check_compatible(spec.build(0).state_dict(), state)
    except BadInputError as exc:
        raise BadInputError(
            f"{source} does not fit the job's model spec {spec.spec_hash()[:12]}: {exc}"
        ) from None


def initial_blob(
    spec: ModelSpec,
    seed: int,
    given: bytes | None = None,
    *,
    source: str = "initial weights",
    max_bytes: int = DEFAULT_MAX_BYTES,
) -> bytes:
    """``given`` once checked against ``spec``; without it, ``spec`` built from ``seed``."""
    from milon_app.compute.weights import encode_state

    if given is None:
        return encode_state(spec.build(seed).state_dict())
    check_initial(spec, given, source=source, max_bytes=max_bytes)
    return given
