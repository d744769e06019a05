"""Colluding members decline a round after an honest dp-sgd member accepted it, so the
contract re-splits their epochs onto it (up to the round's share cap), hoping to push it past
its own privacy ceiling (``privacy.max_epsilon``; the job's ``max_epochs`` works the same).

v1: the node weighed only the epochs first assigned; it accepted, the re-split doubled them
and it trained past the ceiling it had set. v2: the decision budgets for the round's share
cap (``privacy_budget.Budget.epsilon_worst``): a round that could push it past is declined
(a decline is not a slash), so whatever the others do it stays within its ceiling.
"""

from __future__ import annotations

import torch

from milon_app.compute import dp_sgd
from milon_app.compute.datasets import DatasetSpec
from milon_app.compute.model_spec import digits_mlp
from milon_app.compute.privacy_spec import PrivacySpec
from milon_app.node.contributor import Contributor
from milon_app.node.jobs import JobContext
from milon_app.node.policy import AcceptPolicy
from milon_app.node.privacy_budget import EPSILON_SLACK
from milon_app.node.services import RoleServices, RoleSettings
from milon_app.node.state import StateDB

SAMPLES = 288  # the victim's data: 9 steps an epoch at batch 32
SGD = PrivacySpec("dp-sgd", 8.0, 1e-5, 1.0)


def test_declines_pushed_onto_a_member_cannot_take_it_past_its_ceiling(world, tmp_path):
    victim, *colluders = world.members[:4]
    fed = world.federation([victim, *colluders])  # equal capacities: 2 epochs each of 8
    job_id = world.job(fed, totalEpochs=16, epochsPerRound=8)
    world.honest_round(job_id, [victim, *colluders], b"\x11" * 32)  # 2 epochs each, on chain
    r = world.start(job_id)
    before = world.epochs(job_id, 1, victim)
    assigned = world.epochs(job_id, r, victim)
    cap = world.milon.round(job_id, r).share_cap
    assert 0 < assigned < cap  # room for a re-split to add epochs

    plan = dp_sgd.plan(SGD, SAMPLES, 32, 16)
    ceiling = plan.epsilon(before + assigned)  # the assigned epochs fit it exactly
    data = (torch.zeros(SAMPLES, 64), torch.zeros(SAMPLES, dtype=torch.int64))
    node = Contributor(
        RoleServices(
            milon=world.milon,
            account=victim,
            state=StateDB(tmp_path / "state.db"),
            store=None,  # type: ignore[arg-type]
            transport=None,  # type: ignore[arg-type]
            worker=None,  # type: ignore[arg-type]
            publish=lambda e: None,
            settings=lambda: RoleSettings(policy=AcceptPolicy(max_epsilon=ceiling)),
            training_data=lambda ctx, rr: data,
        )
    )
    ctx = JobContext(
        job_id,
        world.milon.job(job_id),
        digits_mlp().with_privacy(SGD),
        DatasetSpec("builtin", "digits"),
    )
    node._decide(ctx, r, assigned, eligible=True)
    for m in colluders:  # after the victim decided: their epochs are re-split
        world.milon.decline(m, job_id, r)

    trains = world.epochs(job_id, r, victim)  # what it would train when acceptance closes
    assert plan.epsilon(before + trains) <= ceiling + EPSILON_SLACK, (before, assigned, trains)
    assert world.slashed().get(victim.address, 0) == 0
