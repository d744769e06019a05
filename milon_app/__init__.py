"""MILON: a desktop node for federated, blockchain-governed model training."""

from __future__ import annotations

__version__ = "0.1.0"
