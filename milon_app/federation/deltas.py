"""Bit-reproducible tensor arithmetic shared by the aggregation rules and validation.

Validators on different machines must agree on a model hash, so nothing here
relies on a torch reduction (``sum``, ``norm``, ``matmul``): their summation
order depends on thread count and CPU vector width. Only element-wise float64
operations are used, each correctly rounded by IEEE 754 wherever it runs, and
reductions are fixed pairwise trees over fixed-size chunks.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import torch

# Elements per chunk: bounds the float64 working set (n_clients x CHUNK x 8 bytes)
# and fixes the reduction tree, so it is part of the output format: never derive
# it from the machine.
CHUNK = 1 << 18


def chunks(numel: int, size: int = CHUNK) -> Iterator[slice]:
    """Fixed slices over a flattened tensor of ``numel`` elements."""
    for start in range(0, numel, size):
        yield slice(start, min(start + size, numel))


def tree_sum_rows(x: torch.Tensor) -> torch.Tensor:
    """Sum each row of a 2-D float64 tensor by a fixed pairwise tree of element-wise adds."""
    import torch

    while x.shape[1] > 1:
        width = x.shape[1]
        half = width // 2
        summed = x[:, :half] + x[:, half : 2 * half]
        if width % 2:
            summed = torch.cat((summed, x[:, 2 * half :]), dim=1)
        x = summed
    if x.shape[1] == 0:
        return x.new_zeros(x.shape[0])
    return x[:, 0].clone()


def squared_distance(a: Mapping[str, torch.Tensor], b: Mapping[str, torch.Tensor]) -> float:
    """Squared L2 distance between two states (floating tensors only), reproducible bit for bit."""
    total = 0.0
    for name in sorted(a):
        ta, tb = a[name], b[name]
        if not ta.is_floating_point():
            continue
        fa, fb = ta.detach().reshape(-1), tb.detach().reshape(-1)
        for part in chunks(fa.numel()):
            diff = fa[part].to("cpu", dtype=_f64()) - fb[part].to("cpu", dtype=_f64())
            total += float(tree_sum_rows((diff * diff).unsqueeze(0))[0])
    return total


def update_norm(
    global_state: Mapping[str, torch.Tensor], state: Mapping[str, torch.Tensor]
) -> float:
    """L2 norm of ``state - global_state`` over the floating tensors."""
    return math.sqrt(squared_distance(state, global_state))


def state_delta(
    global_state: Mapping[str, torch.Tensor], state: Mapping[str, torch.Tensor]
) -> dict[str, torch.Tensor]:
    """``state - global_state`` in float64 (floating tensors only), for inspection and attacks."""
    return {
        name: state[name].detach().to("cpu", dtype=_f64())
        - global_state[name].detach().to("cpu", dtype=_f64())
        for name in sorted(global_state)
        if global_state[name].is_floating_point()
    }


def apply_delta(
    global_state: Mapping[str, torch.Tensor],
    delta: Mapping[str, torch.Tensor],
    scale: float = 1.0,
) -> dict[str, torch.Tensor]:
    """``global_state + scale * delta`` cast back to the global dtypes; absent keys are copied."""
    out: dict[str, torch.Tensor] = {}
    for name in sorted(global_state):
        ref = global_state[name].detach().to("cpu")
        if name in delta and ref.is_floating_point():
            moved = ref.to(_f64()) + delta[name].to("cpu", dtype=_f64()) * scale
            out[name] = moved.to(ref.dtype)
        else:
            out[name] = ref.clone()
    return out


def _f64() -> torch.dtype:
    import torch

    return torch.float64
