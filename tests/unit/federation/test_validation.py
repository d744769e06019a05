"""Every way an update blob can be refused, each with its reason."""

from __future__ import annotations

import pytest
import torch

from milon_app.compute.weights import encode_state
from milon_app.errors import BadInputError, TrainingError
from milon_app.federation import (
    FedAvg,
    Median,
    Submission,
    validate_and_aggregate,
    validate_update,
)

GLOBAL = {"fc.weight": torch.zeros(10, 128), "fc.bias": torch.zeros(10)}
LIMIT = 1 << 20


def state(**over: torch.Tensor) -> dict[str, torch.Tensor]:
    base = {"fc.weight": torch.full((10, 128), 0.01), "fc.bias": torch.full((10,), 0.01)}
    base.update(over)
    return base


def check(data: bytes, **kw):
    kw.setdefault("max_bytes", LIMIT)
    return validate_update(GLOBAL, data, **kw)


def test_good_update_passes_with_measurements():
    out = check(encode_state(state()), norm_bound=50.0, val_fn=lambda s: 0.5, max_val_loss=1.0)
    assert out.ok and out.reason is None
    assert out.state is not None and torch.equal(out.state["fc.bias"], torch.full((10,), 0.01))
    assert out.norm == pytest.approx(0.01 * (1290**0.5))
    assert out.val_loss == 0.5


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), float("-inf")])
def test_non_finite_values_rejected(bad):
    w = torch.zeros(10, 128)
    w[3, 7] = bad
    out = check(encode_state(state(**{"fc.weight": w})))
    assert not out.ok and out.state is None
    assert out.reason == "tensor 'fc.weight' holds NaN or Inf values"


def test_wrong_shape_rejected():
    out = check(encode_state(state(**{"fc.weight": torch.zeros(10, 64)})))
    assert out.reason == "tensor 'fc.weight': shape (10, 64) differs from (10, 128)"


def test_wrong_dtype_rejected():
    out = check(encode_state(state(**{"fc.bias": torch.zeros(10, dtype=torch.float64)})))
    assert out.reason == "tensor 'fc.bias': dtype torch.float64 differs from torch.float32"


def test_missing_and_extra_keys_rejected():
    missing = {"fc.weight": torch.zeros(10, 128)}
    assert check(encode_state(missing)).reason == "weights lack tensor 'fc.bias'"
    extra = state(**{"fc2.bias": torch.zeros(3)})
    assert check(encode_state(extra)).reason == "weights have unexpected tensor 'fc2.bias'"


def test_oversized_truncated_and_garbage_rejected():
    data = encode_state(state())
    out = check(data, max_bytes=len(data) - 1)
    assert not out.ok and "over the limit" in (out.reason or "")
    truncated = check(data[:-16])
    assert not truncated.ok and "outside the blob" in (truncated.reason or "")
    assert "truncated" in (check(b"abc").reason or "")
    assert not check(b"\x10\x00\x00\x00\x00\x00\x00\x00not json at all!").ok


def test_norm_over_bound_rejected():
    far = state(**{"fc.weight": torch.full((10, 128), 10.0)})
    out = check(encode_state(far), norm_bound=50.0)
    assert not out.ok
    assert out.reason == "update norm 358 exceeds bound 50"
    assert out.norm == pytest.approx(10.0 * (1280 + 10 * 1e-6) ** 0.5, rel=1e-3)
    big = check(encode_state(state(**{"fc.weight": torch.full((10, 128), 40.0)})), norm_bound=50)
    assert big.reason == "update norm 1.43e+03 exceeds bound 50"


def test_val_loss_checks():
    data = encode_state(state())
    over = check(data, val_fn=lambda s: 2.5, max_val_loss=1.0)
    assert over.reason == "validation loss 2.5 exceeds threshold 1" and over.val_loss == 2.5
    nan = check(data, val_fn=lambda s: float("nan"))
    assert nan.reason == "validation loss is nan (not finite)"

    def boom(_s):
        raise TrainingError("model diverged")

    assert check(data, val_fn=boom).reason == "validation failed: model diverged"
    seen = []
    check(data, val_fn=lambda s: seen.append(sorted(s)) or 0.1)
    assert seen == [["fc.bias", "fc.weight"]]


def test_misconfigured_checks_raise():
    data = encode_state(state())
    with pytest.raises(BadInputError, match="no val_fn"):
        check(data, max_val_loss=1.0)
    with pytest.raises(BadInputError, match="norm_bound"):
        check(data, norm_bound=-1.0)


def test_validate_and_aggregate_merges_rejections():
    subs = [
        Submission("0xa", encode_state(state()), 10),
        Submission("0xb", encode_state(state(**{"fc.bias": torch.full((10,), 0.03)})), 30),
        Submission("0xc", encode_state(state(**{"fc.weight": torch.zeros(10, 64)})), 10),
        Submission("0xd", encode_state(state(**{"fc.weight": torch.full((10, 128), 99.0)})), 10),
    ]
    round_ = validate_and_aggregate(FedAvg(), GLOBAL, subs, max_bytes=LIMIT, norm_bound=50.0)
    res = round_.result
    assert res.accepted == ["0xa", "0xb"]
    assert set(res.rejected) == {"0xc", "0xd"}
    assert "shape (10, 64)" in res.rejected["0xc"] and "exceeds bound" in res.rejected["0xd"]
    assert res.state["fc.bias"][0].item() == pytest.approx(0.025)
    assert round_.outcomes["0xa"].ok and not round_.outcomes["0xd"].ok
    with pytest.raises(BadInputError, match="no update passed validation"):
        validate_and_aggregate(Median(), GLOBAL, subs[2:], max_bytes=LIMIT, norm_bound=50.0)
    with pytest.raises(BadInputError, match="submitted twice"):
        validate_and_aggregate(Median(), GLOBAL, subs[:1] * 2, max_bytes=LIMIT)
