"""The demo leaves no job open behind it: leftover epochs are cancelled and refunded."""

from __future__ import annotations

from milon_app.chain.bindings import JobStatus, Milon
from milon_app.chain.client import ChainClient
from milon_app.chain.deploy import deploy_suite
from milon_app.demo import DemoAttach, DemoOptions, run_demo
from milon_app.node.bus import EventBus


def test_a_demo_with_a_rejected_update_ends_its_job_and_slashes_no_honest_node():
    """A sign-flipper's update is rejected, so its epochs go back to the job and keepers
    would open rounds past the demo's last for nodes that stop: the job must end. (The
    driver's rule does not depend on the chain: the embedded one is enough.)"""
    client = ChainClient.embedded()
    suite = deploy_suite(client, client.dev_accounts[0], dev=True)
    opts = DemoOptions(nodes=4, rounds=1, byzantine=1, attack="signflip", transport="inprocess",
                       governance=False, baseline=False)
    report = run_demo(opts, attach=DemoAttach(suite, client.dev_accounts[:5], EventBus()))
    job = Milon(suite).job(report.job_id)
    assert report.rounds[0].rejected, "the attacker's update was expected to be rejected"
    assert job.status in (JobStatus.COMPLETED, JobStatus.CANCELLED)
    assert job.escrow_remaining == 0
    honest = [n["address"] for n in report.nodes if n["behaviour"] == "honest"]
    assert honest and all(report.slashed.get(a, 0) == 0 for a in honest)
    # any round a keeper opened past the demo's last took no honest stake either
    assert all(Milon(suite).member(1, a).stake == 50 * 10**18 for a in honest)


def test_the_driver_ticks_nodes_at_once():
    """Every tick mostly waits on the chain or a peer; separate machines would wait in
    parallel, so the driver must not add the waits up: two ticks meet at a barrier."""
    import threading
    from types import SimpleNamespace

    from milon_app.demo_driver import drive_round

    meet = threading.Barrier(2, timeout=10)
    closed = threading.Event()

    class Node:
        def tick(self) -> bool:
            meet.wait()  # BrokenBarrierError when the other node is not ticked meanwhile
            closed.set()
            return False

    rnd = SimpleNamespace(finalized=True, timed_out=False)
    milon = SimpleNamespace(
        job=lambda _j: SimpleNamespace(current_round=1 if closed.is_set() else 0),
        round=lambda _j, _r: rnd,
    )
    owner = Node()
    owner.milon = milon  # type: ignore[attr-defined]
    owner.tick = lambda: False  # type: ignore[method-assign]
    client = SimpleNamespace(block_number=lambda: 1, is_dev=True, increase_time=lambda _s: None)
    drive_round(client, [Node(), Node()], owner, job_id=1, r=1)
    assert closed.is_set()
