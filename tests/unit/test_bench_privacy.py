"""The privacy benchmark's own logic (tests/bench/privacy_*.py): Flower's noise calibrated
by MILON's accountant, the attack's member / non-member sets, the goals' verdicts."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import torch

BENCH = Path(__file__).resolve().parents[1] / "bench"
if str(BENCH) not in sys.path:
    sys.path.insert(0, str(BENCH))

import privacy_report as rep  # noqa: E402
from privacy_demo import attack_sets  # noqa: E402
from privacy_runs import Row, flower_dp  # noqa: E402

from milon_app.compute.privacy_spec import PrivacySpec  # noqa: E402
from milon_app.federation import privacy as P  # noqa: E402
from milon_app.node.validation_data import split_holdout  # noqa: E402


@pytest.mark.parametrize("epsilon", [1.0, 3.0, 8.0])
def test_flower_gets_milons_sigma_and_spends_at_most_the_target(epsilon: float) -> None:
    rounds, clients, clip = 8, 4, 0.5
    cfg = flower_dp(epsilon, 1e-5, rounds, clip, clients)
    milon = PrivacySpec("client-dp", epsilon, 1e-5, clip)
    sigma = P.job_sigma(milon, rounds)
    assert cfg["noise_multiplier"] == sigma
    # Flower's server noise on the mean of `clients` clipped updates
    assert cfg["noise_std_on_mean"] == pytest.approx(sigma * clip / clients)
    # the accountant's epsilon for that sigma: never above the target, close below it
    assert epsilon - 0.05 < cfg["epsilon_spent"] <= epsilon
    assert P.epsilon_spent(sigma, rounds, 1e-5) == cfg["epsilon_spent"]


def test_a_larger_epsilon_means_less_noise() -> None:
    sigmas = [flower_dp(e, 1e-5, 8, 1.0, 4)["noise_multiplier"] for e in (1.0, 3.0, 8.0)]
    assert sigmas[0] > sigmas[1] > sigmas[2] > 0


def test_attack_sets_are_members_against_as_many_unseen_samples() -> None:
    n = 100
    x = torch.arange(n, dtype=torch.float32).unsqueeze(1)  # each sample is its own id
    y = torch.zeros(n, dtype=torch.long)
    x_test = torch.arange(1000, 1030, dtype=torch.float32).unsqueeze(1)
    (xm, _), (xo, _) = attack_sets(x, y, x_test, torch.zeros(30, dtype=torch.long), 0)
    (trained, _), (held, _) = split_holdout(x, y, 0)
    assert xm.shape[0] == xo.shape[0] == 30  # balanced: the test split is the smaller
    ids = set(xm.squeeze(1).tolist())
    assert ids <= set(trained.squeeze(1).tolist())  # only samples the members trained on
    assert not ids & set(held.squeeze(1).tolist())  # never the owner's validation samples
    assert len(ids) == 30  # no sample twice
    assert set(xo.squeeze(1).tolist()) <= set(x_test.squeeze(1).tolist())


def test_goals_name_misses_with_their_numbers() -> None:
    rows = [
        Row("MILON", "digits", "none", None, accuracy=0.96),
        Row("MILON", "digits", "dp-sgd", 8.0, accuracy=0.92),  # -4 pt: met
        Row("MILON", "digits", "client-dp", 8.0, accuracy=0.90),  # -6 pt: missed
        Row("MILON", "digits", "client-dp", 3.0, accuracy=0.5, mia_auc=0.56),
        Row("MILON", "digits", "dp-sgd", 3.0, accuracy=0.9, mia_auc=0.55),
        Row("MILON", "shapes1500", "client-dp", 8.0, accuracy=0.1),  # digits goals only
    ]
    got = rep.goals(rows, 5.0, 0.55)
    assert got == [
        "digits, epsilon 8: MILON dp-sgd 92.00% vs no privacy 96.00% (-4.0 pt; goal within "
        "5 pt): met",
        "digits, epsilon 8: MILON client-dp 90.00% vs no privacy 96.00% (-6.0 pt; goal within "
        "5 pt): MISSED",
        "digits, epsilon 3: MILON client-dp membership-inference AUC 0.560 (goal <= 0.55): MISSED",
        "digits, epsilon 3: MILON dp-sgd membership-inference AUC 0.550 (goal <= 0.55): met",
    ]
