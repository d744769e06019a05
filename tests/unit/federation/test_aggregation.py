"""Aggregation rules on hand-made tensors with known answers, and their determinism."""

from __future__ import annotations

import hashlib
import random

import pytest
import torch

from milon_app.compute.weights import decode_state
from milon_app.errors import BadInputError
from milon_app.federation import (
    RULES,
    ClientUpdate,
    FedAvg,
    Krum,
    Median,
    MultiKrum,
    TrimmedMean,
    apply_delta,
    krum_scores,
    make_aggregator,
    pairwise_squared_distances,
    state_delta,
    update_norm,
)
from milon_app.federation.deltas import CHUNK, squared_distance, tree_sum_rows

GLOBAL = {"w": torch.zeros(3), "b": torch.zeros(1)}


def upd(cid: str, w: list[float], b: float = 0.0, n: int = 1) -> ClientUpdate:
    return ClientUpdate(
        cid, {"w": torch.tensor(w, dtype=torch.float32), "b": torch.tensor([float(b)])}, n
    )


def w_of(result) -> list[float]:
    return result.state["w"].tolist()


def test_fedavg_weights_by_samples():
    res = FedAvg().aggregate(GLOBAL, [upd("0xa", [1, 2, 3], 4, n=1), upd("0xb", [5, 6, 7], 8, n=3)])
    assert w_of(res) == [4.0, 5.0, 6.0]
    assert res.state["b"].tolist() == [7.0]
    assert res.accepted == ["0xa", "0xb"] and res.rejected == {}
    assert res.model_hash == hashlib.sha256(res.encoded).hexdigest()
    assert torch.equal(decode_state(res.encoded)["w"], res.state["w"])
    assert res.state["w"].dtype == torch.float32


def test_median_of_three_ignores_outlier():
    ups = [upd("0xa", [1, 1, 1]), upd("0xb", [2, 2, 2]), upd("0xc", [100, -100, 2])]
    res = Median().aggregate(GLOBAL, ups)
    assert w_of(res) == [2.0, 1.0, 2.0]
    assert res.accepted == ["0xa", "0xb", "0xc"]


def test_median_even_count_averages_middle_two():
    ups = [upd(f"0x{i}", [v, v, v]) for i, v in enumerate([1, 2, 3, 100])]
    assert w_of(Median().aggregate(GLOBAL, ups)) == [2.5, 2.5, 2.5]


def test_trimmed_mean_known_values():
    ups = [upd(f"0x{i}", [v, -v, 0]) for i, v in enumerate([1, 2, 3, 4, 100])]
    assert w_of(TrimmedMean(beta=0.2).aggregate(GLOBAL, ups)) == [3.0, -3.0, 0.0]
    # beta 0.1 of 5 trims nothing: the plain mean
    assert w_of(TrimmedMean(beta=0.1).aggregate(GLOBAL, ups))[0] == pytest.approx(22.0)
    four = [upd(f"0x{i}", [v, v, v]) for i, v in enumerate([1, 2, 3, 100])]
    assert w_of(TrimmedMean(beta=0.25).aggregate(GLOBAL, four)) == [2.5, 2.5, 2.5]


def test_trimmed_mean_trim_count_is_exact_floor():
    assert TrimmedMean(beta=0.29).trim_count(100) == 29
    assert TrimmedMean(beta=0.1).trim_count(30) == 3
    assert TrimmedMean(beta=0.2).trim_count(4) == 0


def cluster_and_outliers() -> list[ClientUpdate]:
    return [
        upd("0xa", [0.0, 0.1, 0.0]),
        upd("0xb", [0.1, 0.0, 0.0]),
        upd("0xc", [0.0, 0.0, 0.05]),
        upd("0xd", [100.0, 100.0, 100.0]),
        upd("0xe", [-100.0, 50.0, 100.0]),
    ]


def test_krum_picks_from_the_cluster():
    ups = cluster_and_outliers()
    scores = krum_scores(ups, f=1)
    assert scores[2] == min(scores)  # 0xc is closest to both others
    res = Krum(f=1).aggregate(GLOBAL, ups)
    assert res.accepted == ["0xc"]
    assert w_of(res) == pytest.approx([0.0, 0.0, 0.05])
    assert set(res.rejected) == {"0xa", "0xb", "0xd", "0xe"}
    assert "not selected by Krum" in res.rejected["0xd"]


def test_krum_tie_goes_to_smaller_client_id():
    ups = [
        upd("0xb", [1, 0, 0]),
        upd("0xa", [1, 0, 0]),
        upd("0xc", [1, 0, 0]),
        upd("0xd", [1, 0, 0]),
    ]
    assert Krum(f=1).aggregate(GLOBAL, ups).accepted == ["0xa"]


def test_multi_krum_averages_selected():
    ups = cluster_and_outliers()
    res = MultiKrum(f=1, m=3, weighted=False).aggregate(GLOBAL, ups)
    assert res.accepted == ["0xa", "0xb", "0xc"]
    assert w_of(res) == pytest.approx([0.1 / 3, 0.1 / 3, 0.05 / 3])
    assert "lowest Multi-Krum scores" in res.rejected["0xd"]
    default_m = MultiKrum(f=2).aggregate(GLOBAL, ups)  # m = n - f = 3
    assert default_m.accepted == ["0xa", "0xb", "0xc"]


def test_multi_krum_weighted_uses_num_samples():
    ups = [upd("0xa", [0, 0, 0], n=1), upd("0xb", [4, 0, 0], n=3)] + [
        upd(f"0xf{i}", [1000.0 * (i + 1), 0, 0]) for i in range(2)
    ]
    res = MultiKrum(f=1, m=2).aggregate(GLOBAL, ups)
    assert res.accepted == ["0xa", "0xb"]
    assert w_of(res)[0] == pytest.approx(3.0)


def test_pairwise_distances_match_squared_distance():
    ups = cluster_and_outliers()
    dist = pairwise_squared_distances(ups)
    for i, a in enumerate(ups):
        for j, b in enumerate(ups):
            assert dist[i][j] == squared_distance(a.state, b.state)


def test_empty_update_list_is_refused():
    for cls in RULES.values():
        with pytest.raises(BadInputError, match="empty"):
            cls().aggregate(GLOBAL, [])


def test_krum_with_too_few_clients_for_f():
    ups = cluster_and_outliers()[:3]
    with pytest.raises(BadInputError, match=r"f=1 needs at least 4 valid updates .* got 3"):
        Krum(f=1).aggregate(GLOBAL, ups)
    with pytest.raises(BadInputError, match="needs at least 5"):
        MultiKrum(f=2).aggregate(GLOBAL, cluster_and_outliers()[:4])
    with pytest.raises(BadInputError, match="cannot select m=6 of 5"):
        MultiKrum(f=1, m=6).aggregate(GLOBAL, cluster_and_outliers())


def test_invalid_updates_are_rejected_with_reason():
    bad_shape = ClientUpdate("0xz", {"w": torch.zeros(4), "b": torch.zeros(1)}, 1)
    missing = ClientUpdate("0xy", {"w": torch.zeros(3)}, 1)
    nan = ClientUpdate("0xx", {"w": torch.tensor([0.0, float("nan"), 0.0]), "b": torch.zeros(1)}, 1)
    zero_samples = upd("0xw", [1, 1, 1], n=0)
    res = FedAvg().aggregate(GLOBAL, [upd("0xa", [1, 1, 1]), bad_shape, missing, nan, zero_samples])
    assert res.accepted == ["0xa"]
    assert res.rejected["0xz"] == "tensor 'w': shape (4,) differs from (3,)"
    assert res.rejected["0xy"] == "weights lack tensor 'b'"
    assert "NaN or Inf" in res.rejected["0xx"]
    assert "num_samples must be a positive integer" in res.rejected["0xw"]
    with pytest.raises(BadInputError, match="no valid updates"):
        Median().aggregate(GLOBAL, [bad_shape, missing])


def test_duplicate_client_is_refused():
    with pytest.raises(BadInputError, match="two updates"):
        FedAvg().aggregate(GLOBAL, [upd("0xAb", [1, 1, 1]), upd("0xab", [2, 2, 2])])


def test_make_aggregator_factory():
    assert isinstance(make_aggregator(0), FedAvg)
    assert isinstance(make_aggregator(1), Median)
    assert make_aggregator(2, beta=0.3) == TrimmedMean(beta=0.3)
    assert make_aggregator(3, f=2) == Krum(f=2)
    assert make_aggregator(4, f=1, m=2).rule_id == 4
    for rule_id, cls in RULES.items():
        assert cls.rule_id == rule_id
    for bad in (5, -1, True, "0"):
        with pytest.raises(BadInputError, match="unknown aggregation rule"):
            make_aggregator(bad)  # type: ignore[arg-type]
    with pytest.raises(BadInputError, match="bad parameters for FedAvg"):
        make_aggregator(0, beta=0.1)
    with pytest.raises(BadInputError, match="beta must be in"):
        make_aggregator(2, beta=0.5)
    with pytest.raises(BadInputError, match="must be an integer >= 0"):
        make_aggregator(3, f=-1)
    with pytest.raises(BadInputError, match="positive integer"):
        make_aggregator(4, m=0)


def test_dtypes_are_kept_and_counters_rounded():
    glob = {"h": torch.zeros(2, dtype=torch.float16), "count": torch.tensor(0, dtype=torch.int64)}
    ups = [
        ClientUpdate(
            "0xa", {"h": torch.tensor([1.0, 2.0], dtype=torch.float16), "count": torch.tensor(3)}, 1
        ),
        ClientUpdate(
            "0xb", {"h": torch.tensor([2.0, 3.0], dtype=torch.float16), "count": torch.tensor(4)}, 1
        ),
    ]
    res = FedAvg().aggregate(glob, ups)
    assert res.state["h"].dtype == torch.float16 and res.state["h"].tolist() == [1.5, 2.5]
    assert res.state["count"].dtype == torch.int64 and int(res.state["count"]) == 4  # 3.5 -> 4
    assert res.state["count"].shape == ()
    med = Median().aggregate(glob, ups)
    assert med.state["h"].dtype == torch.float16 and med.state["h"].tolist() == [1.5, 2.5]
    trimmed = TrimmedMean(beta=0.0).aggregate(glob, ups)
    assert trimmed.encoded == res.encoded


def random_updates(n: int, numel: int, seed: int) -> tuple[dict, list[ClientUpdate]]:
    gen = torch.Generator().manual_seed(seed)
    glob = {"a.weight": torch.randn(numel, generator=gen), "b": torch.randn(7, generator=gen)}
    ups = []
    for i in range(n):
        state = {k: v + torch.randn(v.shape, generator=gen) * (1 + i) for k, v in glob.items()}
        state["b"][0] = -0.0 if i % 2 else 0.0  # signed zeros must not leak order
        ups.append(ClientUpdate(f"0x{i:040x}", state, 10 + 7 * i))
    glob["b"][0] = 0.0
    return glob, ups


AGGREGATORS = [FedAvg(), Median(), TrimmedMean(beta=0.2), Krum(f=1), MultiKrum(f=1)]


@pytest.mark.parametrize("agg", AGGREGATORS, ids=lambda a: a.name)
def test_order_independent_bytes(agg):
    glob, ups = random_updates(7, 1000, seed=1)
    first = agg.aggregate(glob, ups)
    rng = random.Random(0)
    for _ in range(3):
        shuffled = ups[:]
        rng.shuffle(shuffled)
        again = agg.aggregate(glob, shuffled)
        assert again.encoded == first.encoded
        assert again.accepted == first.accepted and again.rejected == first.rejected


def test_thread_count_does_not_change_bytes():
    glob, ups = random_updates(6, CHUNK + 70_001, seed=2)  # more than one chunk
    before = torch.get_num_threads()
    try:
        outputs = {}
        for threads in (1, 2):
            torch.set_num_threads(threads)
            outputs[threads] = [a.aggregate(glob, ups).encoded for a in AGGREGATORS]
            outputs[threads].append(repr(pairwise_squared_distances(ups)).encode())
    finally:
        torch.set_num_threads(before)
    assert outputs[1] == outputs[2]


def test_tree_sum_and_delta_helpers():
    x = torch.arange(1, 12, dtype=torch.float64).reshape(1, 11)
    assert float(tree_sum_rows(x)[0]) == 66.0
    assert tree_sum_rows(torch.zeros(2, 0, dtype=torch.float64)).tolist() == [0.0, 0.0]
    glob = {"w": torch.zeros(2), "n": torch.tensor(1)}
    state = {"w": torch.tensor([3.0, 4.0]), "n": torch.tensor(5)}
    assert update_norm(glob, state) == 5.0
    delta = state_delta(glob, state)
    assert set(delta) == {"w"}
    back = apply_delta(glob, delta)
    assert torch.equal(back["w"], state["w"]) and int(back["n"]) == 1
    flipped = apply_delta(glob, delta, scale=-10.0)
    assert flipped["w"].tolist() == [-30.0, -40.0] and flipped["w"].dtype == torch.float32
