"""The one weights format MILON moves around: safetensors, validated before use.

Bytes from peers are hostile until checked: the header is parsed and bounded
here before safetensors touches the buffer, so oversized, truncated or
inconsistent files are refused with a reason instead of exhausting memory.
Never pickle, never ``torch.load``.
"""

from __future__ import annotations

import hashlib
import itertools
import math
import struct
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from milon_app.compute.bounded_json import loads_bounded
from milon_app.errors import BadInputError

if TYPE_CHECKING:
    import torch

DEFAULT_MAX_BYTES = 2 << 30  # 2 GiB: far above any job we run, far below a DoS
MAX_HEADER_BYTES = 16 << 20
MAX_TENSORS = 10_000
MAX_DIMS = 8
_DTYPE_SIZES = {"F64": 8, "F32": 4, "F16": 2, "BF16": 2, "I64": 8, "I32": 4}


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def encode_state(
    state: Mapping[str, torch.Tensor], metadata: Mapping[str, str] | None = None
) -> bytes:
    """Serialize a state dict; identical tensors give identical bytes (key order ignored)."""
    from safetensors.torch import save

    tensors = {k: state[k].detach().to("cpu").contiguous() for k in sorted(state)}
    return bytes(save(tensors, metadata=dict(metadata) if metadata else None))


def parse_header(data: bytes, *, max_bytes: int = DEFAULT_MAX_BYTES) -> dict[str, Any]:
    """Check the safetensors framing and return the tensor table (without ``__metadata__``)."""
    if len(data) > max_bytes:
        raise BadInputError(f"weights blob is {len(data)} bytes, over the limit of {max_bytes}")
    if len(data) < 8:
        raise BadInputError("weights blob is truncated: no safetensors header")
    (hlen,) = struct.unpack("<Q", data[:8])
    if hlen > MAX_HEADER_BYTES or 8 + hlen > len(data):
        raise BadInputError(f"weights blob has a bad header length {hlen} (blob {len(data)} bytes)")
    # Depth-checked before parsing: json.loads on [[[[... can overflow the C stack.
    header = loads_bounded(
        data[8 : 8 + hlen], max_bytes=MAX_HEADER_BYTES, max_depth=4, what="weights header"
    )
    if not isinstance(header, dict):
        raise BadInputError("weights header is not a JSON object")
    header.pop("__metadata__", None)
    if len(header) > MAX_TENSORS:
        raise BadInputError(f"weights blob holds {len(header)} tensors, over {MAX_TENSORS}")
    body = len(data) - 8 - hlen
    spans = []
    for name, entry in header.items():
        if not isinstance(entry, dict):
            raise BadInputError(f"tensor {name!r}: header entry is not an object")
        dtype, shape, offsets = entry.get("dtype"), entry.get("shape"), entry.get("data_offsets")
        if dtype not in _DTYPE_SIZES:
            raise BadInputError(f"tensor {name!r}: dtype {dtype!r} is not allowed")
        if (
            not isinstance(shape, list)
            or len(shape) > MAX_DIMS
            or not all(isinstance(d, int) and d >= 0 for d in shape)
        ):
            raise BadInputError(f"tensor {name!r}: bad shape {shape!r}")
        if (
            not isinstance(offsets, list)
            or len(offsets) != 2
            or not all(isinstance(o, int) for o in offsets)
            or not 0 <= offsets[0] <= offsets[1] <= body
        ):
            raise BadInputError(f"tensor {name!r}: data offsets {offsets!r} outside the blob")
        if offsets[1] - offsets[0] != math.prod(shape) * _DTYPE_SIZES[dtype]:
            raise BadInputError(f"tensor {name!r}: byte length does not match shape {shape}")
        spans.append((offsets[0], offsets[1]))
    spans.sort()
    for (_, end), (start, _) in itertools.pairwise(spans):
        if start < end:
            raise BadInputError("weights blob has overlapping tensors")
    return header


def decode_state(
    data: bytes, *, max_bytes: int = DEFAULT_MAX_BYTES, require_finite: bool = True
) -> dict[str, torch.Tensor]:
    """Parse untrusted safetensors bytes into CPU tensors, refusing NaN/Inf by default."""
    from safetensors import SafetensorError
    from safetensors.torch import load

    parse_header(data, max_bytes=max_bytes)
    try:
        state = load(data)
    except SafetensorError as exc:
        raise BadInputError(f"weights blob is not valid safetensors: {exc}") from exc
    if require_finite:
        for name, tensor in state.items():
            if tensor.is_floating_point() and not bool(tensor.isfinite().all()):
                raise BadInputError(f"tensor {name!r} holds NaN or Inf values")
    return dict(state)


def check_compatible(
    reference: Mapping[str, torch.Tensor], candidate: Mapping[str, torch.Tensor]
) -> None:
    """Same keys, shapes and dtypes as ``reference``, else a BadInputError naming the first gap."""
    missing = sorted(set(reference) - set(candidate))
    extra = sorted(set(candidate) - set(reference))
    if missing:
        raise BadInputError(f"weights lack tensor {missing[0]!r}")
    if extra:
        raise BadInputError(f"weights have unexpected tensor {extra[0]!r}")
    for name, ref in reference.items():
        got = candidate[name]
        if tuple(got.shape) != tuple(ref.shape):
            raise BadInputError(
                f"tensor {name!r}: shape {tuple(got.shape)} differs from {tuple(ref.shape)}"
            )
        if got.dtype != ref.dtype:
            raise BadInputError(f"tensor {name!r}: dtype {got.dtype} differs from {ref.dtype}")
