"""The aggregation interface: what a rule takes (client updates) and what it returns.

Flower-style strategy objects keep the node's round code independent of the
rule a job chose on chain; ``rule_id`` is the contract's ``aggregationRule``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    import torch


# Command-line names of the contract's aggregationRule ids (0..4).
RULE_NAMES: dict[str, int] = {
    "fedavg": 0,
    "median": 1,
    "trimmed-mean": 2,
    "krum": 3,
    "multi-krum": 4,
}


@dataclass(frozen=True)
class ClientUpdate:
    """One contributor's full model state after local training.

    ``client_id`` is the contributor's address; use one canonical spelling
    (checksummed) everywhere, since it orders the inputs and breaks ties.
    ``num_samples`` weighs the update in FedAvg and Multi-Krum.
    """

    client_id: str
    state: Mapping[str, torch.Tensor]
    num_samples: int


@dataclass(frozen=True)
class AggregationResult:
    """The new global model, its canonical bytes and hash, and who was counted."""

    state: dict[str, torch.Tensor]
    encoded: bytes
    model_hash: str
    accepted: list[str]
    rejected: dict[str, str] = field(default_factory=dict)


class Aggregator(Protocol):
    """A deterministic aggregation rule: same inputs, in any order, give the same bytes."""

    @property
    def rule_id(self) -> int: ...

    @property
    def name(self) -> str: ...

    def aggregate(
        self, global_state: Mapping[str, torch.Tensor], updates: Sequence[ClientUpdate]
    ) -> AggregationResult: ...
