"""Client-dp's accountant and noising (milon_app.federation.privacy): the noise multiplier
meets the job's target over its rounds, epsilon grows with the rounds released, and an
update is clipped to the bound and noised with a seed nobody can recompute."""

from __future__ import annotations

import itertools
import math

import pytest
import torch

from milon_app.compute.privacy_spec import PrivacySpec
from milon_app.errors import BadInputError
from milon_app.federation import privacy as P

DELTA = 1e-5


@pytest.mark.parametrize("rounds", [1, 3, 8, 40])
def test_noise_multiplier_meets_the_target_within_tolerance(rounds):
    sigma = P.noise_multiplier(8.0, DELTA, rounds)
    spent = P.epsilon_spent(sigma, rounds, DELTA)
    assert 8.0 - P.EPSILON_TOLERANCE <= spent <= 8.0
    assert P.epsilon_spent(sigma * 0.95, rounds, DELTA) > 8.0  # no less noise would do


def test_more_rounds_need_more_noise_and_epsilon_grows_per_release():
    sigmas = [P.noise_multiplier(8.0, DELTA, r) for r in (1, 3, 8, 40)]
    assert sigmas == sorted(sigmas) and len(set(sigmas)) == 4
    sigma = P.noise_multiplier(8.0, DELTA, 8)
    spent = [P.epsilon_spent(sigma, k, DELTA) for k in range(9)]
    assert spent[0] == 0.0
    assert all(a < b for a, b in itertools.pairwise(spent))
    # composition is sublinear: one round costs more than an even split of the target
    assert 8.0 / 8 < spent[1] < 8.0 / 2


def test_planned_rounds_and_bad_arguments():
    assert P.planned_rounds(96, 12) == 8
    assert P.planned_rounds(97, 12) == 9
    with pytest.raises(BadInputError):
        P.planned_rounds(10, 0)
    with pytest.raises(BadInputError, match="delta"):
        P.noise_multiplier(8.0, 1.0, 3)
    with pytest.raises(BadInputError, match="epsilon"):
        P.noise_multiplier(-1.0, DELTA, 3)
    with pytest.raises(BadInputError, match="dp-sgd"):
        P.job_sigma(PrivacySpec("dp-sgd", 8.0), 3)


def _states(scale: float) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
    g = torch.Generator().manual_seed(0)
    base = {
        "w": torch.randn(200, 50, generator=g),
        "b": torch.randn(50, generator=g),
        "n": torch.tensor(3, dtype=torch.int64),
    }
    trained = {
        "w": base["w"] + scale * torch.randn(200, 50, generator=g),
        "b": base["b"] + scale * torch.randn(50, generator=g),
        "n": torch.tensor(7, dtype=torch.int64),
    }
    return base, trained


def test_privatize_clips_to_the_bound_without_noise():
    base, trained = _states(1.0)
    assert P.delta_norm(base, trained) > 50
    out = P.privatize(base, trained, clip=2.0, std=0.0)
    assert P.delta_norm(base, out) == pytest.approx(2.0, rel=1e-5)
    assert out["n"].item() == 7 and out["n"].dtype == torch.int64  # counters kept as trained
    assert out["w"].dtype == torch.float32
    small_base, small = _states(1e-3)
    kept = P.privatize(small_base, small, clip=2.0, std=0.0)  # under the bound: unchanged
    assert torch.allclose(kept["w"], small["w"]) and torch.allclose(kept["b"], small["b"])


def test_privatize_adds_noise_of_the_given_std_from_a_fresh_seed():
    base, trained = _states(1.0)
    a = P.privatize(base, trained, clip=1.0, std=0.5)
    b = P.privatize(base, trained, clip=1.0, std=0.5)
    assert not torch.equal(a["w"], b["w"])  # a new OS-random seed each time
    clipped = P.privatize(base, trained, clip=1.0, std=0.0)
    noise = torch.cat([(a[k] - clipped[k]).flatten() for k in ("w", "b")]).double()
    assert float(noise.std()) == pytest.approx(0.5, rel=0.03)  # 10,050 draws
    assert abs(float(noise.mean())) < 0.02
    expected_norm = 0.5 * math.sqrt(noise.numel())  # what a committee sees: noise dominates
    assert P.delta_norm(base, a) == pytest.approx(expected_norm, rel=0.05)


def test_noise_seed_is_fresh_whatever_the_training_seed(monkeypatch: pytest.MonkeyPatch) -> None:
    """dp-sgd's noise seed never follows the (public) training seed it is given: the same
    run seed gives two different seeds, and the seed is fresh_seed's."""
    assert P.noise_seed(7) != P.noise_seed(7)
    assert 0 <= P.noise_seed(7) < 2**63
    monkeypatch.setattr(P, "fresh_seed", lambda: 12345)
    assert P.noise_seed(7) == P.noise_seed(8) == 12345


def test_noise_std_and_summary():
    priv = PrivacySpec("client-dp", 8.0, DELTA, 0.5)
    sigma = P.job_sigma(priv, 8)
    assert P.noise_std(priv, sigma) == pytest.approx(sigma * P.SENSITIVITY_PER_CLIP * 0.5)
    s = P.summary(priv, 8, 3)
    assert s["mode"] == "client-dp" and s["noise_multiplier"] == sigma
    assert s["epsilon_spent"] == pytest.approx(P.epsilon_spent(sigma, 3, DELTA))
    assert s["epsilon_job"] <= 8.0
    assert P.summary(PrivacySpec(), 8) == {"mode": "none"}
