"""Pure computations that the simulation's committee members repeat alike, done once.

K committee members of a cohort judge the same revealed updates against the same base
model, and in the simulation they all judge on the same data (the owner's published
validation split). Two steps of their work are pure functions of inputs that are then
identical, so one process holding all K may compute each once and hand every member the
same result it would have computed itself:

- the loss of a model state on validation data (:func:`make_evaluator`'s ``evaluate``:
  fixed reduction trees, one torch thread; the key is the spec, the validation data's bytes,
  the device and the state's bytes);
- the aggregate of an accepted set (:func:`aggregate_accepted`: deterministic by design, so
  that honest members confirm the same hash; the key is the rule, the base's and every
  update's bytes with its author and sample count, and the clipping parameters).

- the tensors an update's bytes decode to (:func:`decode_state`; the key is the bytes'
  sha256 and the decoding options; each member gets its own dict of the shared tensors,
  which no judging step writes to);
- the salt-free part of a round's delta statistics (:func:`delta_stats`: the norms and the
  Gram matrix of the deltas; the key is the base's and every update's bytes); each member's
  sketches, keyed by its own secret salt, are computed by the member.

Everything else stays each member's own: it fetches and pins every update itself, runs
:func:`judge_round` with its own judge history and its own secret sketch salt (the replay
and duplicate checks differ per member), decides its own verdict and confirms the hash it
got. On a real network members hold different data and do all of this themselves; this
sharing exists only inside :mod:`milon_app.sim`.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from milon_app.compute.weights import decode_state
from milon_app.federation.clipping import aggregate_accepted
from milon_app.federation.evaluator import EvaluateFn, GroupLosses, make_evaluator
from milon_app.federation.fingerprints import DeltaStats, delta_stats

if TYPE_CHECKING:
    import torch

    from milon_app.compute.model_spec import ModelSpec
    from milon_app.federation.types import AggregationResult, ClientUpdate


def state_digest(state: Mapping[str, torch.Tensor]) -> str:
    """sha256 over every tensor's name, dtype, shape and bytes, in name order."""
    import torch

    h = hashlib.sha256()
    for name in sorted(state):
        t = state[name].detach().cpu().contiguous()
        h.update(f"{name}|{t.dtype}|{tuple(t.shape)}|".encode())
        h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes())
    return h.hexdigest()


class SharedJudging:
    """Memoised loss measurements and aggregates for every committee member in the process
    (set as :attr:`Committee.evaluators` and :attr:`Committee.aggregator`)."""

    def __init__(self) -> None:
        self._evaluators: dict[tuple[str, str, str], EvaluateFn] = {}
        self._losses: dict[tuple[tuple[str, str, str], str], GroupLosses] = {}
        self._aggregates: dict[tuple[Any, ...], AggregationResult] = {}
        self._decoded: dict[tuple[str, int, bool], dict[str, torch.Tensor]] = {}
        # id(a decoded tensor) -> (its blob's sha256, its name, the blob's tensor count)
        self._source: dict[int, tuple[str, str, int]] = {}
        self._grams: dict[tuple[str, tuple[str, ...]], list[list[float]]] = {}
        self.computed = 0  # evaluations and aggregates actually computed
        self.reused = 0  # answered from an identical earlier computation

    def evaluators(
        self,
        spec: ModelSpec,
        val_data: tuple[torch.Tensor, torch.Tensor],
        *,
        device: str | torch.device = "cpu",
    ) -> EvaluateFn:
        """Like :func:`make_evaluator`; equal states give the stored losses."""
        key = (spec.to_json(), state_digest({"x": val_data[0], "y": val_data[1]}), str(device))
        real = self._evaluators.get(key)
        if real is None:
            real = self._evaluators[key] = make_evaluator(spec, val_data, device=device)

        def evaluate(state: Mapping[str, torch.Tensor]) -> GroupLosses:
            tensors = {name: state[name] for name in state}  # a lazy state computed once
            k = (key, self._digest(tensors))
            if k in self._losses:
                self.reused += 1
            else:
                self.computed += 1
                self._losses[k] = real(tensors)
            return self._losses[k]

        return evaluate

    def aggregate(
        self,
        rule_id: int,
        base_state: Mapping[str, torch.Tensor],
        updates: Sequence[ClientUpdate],
        **options: Any,
    ) -> AggregationResult:
        """Like :func:`aggregate_accepted`; equal inputs give the stored result."""
        key = (
            rule_id,
            state_digest(base_state),
            tuple(sorted((u.client_id, self._digest(u.state), u.num_samples) for u in updates)),
            tuple(sorted(options.items())),
        )
        if key in self._aggregates:
            self.reused += 1
        else:
            self.computed += 1
            self._aggregates[key] = aggregate_accepted(rule_id, base_state, updates, **options)
        return self._aggregates[key]

    def decode(
        self, data: bytes, *, max_bytes: int, require_finite: bool = True
    ) -> dict[str, torch.Tensor]:
        """Like :func:`decode_state`; equal bytes give the stored tensors in a new dict."""
        digest = hashlib.sha256(data).hexdigest()
        key = (digest, max_bytes, require_finite)
        state = self._decoded.get(key)
        if state is None:
            self.computed += 1
            state = self._decoded[key] = decode_state(
                data, max_bytes=max_bytes, require_finite=require_finite
            )
            for name, t in state.items():  # alive while stored: the id stays this tensor's
                self._source[id(t)] = (digest, name, len(state))
        else:
            self.reused += 1
        return dict(state)

    def stats(
        self,
        base: Mapping[str, torch.Tensor],
        states: Sequence[Mapping[str, torch.Tensor]],
        *,
        salt: int = 0,
        sketch_dim: int,
    ) -> DeltaStats:
        """Like :func:`delta_stats`: the caller's own norms and salted sketches, the Gram
        matrix (no salt in it) computed once for the same base and updates."""
        own = delta_stats(base, states, salt=salt, sketch_dim=sketch_dim, gram=False)
        key = (state_digest(base), tuple(self._digest(s) for s in states))
        if key in self._grams:
            self.reused += 1
        else:
            self.computed += 1
            self._grams[key] = delta_stats(base, states, sketch_dim=sketch_dim).gram
        return DeltaStats(norms=own.norms, gram=self._grams[key], sketches=own.sketches)

    def _digest(self, state: Mapping[str, torch.Tensor]) -> str:
        """The blob sha256 of a state :meth:`decode` gave (every tensor of that blob under
        its own name, nothing else), else its tensors' digest."""
        blobs = set()
        for name, t in state.items():
            src = self._source.get(id(t))
            if src is None or src[1] != name or src[2] != len(state):
                return state_digest(state)
            blobs.add(src[0])
        return f"blob:{blobs.pop()}" if len(blobs) == 1 else state_digest(state)

    def clear(self) -> None:
        """Forget stored results (a round is over: its states will not come again)."""
        self._losses.clear()
        self._aggregates.clear()
        self._decoded.clear()
        self._source.clear()
        self._grams.clear()
