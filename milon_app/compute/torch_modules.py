"""The few torch modules the allowlist needs that ``torch.nn`` lacks in a usable form.

Imported only when a model is built, so checking a spec never imports torch.
Each is a thin composition of ``torch.nn`` parts whose parameters the shape
rules in :mod:`milon_app.compute.seq_layers` and :mod:`milon_app.compute.blocks`
count exactly.
"""

from __future__ import annotations

import torch
from torch import nn


class Residual(nn.Module):
    """``body(x) + shortcut(x)``; an empty shortcut passes ``x`` through."""

    def __init__(self, body: list[nn.Module], shortcut: list[nn.Module]) -> None:
        super().__init__()
        self.body = nn.Sequential(*body)
        self.shortcut = nn.Sequential(*shortcut)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self.body(x) + self.shortcut(x)
        return out


class PositionalEmbedding(nn.Module):
    """Adds a learned ``[max_len, d]`` table to the first positions of ``[batch, seq, d]``."""

    def __init__(self, max_len: int, embedding_dim: int) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.empty(max_len, embedding_dim))
        nn.init.normal_(self.weight, std=0.02)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.weight[: x.shape[-2]]


class SelfAttention(nn.Module):
    """Multi-head self-attention over ``[batch, seq, d]``, returning only the new values."""

    def __init__(self, embed_dim: int, num_heads: int, dropout: float) -> None:
        super().__init__()
        self.attn = nn.MultiheadAttention(embed_dim, num_heads, dropout=dropout, batch_first=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self.attn(x, x, x, need_weights=False)[0]
        return out


class SequencePool(nn.Module):
    """``[batch, seq, d] -> [batch, d]``: the mean, the first position, or the maximum."""

    def __init__(self, mode: str) -> None:
        super().__init__()
        self.mode = mode

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.mode == "first":
            return x[:, 0]
        if self.mode == "max":
            return x.amax(dim=1)
        return x.mean(dim=1)
