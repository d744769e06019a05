"""aggregate_accepted: norm, coordinate and sample clipping before the job's rule, deterministic."""

from __future__ import annotations

import hashlib
import random

import pytest
import torch

from milon_app.errors import BadInputError
from milon_app.federation import ClientUpdate, FedAvg, update_norm
from milon_app.federation.clipping import (
    RoundClipper,
    aggregate_accepted,
    clip_samples,
    clip_scales,
    krum_f,
    median_of,
    rule_for,
)
from milon_app.federation.deltas import CHUNK

BASE = {"w": torch.zeros(4), "b": torch.zeros(1), "count": torch.tensor(0, dtype=torch.int64)}


def upd(cid: str, w: list[float], b: float = 0.0, n: int = 10) -> ClientUpdate:
    state = {
        "w": torch.tensor(w, dtype=torch.float32),
        "b": torch.tensor([float(b)]),
        "count": torch.tensor(3, dtype=torch.int64),
    }
    return ClientUpdate(cid, state, n)


def test_median_and_clip_scales():
    assert median_of([3.0, 1.0, 2.0]) == 2.0
    assert median_of([4.0, 1.0, 2.0, 3.0]) == 2.5
    assert clip_scales([1.0, 2.0, 4.0]) == [1.0, 1.0, 0.5]
    assert clip_scales([1.0, 3.0], factor=1.0) == [1.0, pytest.approx(2.0 / 3.0)]
    assert clip_scales([]) == []
    assert clip_scales([0.0, 0.0, 5.0]) == [1.0, 1.0, 0.0]


def test_clip_samples_caps_at_a_multiple_of_the_median():
    assert clip_samples([100, 100, 2**63], sample_clip_bps=20_000) == [100, 100, 200]
    # exact integers: a median near 2^63 is not rounded through a float
    big = 2**63 + 1
    assert clip_samples([big, big, big], sample_clip_bps=10_000) == [big, big, big]
    assert clip_samples([10, 30], sample_clip_bps=15_000) == [10, 30]  # median 20, cap 30
    assert clip_samples([10, 30, 1000], sample_clip_bps=20_000, max_samples=25) == [10, 25, 25]
    assert clip_samples([1, 1, 1], sample_clip_bps=10_000) == [1, 1, 1]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"sample_clip_bps": 9_999}, "sample_clip_bps must be >= 10000"),
        ({"sample_clip_bps": 2.0}, "sample_clip_bps must be an integer"),
        ({"sample_clip_bps": 20_000, "max_samples": -1}, "max_samples must be an integer >= 0"),
    ],
)
def test_clip_samples_errors(kwargs, message):
    with pytest.raises(BadInputError, match=message):
        clip_samples([1, 2, 3], **kwargs)


def test_krum_f_and_rule_choice():
    assert [krum_f(n) for n in (1, 3, 4, 5, 6, 7, 20)] == [0, 0, 0, 1, 1, 2, 8]
    assert rule_for(3, 5).f == 1  # type: ignore[attr-defined]
    multi = rule_for(4, 7)
    assert (multi.f, multi.m, multi.weighted) == (2, 5, True)  # type: ignore[attr-defined]
    assert rule_for(2, 10).beta == 0.2  # type: ignore[attr-defined]
    # fewer than 3 updates: Krum has no neighbour to score, clipped FedAvg instead
    assert isinstance(rule_for(3, 2), FedAvg)
    assert isinstance(rule_for(4, 1), FedAvg)
    with pytest.raises(BadInputError, match="unknown aggregation rule"):
        rule_for(7, 3)


def test_boosting_buys_nothing_under_fedavg():
    honest = [upd("0xa", [1, 0, 0, 0]), upd("0xb", [0, 1, 0, 0]), upd("0xc", [0, 0, 1, 0])]
    boosted = upd("0xd", [0, 0, 0, 30])  # norm 30 vs median 1
    res = aggregate_accepted(0, BASE, [*honest, boosted], max_samples=0, coordinate=False)
    # each delta is clipped to the median norm 1: the boosted one counts as [0, 0, 0, 1]
    assert res.state["w"].tolist() == pytest.approx([0.25, 0.25, 0.25, 0.25])
    assert res.accepted == ["0xa", "0xb", "0xc", "0xd"] and res.rejected == {}
    assert res.model_hash == hashlib.sha256(res.encoded).hexdigest()
    assert res.state["count"].dtype == torch.int64 and int(res.state["count"]) == 3


def test_inflated_sample_claim_is_worth_twice_the_median():
    ups = [upd("0xa", [1, 1, 1, 1], n=100), upd("0xb", [1, 1, 1, 1], n=100)]
    liar = upd("0xc", [-1, -1, -1, -1], n=2**63)
    res = aggregate_accepted(0, BASE, [*ups, liar], max_samples=0, coordinate=False)
    # weights 100, 100, 200: (100 + 100 - 200) / 400
    assert res.state["w"].tolist() == pytest.approx([0.0] * 4)
    capped = aggregate_accepted(0, BASE, [*ups, liar], max_samples=50, coordinate=False)
    assert capped.state["w"].tolist() == pytest.approx([1 / 3] * 4)


def test_coordinate_clipping_blocks_a_lone_coordinate():
    # only 0xd moves coordinate 3 (a backdoor's trigger weight): nobody else does, so it is cut
    ups = [
        upd("0xa", [1.0, 0.5, 0, 0]),
        upd("0xb", [0.9, 0.4, 0, 0]),
        upd("0xc", [1.1, 0.6, 0, 0]),
        upd("0xd", [1.0, 0.5, 0, 0.9]),
    ]
    res = aggregate_accepted(0, BASE, ups, max_samples=0)
    assert res.state["w"][3].item() == 0.0
    # norms 1.118, 0.985, 1.253, 1.435 (median 1.186): 0xc is scaled to 1.040 on coordinate 0,
    # 0xd to 0.826; then the largest value (0xc) is pulled to the second largest (0xa's 1.0)
    assert res.state["w"][0].item() == pytest.approx((1.0 + 0.9 + 1.0 + 0.8265) / 4, abs=1e-3)
    off = aggregate_accepted(0, BASE, ups, max_samples=0, coordinate=False)
    assert off.state["w"][3].item() > 0.1


def test_coordinate_clipping_needs_three_updates():
    two = [upd("0xa", [1.0, 0, 0, 0]), upd("0xb", [0, 1.0, 0, 0])]
    res = aggregate_accepted(0, BASE, two, max_samples=0)
    assert res.state["w"].tolist() == pytest.approx([0.5, 0.5, 0, 0])


@pytest.mark.parametrize("rule_id", [0, 1, 2, 3, 4])
def test_every_rule_accepts_everyone(rule_id):
    ups = [upd(f"0x{i}", [i * 0.1, 1, 0, 0]) for i in range(6)] + [upd("0xf", [50, 50, 50, 50])]
    res = aggregate_accepted(rule_id, BASE, ups, max_samples=0)
    assert res.accepted == sorted(u.client_id for u in ups)
    assert res.rejected == {}
    assert max(abs(v) for v in res.state["w"].tolist()) < 2.0  # the outlier cannot drag it far


@pytest.mark.parametrize("rule_id", [3, 4])
def test_krum_with_one_or_two_updates_falls_back_to_fedavg(rule_id):
    res = aggregate_accepted(
        rule_id, BASE, [upd("0xa", [1, 0, 0, 0]), upd("0xb", [0, 1, 0, 0])], max_samples=0
    )
    assert res.state["w"].tolist() == pytest.approx([0.5, 0.5, 0, 0])
    one = aggregate_accepted(rule_id, BASE, [upd("0xa", [1, 2, 3, 4])], max_samples=0)
    assert one.state["w"].tolist() == [1, 2, 3, 4]


def random_updates(n: int, numel: int, seed: int) -> list[ClientUpdate]:
    gen = torch.Generator().manual_seed(seed)
    out = []
    for i in range(n):
        scale = 10.0 if i == n - 1 else 1.0  # one boosted: clipping must engage
        state = {
            "big": torch.randn(numel, generator=gen) * scale,
            "b": torch.randn(3, generator=gen),
        }
        out.append(ClientUpdate(f"0x{i:02x}", state, 10 + i))
    return out


@pytest.mark.parametrize("rule_id", [0, 1, 2, 3, 4])
def test_byte_identical_for_any_order_and_thread_count(rule_id):
    numel = CHUNK + 1234  # crosses a chunk boundary
    base = {"big": torch.zeros(numel), "b": torch.zeros(3)}
    ups = random_updates(6, numel, seed=rule_id)
    threads = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        ref = aggregate_accepted(rule_id, base, ups, max_samples=0)
        torch.set_num_threads(2)
        shuffled = ups[:]
        random.Random(1).shuffle(shuffled)
        again = aggregate_accepted(rule_id, base, shuffled, max_samples=0)
    finally:
        torch.set_num_threads(threads)
    assert again.encoded == ref.encoded and again.model_hash == ref.model_hash
    assert update_norm(base, ref.state) < 5 * update_norm(base, ups[0].state)


def test_round_clipper_bounds_are_top_two_magnitudes():
    base = {"w": torch.zeros(3)}
    states = [{"w": torch.tensor(v)} for v in ([1.0, -4.0, 0.0], [-3.0, 2.0, 0.0], [2.0, 1.0, 5.0])]
    clipper = RoundClipper(base, states, [1.0, 1.0, 1.0])
    top1, top2 = clipper.bounds("w")
    assert top1.tolist() == [3.0, 4.0, 5.0] and top2.tolist() == [2.0, 2.0, 0.0]
    assert clipper.state(0)["w"].tolist() == [1.0, -2.0, 0.0]
    assert clipper.state(2)["w"].tolist() == [2.0, 1.0, 0.0]
    assert len(clipper.state(1)) == 1 and list(clipper.state(1)) == ["w"]


@pytest.mark.parametrize(
    ("updates", "message"),
    [
        ([], "no accepted updates"),
        ([upd("0xa", [1, 1, 1, 1]), upd("0xA", [1, 1, 1, 1])], "sent two updates"),
        ([upd("0xa", [1, 1, 1, 1], n=0)], "num_samples must be a positive integer"),
        (
            [
                ClientUpdate(
                    "0xa", {"w": torch.zeros(5), "b": torch.zeros(1), "count": torch.tensor(0)}, 1
                )
            ],
            "shape",
        ),
        (
            [
                ClientUpdate(
                    "0xa",
                    {
                        "w": torch.tensor([float("nan")] * 4),
                        "b": torch.zeros(1),
                        "count": torch.tensor(0),
                    },
                    1,
                )
            ],
            "NaN or Inf",
        ),
    ],
)
def test_invalid_input_is_refused(updates, message):
    with pytest.raises(BadInputError, match=message):
        aggregate_accepted(0, BASE, updates, max_samples=0)


def test_clip_factor_sets_the_bound():
    ups = [upd("0xa", [1, 0, 0, 0]), upd("0xb", [0, 1, 0, 0]), upd("0xc", [0, 0, 0, 30])]
    res = aggregate_accepted(0, BASE, ups, max_samples=0, coordinate=False, clip_factor=2.0)
    assert res.state["w"].tolist() == pytest.approx([1 / 3, 1 / 3, 0, 2 / 3])
