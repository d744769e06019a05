"""Built-in model specs: the digits reference models, CIFAR ResNets and a text transformer.

Each is plain spec JSON built in code, so it hashes like the same spec sent as a
file. The digits specs are pinned: their canonical JSON (and so every job's spec
hash) must never change. Shared by the CLI, the GUI, the demo and the benchmark.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from milon_app.compute.model_spec import ModelSpec


def _spec(obj: dict[str, Any]) -> ModelSpec:
    from milon_app.compute.model_spec import ModelSpec  # model_spec re-exports this module

    return ModelSpec.from_dict(obj)


def digits_mlp(batch_size: int = 32) -> ModelSpec:
    """64 -> 128 -> 64 -> 10, ~17k parameters: the reference model and capacity benchmark."""
    return _spec(
        {
            "version": 1,
            "input_shape": [64],
            "layers": [
                {"type": "Linear", "in_features": 64, "out_features": 128},
                {"type": "ReLU"},
                {"type": "Linear", "in_features": 128, "out_features": 64},
                {"type": "ReLU"},
                {"type": "Linear", "in_features": 64, "out_features": 10},
            ],
            "loss": "cross_entropy",
            "optimizer": {"type": "sgd", "lr": 0.05, "momentum": 0.9},
            "batch_size": batch_size,
        }
    )


def digits_cnn(batch_size: int = 32) -> ModelSpec:
    """A small CNN on 1x8x8 digit images, ~38k parameters."""
    return _spec(
        {
            "version": 1,
            "input_shape": [1, 8, 8],
            "layers": [
                {
                    "type": "Conv2d",
                    "in_channels": 1,
                    "out_channels": 16,
                    "kernel_size": 3,
                    "padding": 1,
                },
                {"type": "ReLU"},
                {
                    "type": "Conv2d",
                    "in_channels": 16,
                    "out_channels": 32,
                    "kernel_size": 3,
                    "padding": 1,
                },
                {"type": "ReLU"},
                {"type": "MaxPool2d", "kernel_size": 2},
                {"type": "Flatten"},
                {"type": "Linear", "in_features": 512, "out_features": 64},
                {"type": "ReLU"},
                {"type": "Linear", "in_features": 64, "out_features": 10},
            ],
            "loss": "cross_entropy",
            "optimizer": {"type": "sgd", "lr": 0.05, "momentum": 0.9},
            "batch_size": batch_size,
        }
    )


def _conv(c_in: int, c_out: int, kernel: int, stride: int = 1) -> dict[str, Any]:
    return {
        "type": "Conv2d",
        "in_channels": c_in,
        "out_channels": c_out,
        "kernel_size": kernel,
        "stride": stride,
        "padding": kernel // 2,
        "bias": False,  # a BatchNorm follows
    }


def _bn(channels: int) -> dict[str, Any]:
    return {"type": "BatchNorm2d", "num_features": channels}


def _basic_block(c_in: int, c_out: int, stride: int) -> list[dict[str, Any]]:
    """conv3x3-BN-ReLU-conv3x3-BN plus a shortcut (1x1 conv + BN where the shape changes),
    then ReLU."""
    body = [_conv(c_in, c_out, 3, stride), _bn(c_out), {"type": "ReLU"}]
    block: dict[str, Any] = {
        "type": "Residual",
        "body": [*body, _conv(c_out, c_out, 3), _bn(c_out)],
    }
    if stride != 1 or c_in != c_out:
        block["shortcut"] = [_conv(c_in, c_out, 1, stride), _bn(c_out)]
    return [block, {"type": "ReLU"}]


def cifar_resnet(
    widths: tuple[int, ...], blocks_per_stage: int, batch_size: int = 128, num_classes: int = 10
) -> ModelSpec:
    """A CIFAR-style ResNet on 3x32x32: a 3x3 stem (no max-pool), stages of basic blocks
    (the first block of each later stage halves the size), global average pool, Linear."""
    layers = [_conv(3, widths[0], 3), _bn(widths[0]), {"type": "ReLU"}]
    channels = widths[0]
    for stage, width in enumerate(widths):
        for b in range(blocks_per_stage):
            layers += _basic_block(channels, width, 2 if stage and not b else 1)
            channels = width
    layers += [
        {"type": "AdaptiveAvgPool2d", "output_size": 1},
        {"type": "Flatten"},
        {"type": "Linear", "in_features": channels, "out_features": num_classes},
    ]
    return _spec(
        {
            "version": 1,
            "input_shape": [3, 32, 32],
            "layers": layers,
            "loss": "cross_entropy",
            "optimizer": {"type": "sgd", "lr": 0.1, "momentum": 0.9, "weight_decay": 5e-4},
            "batch_size": batch_size,
        }
    )


def resnet8_cifar(batch_size: int = 128) -> ModelSpec:
    """He et al.'s CIFAR ResNet with n=1: 16-32-64 channels, one block a stage, ~78k params."""
    return cifar_resnet((16, 32, 64), 1, batch_size)


def resnet18_cifar(batch_size: int = 128) -> ModelSpec:
    """ResNet-18 adapted to CIFAR: 64-128-256-512 channels, two blocks a stage, ~11.2M params."""
    return cifar_resnet((64, 128, 256, 512), 2, batch_size)


def text_transformer(
    batch_size: int = 32,
    num_classes: int = 4,
    vocab: int = 4096,
    seq_len: int = 128,
    d_model: int = 128,
    layers: int = 2,
) -> ModelSpec:
    """A small text classifier on token ids: Embedding + learned positions, pre-norm
    transformer encoder blocks, LayerNorm, mean pooling, Linear; ~806k params by default."""
    block = {
        "type": "TransformerEncoderLayer",
        "d_model": d_model,
        "nhead": 4,
        "dim_feedforward": 2 * d_model,
        "dropout": 0.1,
        "norm_first": True,
    }
    return _spec(
        {
            "version": 1,
            "input_shape": [seq_len],
            "layers": [
                {"type": "Embedding", "num_embeddings": vocab, "embedding_dim": d_model},
                {"type": "PositionalEmbedding", "max_len": seq_len, "embedding_dim": d_model},
                *[block] * layers,
                {"type": "LayerNorm", "normalized_shape": d_model},
                {"type": "SequencePool", "mode": "mean"},
                {"type": "Linear", "in_features": d_model, "out_features": num_classes},
            ],
            "loss": "cross_entropy",
            "optimizer": {"type": "adamw", "lr": 1e-3},
            "batch_size": batch_size,
        }
    )


BUILTIN_MODELS: dict[str, Callable[[], ModelSpec]] = {
    "digits_mlp": digits_mlp,
    "digits_cnn": digits_cnn,
    "resnet8-cifar": resnet8_cifar,
    "resnet18-cifar": resnet18_cifar,
    "text-transformer": text_transformer,
}


def resolve_model_spec(name_or_path: str) -> ModelSpec:
    """A built-in name (a BUILTIN_MODELS key) or the path of a JSON spec."""
    from milon_app.compute.model_spec import ModelSpec

    if name_or_path in BUILTIN_MODELS:
        return BUILTIN_MODELS[name_or_path]()
    return ModelSpec.from_file(name_or_path)


def tabular_mlp(features: int, classes: int) -> ModelSpec:
    """A small MLP for tabular data (wine, breast cancer, CSV files) of any width."""
    return _spec(
        {
            "version": 1,
            "input_shape": [features],
            "layers": [
                {"type": "Linear", "in_features": features, "out_features": 32},
                {"type": "ReLU"},
                {"type": "Linear", "in_features": 32, "out_features": classes},
            ],
            "loss": "cross_entropy",
            "optimizer": {"type": "sgd", "lr": 0.05, "momentum": 0.9},
            "batch_size": 32,
        }
    )
