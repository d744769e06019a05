"""Export a trained model for deployment: safetensors weights, the spec, and ONNX."""

from __future__ import annotations

import json
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from milon_app.compute.model_spec import ModelSpec
from milon_app.compute.trainer import load_state
from milon_app.compute.weights import encode_state, sha256_hex
from milon_app.util.atomic import atomic_write_bytes, atomic_write_text

if TYPE_CHECKING:
    import torch


def export_model(
    spec: ModelSpec, state: Mapping[str, torch.Tensor], dest: Path, *, onnx: bool = True
) -> list[Path]:
    """Write ``model.safetensors``, ``model-spec.json`` (+ ``model.onnx``) into ``dest``."""
    import torch

    dest.mkdir(parents=True, exist_ok=True)
    weights = encode_state(state)
    written = [dest / "model.safetensors", dest / "model-spec.json"]
    atomic_write_bytes(written[0], weights)
    meta = {"spec": json.loads(spec.to_json()), "sha256": sha256_hex(weights)}
    atomic_write_text(written[1], json.dumps(meta, indent=2, sort_keys=True) + "\n")
    if onnx:
        model = spec.build(0)
        load_state(model, dict(state))
        model.eval()
        sample = torch.zeros(1, *spec.input_shape, dtype=torch.long if spec.vocab_size else None)
        tmp = dest / ".model.onnx.tmp"
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            torch.onnx.export(
                model,
                (sample,),
                str(tmp),
                dynamo=False,
                input_names=["input"],
                output_names=["logits"],
                dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}},
            )
        tmp.replace(dest / "model.onnx")
        written.append(dest / "model.onnx")
    return written
