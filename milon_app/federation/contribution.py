"""Leave-one-out contribution: does the round's average get better or worse with this update?

An honest update trained on one class looks terrible alone on balanced
validation data, yet the average of the round is better with it than
without it. So before calling an update harmful, a validator also
compares the loss of the mean of the round's (clipped) deltas with and
without it. The mean's sum is kept once in float64 (one float64 copy of
the model); each leave-one-out model is built per tensor when the
evaluator reads it, so memory does not grow with the number of updates.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import TYPE_CHECKING

from milon_app.federation.evaluator import EvaluateFn, GroupLosses

if TYPE_CHECKING:
    import torch


class _MeanState(Mapping[str, "torch.Tensor"]):
    """``base + (sum - scale_i * delta_i) / count`` per tensor (``drop=None``: the full mean)."""

    def __init__(self, loo: LeaveOneOut, drop: int | None) -> None:
        self._loo, self._drop = loo, drop

    def __getitem__(self, name: str) -> torch.Tensor:
        import torch

        loo = self._loo
        ref = loo.base[name]
        if not ref.is_floating_point():
            return ref
        origin = ref.detach().to("cpu", dtype=torch.float64)
        total = loo.sums[name]
        count = len(loo.states)
        if self._drop is not None:
            own = loo.states[self._drop][name].detach().to("cpu", dtype=torch.float64)
            total = total - (own - origin) * loo.scales[self._drop]
            count -= 1
        return (origin + total / float(count)).to(ref.dtype)

    def __iter__(self) -> Iterator[str]:
        return iter(self._loo.base)

    def __len__(self) -> int:
        return len(self._loo.base)


class LeaveOneOut:
    """The uniform mean of clipped deltas, with and without each update, ready to evaluate."""

    def __init__(
        self,
        base: Mapping[str, torch.Tensor],
        states: Sequence[Mapping[str, torch.Tensor]],
        scales: Sequence[float],
    ) -> None:
        import torch

        self.base, self.states, self.scales = base, list(states), list(scales)
        self.sums: dict[str, torch.Tensor] = {}
        for name in sorted(base):
            ref = base[name]
            if not ref.is_floating_point():
                continue
            origin = ref.detach().to("cpu", dtype=torch.float64)
            acc = torch.zeros_like(origin)
            for state, scale in zip(self.states, self.scales, strict=True):
                acc.add_((state[name].detach().to("cpu", dtype=torch.float64) - origin) * scale)
            self.sums[name] = acc

    def contributions(self, evaluate: EvaluateFn) -> tuple[GroupLosses, list[GroupLosses]]:
        """(losses of the full mean, losses of the mean without each update, in input order)."""
        full = evaluate(_MeanState(self, None))
        if len(self.states) < 2:
            return full, [evaluate(self.base) for _ in self.states]
        return full, [evaluate(_MeanState(self, i)) for i in range(len(self.states))]
