"""A trained model leaves MILON as safetensors + spec + ONNX that computes the same outputs."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from milon_app.compute.model_spec import digits_cnn, digits_mlp
from milon_app.compute.weights import decode_state, sha256_hex
from milon_app.node.export import export_model


@pytest.mark.parametrize("make", [digits_mlp, digits_cnn])
def test_export_round_trip(tmp_path, make):
    spec = make()
    model = spec.build(3)
    state = model.state_dict()
    files = export_model(spec, state, tmp_path)
    assert [f.name for f in files] == ["model.safetensors", "model-spec.json", "model.onnx"]
    blob = (tmp_path / "model.safetensors").read_bytes()
    meta = json.loads((tmp_path / "model-spec.json").read_text())
    assert meta["sha256"] == sha256_hex(blob)
    assert json.dumps(meta["spec"], sort_keys=True) == json.dumps(json.loads(spec.to_json()), sort_keys=True)
    loaded = decode_state(blob)
    assert all(torch.equal(loaded[k], state[k]) for k in state)

    ort = pytest.importorskip("onnxruntime")
    x = torch.randn(5, *spec.input_shape, generator=torch.Generator().manual_seed(1))
    model.eval()
    with torch.no_grad():
        expected = model(x).numpy()
    sess = ort.InferenceSession(str(tmp_path / "model.onnx"), providers=["CPUExecutionProvider"])
    got = sess.run(None, {"input": x.numpy()})[0]
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-5)


def test_export_without_onnx(tmp_path):
    spec = digits_mlp()
    files = export_model(spec, spec.build(0).state_dict(), tmp_path / "out", onnx=False)
    assert not (tmp_path / "out" / "model.onnx").exists()
    assert len(files) == 2
