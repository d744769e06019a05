"""A demo federation under client-dp (issue 23): every member clips and noises its update
before committing, the committee (whose checks judge each update against the round) accepts
every honest noised update, and a sign-flip attacker that noises like everyone is still
rejected and slashed. The noise seed is OS randomness in production; here it is counted,
so the run is reproducible."""

from __future__ import annotations

import itertools

import pytest

from milon_app.compute.model_spec import digits_mlp
from milon_app.demo import DemoOptions, run_demo
from milon_app.errors import BadInputError
from milon_app.federation import privacy as P

ROUNDS = 3


def test_honest_noised_updates_pass_and_a_sign_flipper_is_still_caught(monkeypatch, tmp_path):
    seeds = itertools.count(1)
    monkeypatch.setattr(P, "fresh_seed", lambda: next(seeds))
    opts = DemoOptions(
        nodes=4, rounds=ROUNDS, epochs_per_round=12, byzantine=1, attack="signflip",
        transport="inprocess", governance=False, baseline=False, workdir=tmp_path,
        dp="client-dp", dp_epsilon=8.0,
    )  # fmt: skip
    rep = run_demo(opts)
    assert next(seeds) > 3 * ROUNDS  # members noised their updates (one seed each)
    attacker = rep.nodes[-1]["address"]
    honest = [n["address"] for n in rep.nodes[:-1]]
    assert len(rep.rounds) == ROUNDS
    for row in rep.rounds:
        assert row.outcome == "finalized"
        assert not set(row.rejected) & set(honest), row.rejected
        assert all(a in row.accepted for a in honest)
    assert all(rep.slashed[a] == 0 for a in honest)
    assert any(attacker in row.rejected for row in rep.rounds)
    assert rep.slashed[attacker] > 0
    sigma = P.noise_multiplier(8.0, 1e-5, ROUNDS)
    assert rep.privacy["mode"] == "client-dp" and rep.privacy["delta"] == 1e-5
    assert rep.privacy["noise_multiplier"] == sigma
    assert rep.privacy["epsilon_spent"] == P.epsilon_spent(sigma, ROUNDS, 1e-5) <= 8.0
    assert rep.model["spec_hash"] != digits_mlp().spec_hash()  # the setting is in the job


def test_dp_sgd_honest_updates_pass_and_a_sign_flipper_is_still_caught(monkeypatch, tmp_path):
    """dp-sgd: members train with per-sample clipping and noise; the committee accepts the
    honest ones, a sign-flipper that trained the same way is rejected, and the report gives
    what the members' accountants said."""
    seeds = itertools.count(1)
    monkeypatch.setattr(P, "fresh_seed", lambda: next(seeds))
    opts = DemoOptions(
        nodes=4, rounds=2, epochs_per_round=12, byzantine=1, attack="signflip",
        transport="inprocess", governance=False, baseline=False, workdir=tmp_path,
        dp="dp-sgd", dp_epsilon=8.0,
    )  # fmt: skip
    rep = run_demo(opts)
    attacker = rep.nodes[-1]["address"]
    honest = [n["address"] for n in rep.nodes[:-1]]
    for row in rep.rounds:
        assert not set(row.rejected) & set(honest), row.rejected
    assert any(attacker in row.rejected for row in rep.rounds)
    assert rep.slashed[attacker] > 0 and all(rep.slashed[a] == 0 for a in honest)
    priv = rep.privacy
    assert priv["mode"] == "dp-sgd" and priv["delta"] == 1e-5
    assert 0 < priv["epsilon_spent"] <= 8.0 and 0 < priv["sample_rate"] < 1
    assert priv["noise_multiplier"] > 0 and set(priv["members"]) <= {*honest, attacker}


def test_demo_refuses_bad_dp_options():
    with pytest.raises(BadInputError, match=r"--dp-epsilon 0.0 is not in \(0, 100\]"):
        DemoOptions(dp="client-dp").check()
    with pytest.raises(BadInputError, match=r"--dp-epsilon 0.0 is not in \(0, 100\]"):
        DemoOptions(dp="dp-sgd").check()
    DemoOptions(dp="client-dp", dp_epsilon=8.0).check()
    DemoOptions(dp="dp-sgd", dp_epsilon=8.0).check()
