"""Sequence layers for the allowlist: token embeddings, positions, attention, pooling.

A text model reads integer token ids ``[seq]`` per sample: ``Embedding`` turns
them into ``[seq, d]`` (it must be the model's first layer), ``PositionalEmbedding``
adds a learned position table, ``TransformerEncoderLayer`` / ``SelfAttention``
mix the sequence, and ``SequencePool`` reduces ``[seq, d]`` to ``[d]``. Attention
holds a ``heads x seq x seq`` matrix per sample; shape rules report it as the
layer's ``peak`` so the spec's activation bounds refuse a quadratic blow-up
before anything is built.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from milon_app.compute.layer_args import Arg, Inferred, LayerKind, Shape, ShapeError, need_dims

if TYPE_CHECKING:
    from torch import nn

MAX_VOCAB = 1 << 20  # token ids, i.e. Embedding rows
MAX_EMBED_DIM = 8192  # embedding width, d_model
MAX_SEQ_LEN = 8192  # positions of a PositionalEmbedding
MAX_HEADS = 64
MAX_FFN = 32768  # a transformer layer's feed-forward width


def _embedding(shape: Shape, a: dict[str, Any]) -> Inferred:
    return Inferred((*shape, a["embedding_dim"]), a["num_embeddings"] * a["embedding_dim"])


def _positional(shape: Shape, a: dict[str, Any]) -> Inferred:
    need_dims(shape, 2, "sequence, features")
    seq, d = shape
    if d != a["embedding_dim"]:
        raise ShapeError(f"embedding_dim is {a['embedding_dim']} but the input has {d} features")
    if seq > a["max_len"]:
        raise ShapeError(f"the sequence of {seq} positions is longer than max_len {a['max_len']}")
    return Inferred(shape, a["max_len"] * d)


def _attention_input(shape: Shape, d: int, heads: int, name: str) -> int:
    """The sequence length of an attention layer's input, after its checks."""
    need_dims(shape, 2, "sequence, features")
    if shape[1] != d:
        raise ShapeError(f"{name} is {d} but the input has {shape[1]} features")
    if d % heads:
        raise ShapeError(f"{name} {d} is not divisible by the {heads} heads")
    return shape[0]


def _encoder(shape: Shape, a: dict[str, Any]) -> Inferred:
    if not a["batch_first"]:
        raise ShapeError("batch_first must be true: batches hold one sample per row")
    d, heads, ff = a["d_model"], a["nhead"], a["dim_feedforward"]
    seq = _attention_input(shape, d, heads, "d_model")
    # attention in/out projections 4d^2+4d, feed-forward 2*d*ff+ff+d, two LayerNorms 4d
    params = 4 * d * d + 4 * d + 2 * d * ff + ff + d + 4 * d
    return Inferred(shape, params, peak=max(heads * seq * seq, seq * ff, 3 * seq * d))


def _self_attention(shape: Shape, a: dict[str, Any]) -> Inferred:
    d, heads = a["embed_dim"], a["num_heads"]
    seq = _attention_input(shape, d, heads, "embed_dim")
    return Inferred(shape, 4 * d * d + 4 * d, peak=max(heads * seq * seq, 3 * seq * d))


def _sequence_pool(shape: Shape, a: dict[str, Any]) -> Inferred:
    need_dims(shape, 2, "sequence, features")
    return Inferred((shape[1],))


def _build_positional(a: dict[str, Any]) -> nn.Module:
    from milon_app.compute.torch_modules import PositionalEmbedding

    return PositionalEmbedding(a["max_len"], a["embedding_dim"])


def _build_attention(a: dict[str, Any]) -> nn.Module:
    from milon_app.compute.torch_modules import SelfAttention

    return SelfAttention(a["embed_dim"], a["num_heads"], a["dropout"])


def _build_pool(a: dict[str, Any]) -> nn.Module:
    from milon_app.compute.torch_modules import SequencePool

    return SequencePool(a["mode"])


_DIM = Arg("int", 1, MAX_EMBED_DIM)
_HEADS = Arg("int", 1, MAX_HEADS)
_DROPOUT = Arg("float", 0.0, 1.0, 0.0)

SEQ_LAYERS: dict[str, LayerKind] = {
    "Embedding": LayerKind(
        {"num_embeddings": Arg("int", 1, MAX_VOCAB), "embedding_dim": _DIM},
        _embedding,
        "Embedding",
    ),
    "PositionalEmbedding": LayerKind(
        {"max_len": Arg("int", 1, MAX_SEQ_LEN), "embedding_dim": _DIM},
        _positional,
        "PositionalEmbedding",
        build=_build_positional,
    ),
    "TransformerEncoderLayer": LayerKind(
        {
            "d_model": _DIM,
            "nhead": _HEADS,
            "dim_feedforward": Arg("int", 1, MAX_FFN, 2048),
            "dropout": Arg("float", 0.0, 1.0, 0.1),
            "activation": Arg("choice", default="relu", choices=("relu", "gelu")),
            "batch_first": Arg("bool", default=True),
            "norm_first": Arg("bool", default=False),
        },
        _encoder,
        "TransformerEncoderLayer",
    ),
    "SelfAttention": LayerKind(
        {"embed_dim": _DIM, "num_heads": _HEADS, "dropout": _DROPOUT},
        _self_attention,
        "SelfAttention",
        build=_build_attention,
    ),
    "SequencePool": LayerKind(
        {"mode": Arg("choice", default="mean", choices=("mean", "first", "max"))},
        _sequence_pool,
        "SequencePool",
        build=_build_pool,
    ),
}
