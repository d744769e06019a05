"""A demo federation under client-dp (issue 23): every member clips and noises its update
before committing, the committee (whose checks judge each update against the round) accepts
every honest noised update, and a sign-flip attacker that noises like everyone is still
rejected and slashed. The noise seed is OS randomness in production; the client-dp test
counts seeds out in the order the members ask (which their threads decide), the dp-sgd test
derives each member's from its own training run, so that run repeats exactly."""

from __future__ import annotations

import hashlib
import itertools
from pathlib import Path
from typing import Any

import pytest

from milon_app.compute.model_spec import digits_mlp
from milon_app.demo import DemoOptions, run_demo
from milon_app.errors import BadInputError
from milon_app.federation import privacy as P
from milon_app.federation.policy import Reason, Verdict
from milon_app.federation.verdicts import judge_round
from milon_app.node import committee

ROUNDS = 3


def test_honest_noised_updates_pass_and_a_sign_flipper_is_still_caught(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
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


# which noise every member draws: the assertions held for every value of 0 to 23 (see the
# test's docstring); with 5 the attacker is rejected in round 1, so slashed, and sits out
# round 2, and its round-3 update is accepted, so both kinds of verdict on it are checked
NOISE_BASE = 5


def _reproducible_noise(monkeypatch: pytest.MonkeyPatch, base: int) -> None:
    """Each member's dp-sgd noise seed follows its own training run (job, round, address)
    instead of the order the members' training threads ask for one, so a run repeats."""

    def seed_for(run_seed: int) -> int:
        tag = f"{base}:{run_seed}".encode()
        return int.from_bytes(hashlib.sha256(tag).digest()[:8], "big") >> 1

    monkeypatch.setattr(P, "noise_seed", seed_for)


def _record_verdicts(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Verdict]]:
    """Every validator's verdicts of every round, with their metrics, as judge_round gave them."""
    calls: list[dict[str, Verdict]] = []
    real = judge_round

    def judge(*args: Any, **kwargs: Any) -> dict[str, Verdict]:
        out = real(*args, **kwargs)
        calls.append(out)
        return out

    monkeypatch.setattr(committee, "judge_round", judge)
    return calls


def run_dp_sgd_signflip(
    monkeypatch: pytest.MonkeyPatch, workdir: Path, base: int = NOISE_BASE
) -> tuple[Any, list[dict[str, Verdict]]]:
    """The demo of the dp-sgd test below, and every verdict its committees gave."""
    _reproducible_noise(monkeypatch, base)
    verdicts = _record_verdicts(monkeypatch)
    opts = DemoOptions(
        nodes=4, rounds=3, epochs_per_round=12, byzantine=1, attack="signflip",
        transport="inprocess", governance=False, baseline=False, workdir=workdir,
        dp="dp-sgd", dp_epsilon=8.0, dp_max_epochs=12,
    )  # fmt: skip
    return run_demo(opts), verdicts


def check_dp_sgd_signflip(rep: Any, verdicts: list[dict[str, Verdict]]) -> None:
    attacker = rep.nodes[-1]["address"]
    honest = [n["address"] for n in rep.nodes[:-1]]
    assert [row.outcome for row in rep.rounds] == ["finalized"] * 3
    for row in rep.rounds:
        assert not set(row.rejected) & set(honest), row.rejected
        assert sum(row.epochs.values()) == 12  # every epoch trained, declined ones re-split
    assert all(rep.slashed[a] == 0 for a in honest)
    assert all(v.accepted for judged in verdicts for a, v in judged.items() if a in honest)
    # the attacker's update, whenever it sent one, looks harmful on every validator's data:
    # a loss far over the round's limit and a mean better without it; where that is not
    # enough for HARMFUL, aggregation still clips it to the round's median step
    on_attacker = [judged[attacker] for judged in verdicts if attacker in judged]
    assert on_attacker
    for v in on_attacker:
        m = v.metrics
        assert v.reason in (Reason.ACCEPTED, Reason.HARMFUL), v
        assert m["loss"] > m["loss_limit"] and m["loo"] < 0, v.detail
        assert v.reason is Reason.HARMFUL or m["clip_scale"] <= 0.2, v.detail
    caught = [attacker in row.rejected for row in rep.rounds if row.epochs[attacker]]
    assert (rep.slashed[attacker] > 0) == any(caught)
    taken = {a: sum(row.epochs[a] for row in rep.rounds) for a in [*honest, attacker]}
    assert all(epochs <= 12 for epochs in taken.values()), taken
    last = rep.rounds[-1].epochs
    declined = [a for a in honest if rep.rounds[0].epochs[a] > 0 and last[a] == 0]
    assert declined, [row.epochs for row in rep.rounds]  # a member near its bound stepped out
    priv = rep.privacy
    assert priv["mode"] == "dp-sgd" and priv["delta"] == 1e-5 and priv["max_epochs"] == 12
    assert 0 < priv["epsilon_spent"] <= 8.0 + 1e-9 and 0 < priv["sample_rate"] < 1
    assert priv["noise_multiplier"] > 0 and set(priv["members"]) <= {*honest, attacker}


def test_dp_sgd_honest_updates_pass_and_a_sign_flipper_stands_out(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """dp-sgd: members train with per-sample clipping and noise; the committee accepts every
    honest update, and a sign-flip x10 attacker that trained the same way is judged far
    worse than the round on every validator's data, but rejected only in some rounds.

    Measured (digits; docs/aggregation.md, Verdicts under dp-sgd): with NOISE_BASE 0 to 23
    every assertion here held, no honest verdict was rejected (0 of 768), and the attacker
    was rejected (HARMFUL, then slashed) in 26 of the 48 rounds it took part in (54 %),
    never in 7 of the 24 runs; with the seeds counted out in
    the order the members' threads asked (this test before, not repeatable) 34 of 48, never
    in 4 of 24 runs. Its loss was 6.5 to 208 x the round's median, always over the limit,
    and the mean always better without it; in rounds of four its clipped update's
    leave-one-out harm stays under the margin, and unless its loss passes the absurd limit
    (about 101 x the median) it passes, clipped to the median step (clip scale <= 0.15).

    Each member may train at most 12 of the job's 36 epochs (privacy.max_epochs): shares
    follow capacity (1/2/4/5 of 12), so before round 3 the members whose epochs so far plus
    the round's share cap (6) would pass 12 decline, its epochs go to those that accepted,
    the round still trains all 12 and nobody honest is slashed for declining."""
    rep, verdicts = run_dp_sgd_signflip(monkeypatch, tmp_path)
    check_dp_sgd_signflip(rep, verdicts)


def test_demo_refuses_bad_dp_options() -> None:
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
def test_demo_default_bound_is_twice_a_members_share(nodes: int, rounds: int, bound: int) -> None:
    """4 nodes x 8 rounds x 20 epochs: 160 in all, 40 a member, bound 80; 2 nodes: the total."""
    opts = DemoOptions(nodes=nodes, rounds=rounds, dp="dp-sgd", dp_epsilon=8.0)
    assert (
        opts.privacy.max_epochs
        == bound
        == min(opts.total_epochs, -(-2 * opts.total_epochs // nodes))
    )
    assert DemoOptions(dp="dp-sgd", dp_epsilon=8.0, dp_max_epochs=160).privacy.max_epochs == 160
