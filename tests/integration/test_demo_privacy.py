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
    what the members' accountants said. Each member may train at most 12 of the job's 36
    epochs (privacy.max_epochs): shares follow capacity (about 1/2/4/5 of 12), so before
    round 3 the members whose epochs so far plus the round's share cap (6) would pass 12
    decline, its epochs go to those that accepted, the round still trains all 12 and nobody
    honest is slashed for declining (epochs and stakes as the chain records them)."""
    seeds = itertools.count(1)
    monkeypatch.setattr(P, "fresh_seed", lambda: next(seeds))
    opts = DemoOptions(
        nodes=4, rounds=3, epochs_per_round=12, byzantine=1, attack="signflip",
        transport="inprocess", governance=False, baseline=False, workdir=tmp_path,
        dp="dp-sgd", dp_epsilon=8.0, dp_max_epochs=12,
    )  # fmt: skip
    rep = run_demo(opts)
    attacker = rep.nodes[-1]["address"]
    honest = [n["address"] for n in rep.nodes[:-1]]
    assert [row.outcome for row in rep.rounds] == ["finalized"] * 3
    for row in rep.rounds:
        assert not set(row.rejected) & set(honest), row.rejected
        assert sum(row.epochs.values()) == 12  # every epoch trained, declined ones re-split
    assert any(attacker in row.rejected for row in rep.rounds)
    assert rep.slashed[attacker] > 0 and all(rep.slashed[a] == 0 for a in honest)
    taken = {a: sum(row.epochs[a] for row in rep.rounds) for a in [*honest, attacker]}
    assert all(epochs <= 12 for epochs in taken.values()), taken
    last = rep.rounds[-1].epochs
    declined = [a for a in honest if rep.rounds[0].epochs[a] > 0 and last[a] == 0]
    assert declined, [row.epochs for row in rep.rounds]  # a member near its bound stepped out
    priv = rep.privacy
    assert priv["mode"] == "dp-sgd" and priv["delta"] == 1e-5 and priv["max_epochs"] == 12
    assert 0 < priv["epsilon_spent"] <= 8.0 + 1e-9 and 0 < priv["sample_rate"] < 1
    assert priv["noise_multiplier"] > 0 and set(priv["members"]) <= {*honest, attacker}


def test_demo_refuses_bad_dp_options():
    with pytest.raises(BadInputError, match=r"--dp-epsilon 0.0 is not in \(0, 100\]"):
        DemoOptions(dp="client-dp").check()
    with pytest.raises(BadInputError, match=r"--dp-epsilon 0.0 is not in \(0, 100\]"):
        DemoOptions(dp="dp-sgd").check()
    DemoOptions(dp="client-dp", dp_epsilon=8.0).check()
    DemoOptions(dp="dp-sgd", dp_epsilon=8.0).check()
    with pytest.raises(
        BadInputError, match="--dp-max-epochs 161 is over the job's total_epochs 160"
    ):
        DemoOptions(dp="dp-sgd", dp_epsilon=8.0, dp_max_epochs=161).check()
    with pytest.raises(
        BadInputError, match="--dp-max-epochs 9 is below one round's share cap of 10"
    ):
        DemoOptions(dp="dp-sgd", dp_epsilon=8.0, dp_max_epochs=9).check()  # 20 epochs, 4 nodes
    DemoOptions(dp="dp-sgd", dp_epsilon=8.0, dp_max_epochs=10).check()
    with pytest.raises(BadInputError, match="--dp-max-epochs is for mode 'dp-sgd' only"):
        DemoOptions(dp="client-dp", dp_epsilon=8.0, dp_max_epochs=10).check()


@pytest.mark.parametrize(("nodes", "rounds", "bound"), [(4, 8, 80), (2, 3, 30), (64, 1, 10)])
def test_demo_default_bound_is_twice_a_members_share(nodes, rounds, bound):
    """4 nodes x 8 rounds x 20 epochs: 160 in all, 40 a member, bound 80; 2 nodes: the total."""
    opts = DemoOptions(nodes=nodes, rounds=rounds, dp="dp-sgd", dp_epsilon=8.0)
    assert (
        opts.privacy.max_epochs
        == bound
        == min(opts.total_epochs, -(-2 * opts.total_epochs // nodes))
    )
    assert DemoOptions(dp="dp-sgd", dp_epsilon=8.0, dp_max_epochs=160).privacy.max_epochs == 160
