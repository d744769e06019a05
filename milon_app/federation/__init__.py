"""Federated learning rules: deterministic aggregation and validation of client updates."""

from __future__ import annotations

from milon_app.federation.aggregation import (
    FEDAVG,
    KRUM,
    MEDIAN,
    MULTI_KRUM,
    RULES,
    TRIMMED_MEAN,
    FedAvg,
    Krum,
    Median,
    MultiKrum,
    TrimmedMean,
    krum_scores,
    make_aggregator,
    pairwise_squared_distances,
)
from milon_app.federation.deltas import apply_delta, state_delta, update_norm
from milon_app.federation.types import AggregationResult, Aggregator, ClientUpdate
from milon_app.federation.validation import (
    RoundOutcome,
    Submission,
    ValidationOutcome,
    validate_and_aggregate,
    validate_update,
)

__all__ = [
    "FEDAVG",
    "KRUM",
    "MEDIAN",
    "MULTI_KRUM",
    "RULES",
    "TRIMMED_MEAN",
    "AggregationResult",
    "Aggregator",
    "ClientUpdate",
    "FedAvg",
    "Krum",
    "Median",
    "MultiKrum",
    "RoundOutcome",
    "Submission",
    "TrimmedMean",
    "ValidationOutcome",
    "apply_delta",
    "krum_scores",
    "make_aggregator",
    "pairwise_squared_distances",
    "state_delta",
    "update_norm",
    "validate_and_aggregate",
    "validate_update",
]
