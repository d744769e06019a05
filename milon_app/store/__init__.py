"""Local storage of content-addressed blobs (specs, weights, shards) with pins and GC."""

from __future__ import annotations

from milon_app.store.blobs import (
    DATASET_SPEC,
    DEFAULT_LIMITS,
    MODEL_SPEC,
    SHARD,
    WEIGHTS,
    BlobReader,
    BlobStore,
    CorruptBlobError,
    check_digest,
)
from milon_app.store.pins import StoreWriteError

__all__ = [
    "DATASET_SPEC",
    "DEFAULT_LIMITS",
    "MODEL_SPEC",
    "SHARD",
    "WEIGHTS",
    "BlobReader",
    "BlobStore",
    "CorruptBlobError",
    "StoreWriteError",
    "check_digest",
]
