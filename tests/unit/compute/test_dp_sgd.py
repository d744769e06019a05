"""DP-SGD (issue 23, compute.dp_sgd): each sample's influence on an update is bounded by the
clip, noise is present and fresh, the accountant's figures are Opacus', and layers DP-SGD
cannot train are refused by name."""

from __future__ import annotations

import itertools
import math

import pytest
import torch

from milon_app.compute import dp_sgd, trainer
from milon_app.compute.builtin_models import digits_cnn, digits_mlp, resnet8_cifar
from milon_app.compute.model_spec import ModelSpec
from milon_app.compute.privacy_spec import PrivacySpec
from milon_app.errors import BadInputError
from milon_app.federation import privacy as P

N = 64


def _data(seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return torch.rand(N, 64, generator=g), torch.randint(0, 10, (N,), generator=g)


def _plain_sgd(spec: ModelSpec) -> ModelSpec:
    d = spec.to_dict()
    d["optimizer"] = {"type": "sgd", "lr": 0.5, "momentum": 0.0}
    return ModelSpec.from_dict(d)


def _delta(spec: ModelSpec, data, base, seed_noise, monkeypatch) -> torch.Tensor:
    monkeypatch.setattr(P, "fresh_seed", lambda: seed_noise)
    out = trainer.train(spec, base, data, epochs=1, seed=3, dp_max_epochs=1)
    return torch.cat([(out.state[k] - base[k]).flatten() for k in sorted(base)])


def test_one_sample_moves_the_update_at_most_lr_times_2clip_over_the_batch(monkeypatch):
    """Same noise seed, one full-batch step: two data sets that differ in one (wild) sample
    give updates at most lr * 2 * clip / expected batch apart."""
    clip = 0.1
    spec = _plain_sgd(digits_mlp(N)).with_privacy(PrivacySpec("dp-sgd", 8.0, 1e-5, clip))
    base = {k: v.clone() for k, v in spec.build(0).state_dict().items()}
    x, y = _data()
    x2, y2 = x.clone(), y.clone()
    x2[5], y2[5] = 1000.0, (y[5] + 1) % 10  # a sample with a huge gradient
    a = _delta(spec, (x, y), base, 7, monkeypatch)
    b = _delta(spec, (x2, y2), base, 7, monkeypatch)
    plan = dp_sgd.plan(spec.privacy, N, N, 1)
    assert plan.steps_per_epoch == 1
    bound = 0.5 * 2 * clip / plan.expected_batch
    assert 0 < float((a - b).norm()) <= bound * (1 + 1e-4)
    # without clipping the wild sample moves the plain update far more than that
    plain = _plain_sgd(digits_mlp(N))
    ua = trainer.train(plain, base, (x, y), epochs=1, seed=3).state
    ub = trainer.train(plain, base, (x2, y2), epochs=1, seed=3).state
    assert max(float((ua[k] - ub[k]).norm()) for k in base) > 10 * bound


def test_noise_is_present_and_its_seed_fresh(monkeypatch):
    spec = digits_mlp(16).with_privacy(PrivacySpec("dp-sgd", 8.0, 1e-5, 1.0))
    base = {k: v.clone() for k, v in spec.build(0).state_dict().items()}
    data = _data()
    same_a = _delta(spec, data, base, 1, monkeypatch)
    same_b = _delta(spec, data, base, 1, monkeypatch)
    other = _delta(spec, data, base, 2, monkeypatch)
    assert torch.equal(same_a, same_b)  # sampling follows the training seed: only noise differs
    assert not torch.equal(same_a, other)
    seeds = itertools.count(10)
    monkeypatch.setattr(P, "fresh_seed", lambda: next(seeds))
    trainer.train(spec, base, data, epochs=1, seed=3)
    assert next(seeds) == 11  # one fresh OS seed drawn per training


def test_plan_and_epsilon_match_opacus():
    from opacus.accountants import RDPAccountant
    from opacus.accountants.utils import get_noise_multiplier

    privacy = PrivacySpec("dp-sgd", 3.0, 1e-5, 1.0)
    plan = dp_sgd.plan(privacy, 360, 32, 40)
    assert plan.steps_per_epoch == 12 and plan.sample_rate == 1 / 12
    sigma = get_noise_multiplier(
        target_epsilon=3.0, target_delta=1e-5, sample_rate=1 / 12, steps=480, accountant="rdp",
        epsilon_tolerance=P.EPSILON_TOLERANCE,
    )  # fmt: skip
    assert plan.noise_multiplier == sigma
    acct = RDPAccountant()
    acct.history = [(sigma, 1 / 12, 120)]
    assert plan.epsilon(10) == pytest.approx(acct.get_epsilon(1e-5), rel=1e-12)
    assert plan.epsilon(0) == 0.0
    assert 3.0 - P.EPSILON_TOLERANCE <= plan.epsilon(40) <= 3.0
    assert plan.epsilon(41) > 3.0  # past the bound the target breaks: nodes decline there


def test_a_trainings_summary_reads_back_as_its_plan():
    """The node accounts a finished round from the plan the trainer reported, not a new one."""
    privacy = PrivacySpec("dp-sgd", 8.0, 1e-5, 0.5)
    plan = dp_sgd.plan(privacy, 290, 32, 80)
    assert dp_sgd.summary_plan(dp_sgd.plan_summary(plan, 7), 0.5, 1e-5) == plan


def test_cnn_trains_and_reports_its_privacy(monkeypatch):
    monkeypatch.setattr(P, "fresh_seed", lambda: 5)
    spec = digits_cnn(16).with_privacy(PrivacySpec("dp-sgd", 8.0, 1e-5, 1.0))
    x, y = _data()
    out = trainer.train(spec, None, (x.reshape(N, 1, 8, 8), y), epochs=2, seed=1, dp_max_epochs=4)
    assert out.privacy is not None
    assert out.privacy["epochs_taken"] == 2 and out.privacy["steps"] == 8
    assert 0 < out.privacy["epsilon_spent"] < out.privacy["epsilon_max"] <= 8.0
    assert all(bool(t.isfinite().all()) for t in out.state.values())


def test_batchnorm_is_refused_by_name():
    with pytest.raises(BadInputError, match=r"dp-sgd cannot train layer 1 \(BatchNorm2d\)"):
        dp_sgd.check_spec(resnet8_cifar())
    dp_sgd.check_spec(digits_cnn())  # no error


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((PrivacySpec("client-dp", 8.0), 100, 10, 4), "is not dp-sgd"),
        ((PrivacySpec("dp-sgd", 8.0), 100, 10, 0), "epoch bound >= 1"),
        ((PrivacySpec("dp-sgd", 8.0), 0, 10, 4), "needs data"),
    ],
)
def test_bad_plans_are_refused(args, message):
    with pytest.raises(BadInputError, match=message):
        dp_sgd.plan(*args)


def test_more_epochs_than_the_bound_are_refused():
    spec = digits_mlp(16).with_privacy(PrivacySpec("dp-sgd", 8.0, 1e-5, 1.0))
    with pytest.raises(BadInputError, match="3 epochs exceed the bound of 2"):
        trainer.train(spec, None, _data(), epochs=3, seed=1, dp_max_epochs=2)


def test_plan_noise_grows_with_the_bound():
    p = PrivacySpec("dp-sgd", 8.0, 1e-5, 1.0)
    sigmas = [dp_sgd.plan(p, 360, 32, e).noise_multiplier for e in (10, 40, 160)]
    assert sigmas == sorted(sigmas) and math.isfinite(sigmas[-1])


def test_the_specs_max_epochs_sizes_the_noise(monkeypatch):
    """The spec's max_epochs, not the job's total_epochs the node passes, is the bound."""
    monkeypatch.setattr(P, "fresh_seed", lambda: 5)
    bounded = PrivacySpec("dp-sgd", 8.0, 1e-5, 1.0, max_epochs=2)
    spec = digits_mlp(16).with_privacy(bounded)
    out = trainer.train(spec, None, _data(), epochs=2, seed=1, dp_max_epochs=40)
    assert out.privacy is not None and out.privacy["max_epochs"] == 2
    assert out.privacy["noise_multiplier"] == dp_sgd.plan(bounded, N, 16, 2).noise_multiplier
    assert out.privacy["epsilon_spent"] == pytest.approx(8.0, rel=0.02)
    with pytest.raises(BadInputError, match="3 epochs exceed the bound of 2"):
        trainer.train(spec, None, _data(), epochs=3, seed=1, dp_max_epochs=40)
