"""A newcomer joins the simulated federation and, with no job created by anyone, the Jobs,
Training and Wallet tabs show its own assignment, loss curve and reward (issue 20 item 5)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from milon_app.gui.tabs.jobs import JobsTab
from milon_app.gui.tabs.training import TrainingTab
from milon_app.gui.tabs.wallet import WalletTab
from tests.gui.conftest import refreshed, wait_until

ETHER = 10**18


@pytest.fixture
def session(tmp_path) -> Iterator[Any]:
    from eth_account import Account

    from milon_app.config import Config
    from milon_app.session.session import Session, SessionOptions

    acct = Account.from_key(b"\x12" * 32)  # THROWAWAY test key
    s = Session(Config(), tmp_path, acct, SessionOptions(transport="inprocess", tick_s=0.1))
    s.start()
    try:
        yield s
    finally:
        s.stop()


def test_a_newcomer_sees_its_assignment_loss_curve_and_reward(qtbot, ctx):
    s = ctx.session
    jobs, training, wallet = JobsTab(ctx), TrainingTab(ctx), WalletTab(ctx)
    for tab in (jobs, training, wallet):
        qtbot.addWidget(tab)
    s.core.join(1, 20 * ETHER, 400, "inprocess")

    def my_rows() -> int:
        refreshed(qtbot, jobs)
        return jobs.assignments.rowCount()

    wait_until(qtbot, lambda: my_rows() > 0, 60_000)
    assert s.milon.job(1).owner == s.sim.peers[0].address  # posted by a simulated member
    wait_until(qtbot, lambda: training.job_id == 1 and training.node == s.address, 60_000)
    wait_until(qtbot, lambda: training.loss_curve.getData()[0] is not None, 60_000)  # then an array
    wait_until(qtbot, lambda: len(training.loss_curve.getData()[0]) > 0, 60_000)
    points = len(training.loss_curve.getData()[0])  # a few epochs: each step drawn as a dot
    assert (training.loss_curve.opts["symbol"] is not None) == (points <= 30)
    wait_until(qtbot, lambda: s.milon.claimable(s.address) > 0, 120_000)
    refreshed(qtbot, wallet)
    assert wallet.claim_button.isEnabled()
