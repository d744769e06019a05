"""A token model exports like any other: its ONNX sample input is int64 token ids."""

from __future__ import annotations

from milon_app.compute.builtin_models import text_transformer
from milon_app.node.export import export_model


def test_token_model_exports_with_onnx(tmp_path):
    spec = text_transformer(vocab=32, seq_len=8, d_model=16, layers=1)
    written = export_model(spec, spec.build(0).state_dict(), tmp_path)
    assert [p.name for p in written] == ["model.safetensors", "model-spec.json", "model.onnx"]
    assert (tmp_path / "model.onnx").stat().st_size > 0
