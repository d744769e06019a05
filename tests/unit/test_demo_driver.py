"""The demo leaves no job open behind it: leftover epochs are cancelled and refunded."""

from __future__ import annotations

from milon_app.chain.bindings import JobStatus
from milon_app.demo import DemoAttach, DemoOptions, run_demo
from milon_app.node.bus import EventBus


def test_a_demo_with_a_rejected_update_ends_its_job_and_slashes_no_honest_node(client, suite):
    """A sign-flipper's update is rejected, so its epochs go back to the job and keepers
    would open rounds past the demo's last for nodes that stop: the job must end."""
    accounts = client.dev_accounts[:5]
    opts = DemoOptions(nodes=4, rounds=1, byzantine=1, attack="signflip", transport="inprocess",
                       governance=False, baseline=False)
    report = run_demo(opts, attach=DemoAttach(suite, accounts, EventBus()))
    from milon_app.chain.bindings import Milon

    m = Milon(suite)
    job = m.job(report.job_id)
    assert report.rounds[0].rejected, "the attacker's update was expected to be rejected"
    assert job.status in (JobStatus.COMPLETED, JobStatus.CANCELLED)
    assert job.escrow_remaining == 0
    honest = [n["address"] for n in report.nodes if n["behaviour"] == "honest"]
    assert honest and all(report.slashed.get(a, 0) == 0 for a in honest)
