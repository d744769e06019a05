"""A contributor claims an absurd sample count so its update outweighs everyone's.

v1: FedAvg weighed each update by the ``numSamples`` revealed with it, unchecked; claiming
2^63 made one update the whole global model (a backdoor reached 100 % success that way).
v2: a claim above any plausible dataset is rejected outright (``BAD_SAMPLES``, the author
slashed); a plausible but inflated claim is clipped in aggregation to twice the round's
median, so it cannot dominate; and the job owner can cap claims on chain (``maxSamples``).
"""

from __future__ import annotations

import pytest
import torch

from milon_app.chain.verdicts import round_payments, round_verdicts
from milon_app.federation.clipping import aggregate_accepted
from milon_app.federation.deltas import state_delta, update_norm
from milon_app.federation.policy import Reason
from milon_app.federation.types import ClientUpdate
from milon_app.node.behaviour import HONEST, INFLATED_SAMPLES, Behaviour
from tests.attacks.nodefed import STAKE, node_federation


def _states(n: int, seed: int = 0) -> tuple[dict, list[dict]]:
    gen = torch.Generator().manual_seed(seed)
    base = {"w": torch.zeros(64)}
    return base, [{"w": torch.randn(64, generator=gen)} for _ in range(n)]


def test_inflated_claim_weighs_no_more_than_twice_the_median():
    base, states = _states(4)
    honest = [ClientUpdate(f"0x{i + 1:040x}", s, 100) for i, s in enumerate(states[:3])]
    liar = ClientUpdate(f"0x{9:040x}", {"w": states[3]["w"] * 1.0}, 2**63 - 1)
    out = aggregate_accepted(0, base, [*honest, liar], max_samples=0, sample_clip_bps=20_000)
    # FedAvg weights after clipping: 100, 100, 100 and at most 200 -> the liar's share <= 2/5
    # of the mean delta (a plain num_samples-weighted mean would be ~all liar).
    liar_only = aggregate_accepted(0, base, [liar], max_samples=0, sample_clip_bps=20_000)
    share = update_norm(base, out.state) / update_norm(base, liar_only.state)
    assert share < 0.6
    delta = state_delta(base, out.state)["w"]
    assert torch.linalg.vector_norm(delta - states[3]["w"]) > 0.5  # nowhere near the liar's model


def test_job_cap_bounds_every_claim():
    base, states = _states(3, seed=1)
    ups = [
        ClientUpdate(f"0x{i + 1:040x}", s, n)
        for i, (s, n) in enumerate(zip(states, (100, 100, 10_000), strict=True))
    ]
    capped = aggregate_accepted(0, base, ups, max_samples=100, sample_clip_bps=100_000)
    equal = aggregate_accepted(
        0,
        base,
        [ClientUpdate(u.client_id, u.state, 100) for u in ups],
        max_samples=0,
        sample_clip_bps=100_000,
    )
    assert capped.encoded == equal.encoded  # the cap made the 10,000 claim count as 100


@pytest.fixture
def fed(tmp_path):
    f = node_federation(tmp_path, [HONEST, HONEST, HONEST, Behaviour("inflate")])
    yield f
    f.close()


def test_implausible_claim_is_rejected_and_slashed(fed, monkeypatch):
    monkeypatch.setattr("milon_app.node.behaviour.INFLATED_SAMPLES", 2**63 - 1)
    *honest, liar = fed.nodes
    assert liar.behaviour.claimed_samples(10) == 2**63 - 1
    job_id = fed.job(rounds=1)
    fed.until(fed.round_closed(job_id, 1))
    verdicts = {u.member: u for u in round_verdicts(fed.owner.milon, job_id, 1).updates}
    assert verdicts[liar.address].outcome == "rejected"
    assert {v.reason for v in verdicts[liar.address].votes} == {int(Reason.BAD_SAMPLES)}
    rewards, _ = round_payments(fed.owner.milon, job_id, 1)
    assert liar.address not in rewards and fed.stake(liar) < STAKE
    for nd in honest:
        assert rewards[nd.address] > 0 and fed.stake(nd) == STAKE
    assert INFLATED_SAMPLES < 2**48  # the default "inflate" claim is the plausible kind
