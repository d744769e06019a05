"""A contributor's privacy ceiling (issue 23): before accepting a round of a client-dp or
dp-sgd job the node adds this round's epsilon to what it spent on the job and declines,
saying why, when that would pass its ``privacy.max_epsilon`` or the job's own target.
Under dp-sgd a round costs the RDP epsilon of its epochs' steps at the node's sample rate
on top of the epochs it accepted before (its state DB, or the chain's records)."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
import torch

from milon_app.chain.bindings import AggregationRule, AssignmentState, Job, JobParams, JobStatus
from milon_app.compute import dp_sgd
from milon_app.compute.datasets import DatasetSpec
from milon_app.compute.model_spec import digits_mlp
from milon_app.compute.privacy_spec import PrivacySpec
from milon_app.config import config_from_dict
from milon_app.errors import BadInputError
from milon_app.federation import privacy as P
from milon_app.node import events as ev
from milon_app.node.build import options_from_config
from milon_app.node.contributor import Contributor
from milon_app.node.jobs import JobContext
from milon_app.node.policy import AcceptPolicy
from milon_app.node.privacy_budget import budget, decline_reason, round_budget, sgd_budget
from milon_app.node.services import RoleServices, RoleSettings
from milon_app.node.state import StateDB

ROUNDS = 4  # 48 epochs, 12 a round
SAMPLES = 300  # the node's data: 10 steps an epoch at batch 32 (dp-sgd)


def _ctx(privacy: PrivacySpec) -> JobContext:
    params = JobParams(
        1, b"\1" * 32, b"\2" * 32, b"\3" * 32, 48, 12, 10**18, AggregationRule.FEDAVG, 0, 3600
    )
    job = Job("0x" + "11" * 20, params, b"\3" * 32, 1, 0, 48 * 10**18, JobStatus.OPEN, b"\0" * 32)
    spec = digits_mlp().with_privacy(privacy)
    return JobContext(7, job, spec, DatasetSpec(kind="builtin", name="digits"))


DP8 = PrivacySpec("client-dp", 8.0, 1e-5, 1.0)


def test_budget_follows_the_accountant():
    b = budget(_ctx(DP8), rounds_before=2)
    assert b is not None
    sigma = P.noise_multiplier(8.0, 1e-5, ROUNDS)
    assert b.sigma == sigma
    assert b.epsilon_before == P.epsilon_spent(sigma, 2, 1e-5)
    assert b.epsilon_after == P.epsilon_spent(sigma, 3, 1e-5)
    assert budget(_ctx(PrivacySpec()), 2) is None  # no privacy: nothing to count


def test_ceiling_and_job_target_decline_with_a_reason():
    ctx = _ctx(DP8)
    first = budget(ctx, 0)
    assert first is not None
    assert decline_reason(ctx, first, 0.0) is None  # no ceiling, within the job's plan
    assert decline_reason(ctx, first, first.epsilon_after) is None  # exactly at the ceiling
    why = decline_reason(ctx, first, first.epsilon_round / 2)
    assert why is not None and "over this node's ceiling privacy.max_epsilon" in why
    last = budget(ctx, ROUNDS - 1)
    assert last is not None and decline_reason(ctx, last, 0.0) is None  # the plan's last round
    extra = budget(ctx, ROUNDS)  # a round past the plan (epochs left by rejected updates)
    assert extra is not None
    why = decline_reason(ctx, extra, 0.0)
    assert why is not None and "over the job's target epsilon=8" in why


_TAKEN = (AssignmentState.ACCEPTED, AssignmentState.COMMITTED, AssignmentState.REVEALED)


class _Milon:
    """The chain as far as the contributor's decision reads and writes it."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, int, int]] = []
        self.states: dict[tuple[int, int], AssignmentState] = {}
        self.share_cap = 12  # the most a round's re-splits can give this node
        self.epochs = 12  # what each round it took gave it

    def accept(self, account: object, job_id: int, r: int) -> None:
        raise AssertionError("a member that commits accepts by its commit, not by `accept`")

    def decline(self, account: object, job_id: int, r: int) -> None:
        self.sent.append(("decline", job_id, r))
        self.states[job_id, r] = AssignmentState.DECLINED

    def round(self, job_id: int, r: int) -> SimpleNamespace:
        return SimpleNamespace(share_cap=self.share_cap)

    def assignment(self, job_id: int, r: int, who: str) -> SimpleNamespace:
        state = self.states.get((job_id, r), AssignmentState.NONE)
        return SimpleNamespace(
            state=state, epochs=0 if state is AssignmentState.NONE else self.epochs
        )

    def taken_before(self, job_id: int, r: int, who: str) -> tuple[int, int]:
        """The contract's running totals: rounds before ``r`` taken on, and their epochs."""
        taken = [
            rr for (j, rr), st in self.states.items() if j == job_id and rr < r and st in _TAKEN
        ]
        return len(taken), len(taken) * self.epochs


def _contributor(
    tmp_path, max_epsilon: float, milon: _Milon | None = None, db: str = "state.db"
) -> tuple[Contributor, _Milon, list[ev.Event]]:
    milon, events = milon or _Milon(), []
    data = (torch.zeros(SAMPLES, 64), torch.zeros(SAMPLES, dtype=torch.int64))
    account = SimpleNamespace(address="0x" + "22" * 20)
    services = RoleServices(
        milon=milon,  # type: ignore[arg-type]
        account=account,  # type: ignore[arg-type]
        state=StateDB(tmp_path / db),
        store=None,  # type: ignore[arg-type]
        transport=None,  # type: ignore[arg-type]
        worker=None,  # type: ignore[arg-type]
        publish=events.append,
        settings=lambda: RoleSettings(policy=AcceptPolicy(max_epsilon=max_epsilon)),
        training_data=lambda ctx, r: data,
    )
    return Contributor(services), milon, events


def _decide(node: Contributor, milon: _Milon, ctx: JobContext, r: int, epochs: int) -> None:
    """The node's decision; an accepted round then goes on to a released update (a member
    that commits accepts by its commit: no ``accept`` transaction, so the chain's record of
    the round is the commit and reveal that follow)."""
    node._decide(ctx, r, epochs, eligible=True)
    if node.services.state.assignment_decision(ctx.job_id, r) == "accepted":
        milon.sent.append(("accept", ctx.job_id, r))
        milon.states[ctx.job_id, r] = AssignmentState.REVEALED


def test_node_declines_the_round_that_would_cross_its_ceiling(tmp_path):
    ctx = _ctx(DP8)
    sigma = P.noise_multiplier(8.0, 1e-5, ROUNDS)
    ceiling = (P.epsilon_spent(sigma, 2, 1e-5) + P.epsilon_spent(sigma, 3, 1e-5)) / 2
    node, milon, events = _contributor(tmp_path, ceiling)
    for r in (1, 2, 3):
        _decide(node, milon, ctx, r, 12)
    assert milon.sent == [("accept", 7, 1), ("accept", 7, 2), ("decline", 7, 3)]
    said = [e for e in events if isinstance(e, ev.AssignmentDecision)]
    assert [e.accepted for e in said] == [True, True, False]
    assert "privacy.max_epsilon" in said[-1].reason and "job 7" in said[-1].reason
    # a job without privacy is not limited by the ceiling
    plain = _ctx(PrivacySpec())
    _decide(node, milon, plain, 3, 12)
    assert milon.sent[-1] == ("accept", 7, 3)


def test_a_node_that_lost_its_state_db_counts_its_rounds_from_the_chain(tmp_path):
    ctx = _ctx(DP8)
    sigma = P.noise_multiplier(8.0, 1e-5, ROUNDS)
    ceiling = (P.epsilon_spent(sigma, 2, 1e-5) + P.epsilon_spent(sigma, 3, 1e-5)) / 2
    node, milon, _ = _contributor(tmp_path, ceiling)
    for r in (1, 2):
        _decide(node, milon, ctx, r, 12)
    fresh, milon, events = _contributor(tmp_path, ceiling, milon, db="new-state.db")
    _decide(fresh, milon, ctx, 3, 12)  # its new DB remembers nothing; the chain does
    assert milon.sent[-1] == ("decline", 7, 3)
    assert "privacy.max_epsilon" in events[-1].reason  # type: ignore[attr-defined]


def test_config_carries_the_ceiling_to_the_policy():
    cfg = config_from_dict({"privacy": {"max_epsilon": 4.5}})
    assert options_from_config(cfg).policy == AcceptPolicy(max_epsilon=4.5)
    with pytest.raises(BadInputError, match="max_epsilon"):
        AcceptPolicy(max_epsilon=-1.0)
    with pytest.raises(BadInputError, match="max_epsilon"):
        AcceptPolicy(max_epsilon=float("nan"))


SGD8 = PrivacySpec("dp-sgd", 8.0, 1e-5, 1.0)


def _sgd_plan() -> dp_sgd.Plan:
    return dp_sgd.plan(SGD8, SAMPLES, 32, 48)  # the job's total_epochs is the bound


def test_dp_sgd_round_costs_its_steps_on_top_of_the_epochs_before(tmp_path):
    node, _, _ = _contributor(tmp_path, 0.0)
    ctx, p = _ctx(SGD8), _sgd_plan()
    b = round_budget(node.services, ctx, 1, 12)
    assert b == sgd_budget(p, 0, 12)
    assert b.sample_rate == 1 / 10 and b.sigma == p.noise_multiplier
    assert b.epsilon_after == p.epsilon(12) == b.epsilon_round
    assert round_budget(node.services, _ctx(PrivacySpec()), 1, 12) is None
    # the job's bound is within its target; an epoch past it is not, and is declined
    assert decline_reason(ctx, sgd_budget(p, 36, 12), 0.0) is None
    why = decline_reason(ctx, sgd_budget(p, 48, 1), 0.0)
    assert why is not None and "of the job's target epsilon=8: this node reached" in why
    assert "max_epochs=48 (48 epochs taken, 49 after this round)" in why


@pytest.mark.parametrize("lose_state_db", [False, True])
def test_dp_sgd_node_declines_past_its_ceiling_even_after_losing_its_state_db(
    tmp_path, lose_state_db
):
    ctx, p = _ctx(SGD8), _sgd_plan()
    ceiling = (p.epsilon(24) + p.epsilon(36)) / 2
    node, milon, events = _contributor(tmp_path, ceiling)
    for r in (1, 2):
        _decide(node, milon, ctx, r, 12)
    assert node.services.state.accepted_epochs(7, 3) == 24  # what a restart reads
    if lose_state_db:  # a new DB remembers nothing; the chain's assignments do
        node, milon, events = _contributor(tmp_path, ceiling, milon, db="new-state.db")
    _decide(node, milon, ctx, 3, 12)
    assert milon.sent == [("accept", 7, 1), ("accept", 7, 2), ("decline", 7, 3)]
    said = [e for e in events if isinstance(e, ev.AssignmentDecision)]
    assert "privacy.max_epsilon" in said[-1].reason and "job 7" in said[-1].reason


SGD8_BOUND = PrivacySpec("dp-sgd", 8.0, 1e-5, 1.0, max_epochs=20)


def test_dp_sgd_plan_is_sized_for_max_epochs_not_the_jobs_total(tmp_path):
    """A job that bounds each member to 20 of its 48 epochs: less noise, the same target
    reached at 20 epochs, and a node at its bound declines saying so."""
    node, milon, events = _contributor(tmp_path, 0.0)
    ctx = _ctx(SGD8_BOUND)
    b = round_budget(node.services, ctx, 1, 8)
    bounded, whole = dp_sgd.plan(SGD8_BOUND, SAMPLES, 32, 20), _sgd_plan()
    assert b is not None and b.sigma == bounded.noise_multiplier < whole.noise_multiplier
    assert b.max_epochs == 20 and bounded.epsilon(20) == pytest.approx(8.0, rel=0.02)
    assert bounded.epsilon(20) <= 8.0 + 1e-9 < bounded.epsilon(21)
    milon.share_cap = milon.epochs = 8
    for r in (1, 2, 3):  # 8 + 8 = 16 epochs; 8 more would be 24 > 20
        _decide(node, milon, ctx, r, 8)
    assert milon.sent == [("accept", 7, 1), ("accept", 7, 2), ("decline", 7, 3)]
    why = [e for e in events if isinstance(e, ev.AssignmentDecision)][-1].reason
    assert "this node reached the job's max_epochs=20 (16 epochs taken, 24 after" in why


def test_dp_sgd_decision_budgets_for_the_rounds_share_cap(tmp_path):
    """Epochs another member declines are re-split onto those that accepted, up to the
    round's share cap, and the node trains what it holds: so a node whose assigned epochs
    fit but whose cap would not declines (the re-split cannot push it past its bound)."""
    ctx, p = _ctx(SGD8_BOUND), dp_sgd.plan(SGD8_BOUND, SAMPLES, 32, 20)
    fits = sgd_budget(p, 16, 4, share_cap=4)
    assert decline_reason(ctx, fits, 0.0) is None  # exactly the bound
    capped = sgd_budget(p, 16, 4, share_cap=6)
    assert capped.epsilon_after == fits.epsilon_after  # what it would spend if nobody declines
    why = decline_reason(ctx, capped, 0.0)
    assert why is not None and "+ up to 6 epochs this round" in why and "22 after this" in why
