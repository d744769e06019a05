"""The simulated federation's first job: a newcomer sees real work within a minute of joining.

Without it a new contributor on "this machine's simulated federation" joins and sees "No
jobs yet". Once the user's node is an active member and the federation has no open job,
one simulated member (which runs the owner role) posts a small digits job, once per
session. The user's node is a member when round 1 opens, so it is assigned epochs, trains,
is judged by the committee and is paid like everyone else: the Jobs, Training and Wallet
tabs show its assignment, loss curve and reward.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from milon_app.chain.bindings import JobStatus
from milon_app.errors import MilonError

if TYPE_CHECKING:
    from milon_app.node.core import NodeCore

log = logging.getLogger(__name__)
ETHER = 10**18
ROUNDS = 3
EPOCHS_PER_MEMBER = 2  # per round, on average: a few seconds of training on digits
REWARD_PER_EPOCH = ETHER


def welcome_request(fed_id: int, members: int) -> Any:
    """A small digits MLP job for ``members`` members; the committee judges on half of the
    dataset's held-out split (the owner scores each round's model on all of it)."""
    from milon_app.compute.datasets import DatasetSpec, load_dataset
    from milon_app.compute.model_spec import digits_mlp
    from milon_app.node.owner import JobRequest

    spec, dataset = digits_mlp(), DatasetSpec(kind="builtin", name="digits", test_fraction=0.2)
    data = load_dataset(dataset).for_model(spec)
    half = int(data.x_test.shape[0]) // 2
    epochs = EPOCHS_PER_MEMBER * members
    return JobRequest(
        fed_id=fed_id,
        spec=spec,
        dataset=dataset,
        total_epochs=ROUNDS * epochs,
        epochs_per_round=epochs,
        reward_per_epoch=REWARD_PER_EPOCH,
        validation=(data.x_test[:half], data.y_test[:half]),
    )


class WelcomeJob:
    """Posts the welcome job once ``user`` is a member (called from the session's driver)."""

    def __init__(self, poster: NodeCore, user: str, fed_id: int) -> None:
        self.poster, self.user, self.fed_id = poster, user, fed_id
        self.job_id: int | None = None
        self.done = False

    def step(self) -> None:
        if self.done:
            return
        m = self.poster.milon
        if not m.member(self.fed_id, self.user).active:
            return
        self.done = True  # once per session, whatever happens next
        for job_id in range(1, m.job_count() + 1):
            job = m.job(job_id)
            if job.params.fed_id == self.fed_id and job.status is JobStatus.OPEN:
                return  # there is work already
        members = len(m.active_members(self.fed_id))
        try:
            self.job_id = self.poster.owner.create_job(welcome_request(self.fed_id, members))
        except MilonError as exc:
            log.warning("the simulated federation could not post its first job: %s", exc)
