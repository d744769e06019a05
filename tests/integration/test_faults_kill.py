"""kill -9 at exact phases of a round, on anvil with real daemons talking libp2p on loopback.

test_daemons.py kills a contributor somewhere in a round; these pin the
phase down and prove it: a contributor killed *while training* (metrics
rows written, nothing committed), a contributor killed *between its commit
and its reveal* (commitment on chain, reveal not yet possible), and a
validator killed before it could propose. After each: no double commit, no
lost or doubled reward, no slash of the honest node, and the job completes.

Members (one federation for the module, a job per test): c0 (capacity 600,
the training victim: it gets most epochs of a CNN job, so its training lasts
seconds), c1 (capacity 200), v (capacity 1 and accept_mode "never": a
validator that holds no epochs), and a silent holder account (see
fault_helpers) that keeps each round's commit phase open until the test
releases it (it declines, and its epochs go to the others). Quorum 2 of the validators c0, c1, v.
"""

from __future__ import annotations

import time

import pytest

from milon_app.chain.bindings import AssignmentState
from tests.integration.fault_helpers import ETHER, STAKE, Federation, Member

pytestmark = [pytest.mark.slow, pytest.mark.anvil]
COMMITTED = AssignmentState.COMMITTED


@pytest.fixture(scope="module")
def fed(tmp_path_factory):
    f = Federation.start(
        tmp_path_factory.mktemp("faults-kill"),
        [
            Member("c0", 600, "0/2"),
            Member("c1", 200, "1/2"),
            Member("v", 1, "0/2", 'accept_mode = "never"\n'),
        ],
        holder_capacity=100,
    )
    try:
        yield f
    finally:
        codes = f.close()
    assert all(c == 0 for c in codes.values()), codes


def _paid(fed: Federation, job: int, name: str) -> int:
    """Checks a member's pay for a job: round 1 credited exactly once for the epochs it
    held, no round twice, stake untouched; returns the job's total credit."""
    who = fed.nodes[name].address
    paid = fed.member_events("RewardCredited", job, who)
    rounds = [e.args["round"] for e in paid]
    assert rounds.count(1) == 1, f"{name} credited {rounds.count(1)} times for round 1"
    assert len(rounds) == len(set(rounds)), f"{name} credited twice for a round: {rounds}"
    epochs = fed.milon.assignment(job, 1, who).epochs
    assert next(e for e in paid if e.args["round"] == 1).args["amount"] == epochs * ETHER
    assert fed.milon.member(fed.fed, who).stake == STAKE, f"{name} was slashed"
    return sum(int(e.args["amount"]) for e in paid)


def _recorded_locally(fed: Federation, job: int, name: str, amount: int) -> None:
    node = fed.nodes[name]
    fed.wait(f"{name} to record its rewards locally",
             lambda: sum(int(a) for (a,) in node.query(
                 "SELECT amount FROM rewards WHERE job_id=?", (job,))) == amount, 60)


def test_contributor_killed_during_training_retrains_once_and_is_paid(fed):
    fed.ensure_running()
    t0 = time.monotonic()
    c0 = fed.nodes["c0"]
    claimable0 = fed.milon.claimable(c0.address)
    job = fed.create_job(model="digits-cnn", epochs=12, per_round=12)

    def training() -> bool:
        if not fed.round_started(job):
            return False
        rows = c0.query("SELECT count(*) FROM metrics WHERE job_id=? AND round=1", (job,))
        return rows[0][0] > 0

    fed.wait("c0 to be training round 1", training, 240, poll_s=0.05)
    c0.kill9()
    steps_at_kill = c0.query("SELECT count(*) FROM metrics WHERE job_id=?", (job,))[0][0]
    # the phase, proven after the fact: accepted on chain, no commitment anywhere
    assert fed.state(job, "c0") is AssignmentState.ACCEPTED
    assert c0.query("SELECT count(*) FROM commits WHERE job_id=?", (job,)) == [(0,)]
    assert not [e for e in c0.events("TrainingFinished") if e["job_id"] == job]

    c0.start()
    fed.wait("the restarted c0 to train again and commit", lambda: fed.state(job, "c0") is COMMITTED,
             240)
    fed.release(job)
    fed.finish(job)

    assert len(fed.member_events("UpdateCommitted", job, c0.address, 1)) == 1
    assert len(fed.member_events("UpdateRevealed", job, c0.address, 1)) == 1
    retrained = [e for e in c0.events("TrainingFinished", since_start=c0.starts)
                 if e["job_id"] == job and e["round"] == 1]
    assert len(retrained) == 1
    amount = _paid(fed, job, "c0")
    assert fed.milon.claimable(c0.address) == claimable0 + amount
    _recorded_locally(fed, job, "c0", amount)
    _paid(fed, job, "c1")
    print(f"\nkill during training: {steps_at_kill} steps done at the kill; "
          f"wall {time.monotonic() - t0:.1f}s")


def test_contributor_killed_between_commit_and_reveal_reveals_its_commitment(fed):
    fed.ensure_running()
    t0 = time.monotonic()
    c1 = fed.nodes["c1"]
    job = fed.create_job()
    fed.wait("c1 to commit", lambda: fed.round_started(job) and fed.state(job, "c1") is COMMITTED,
             240, poll_s=0.1)
    c1.kill9()
    # the holder keeps the commit phase open: c1 could not have revealed yet
    assert fed.state(job, "c1") is COMMITTED
    (rec,) = c1.query(
        "SELECT update_hash, committed, revealed FROM commits WHERE job_id=? AND round=1", (job,)
    )
    update_hash, _, revealed = rec
    assert revealed == 0

    c1.start()
    fed.wait("the restarted c1 to start", lambda: c1.events("NodeStarted", since_start=c1.starts),
             120)
    fed.wait("c0 to commit", lambda: fed.state(job, "c0") is COMMITTED, 240)
    fed.release(job)
    fed.finish(job)

    commits = fed.member_events("UpdateCommitted", job, c1.address, 1)
    reveals = fed.member_events("UpdateRevealed", job, c1.address, 1)
    assert len(commits) == 1 and len(reveals) == 1
    assert reveals[0].args["updateHash"].hex() == update_hash  # the salted commitment, kept
    second_life = [e for e in c1.events(since_start=c1.starts)
                   if e.get("job_id") == job and e.get("round") == 1]
    assert not [e for e in second_life
                if e["event"] in ("TrainingProgress", "TrainingFinished", "UpdateCommitted")
                ], "the restarted node trained or committed round 1 again"
    assert [e for e in second_life if e["event"] == "UpdateRevealed"]
    amount = _paid(fed, job, "c1")
    _recorded_locally(fed, job, "c1", amount)
    _paid(fed, job, "c0")
    print(f"\nkill between commit and reveal: wall {time.monotonic() - t0:.1f}s")


def test_validator_killed_quorum_completes_with_the_others(fed):
    fed.ensure_running()
    t0 = time.monotonic()
    v = fed.nodes["v"]
    job = fed.create_job()
    fed.wait("c0 and c1 to commit",
             lambda: fed.round_started(job)
             and fed.state(job, "c0") is COMMITTED and fed.state(job, "c1") is COMMITTED, 240)
    assert fed.milon.assignment(job, 1, v.address).epochs == 0  # v holds no work: a pure validator
    v.kill9()
    fed.release(job)
    fed.finish(job, dead_ok=("v",))

    rounds = fed.milon.job(job).current_round
    for r in range(1, rounds + 1):
        assert not fed.milon.has_proposed(job, r, v.address)
        proposed = [e.args["validator"] for e in fed.chain_events("RoundProposed")
                    if e.args["jobId"] == job and e.args["round"] == r]
        assert sorted(proposed) == sorted([fed.nodes["c0"].address, fed.nodes["c1"].address])
    final = {e.args["round"]: e.args["acceptedCount"] for e in fed.chain_events("RoundFinalized")
             if e.args["jobId"] == job}
    assert final[1] == 2  # c0 and c1 both accepted: v's absence cost nobody anything
    for r in range(2, rounds + 1):  # epochs the holder gave back, trained by whoever got them
        revealed = [n for n in ("c0", "c1") if fed.state(job, n, r) is AssignmentState.REVEALED]
        assert final[r] == len(revealed)
    _paid(fed, job, "c0")
    _paid(fed, job, "c1")
    assert fed.milon.member(fed.fed, fed.holder.address).stake == 100 * ETHER  # declined: no slash

    v.start()  # back: it catches up from chain events and finds nothing left to do
    fed.wait("the restarted v to start", lambda: v.events("NodeStarted", since_start=v.starts), 120)
    code, status, _ = v.status()
    assert code == 0 and status["chain"] == "connected", status
    assert not [e for e in v.events("ProposalSubmitted", since_start=v.starts)
                if e["job_id"] == job]
    print(f"\nvalidator killed: wall {time.monotonic() - t0:.1f}s")
