"""kill -9 at exact phases of a round, on anvil with real daemons talking libp2p on loopback.

test_daemons.py kills a contributor somewhere in a round; these pin the
phase down and prove it: a contributor killed *while training* (metrics
rows written, nothing committed), a contributor killed *between its commit
and its reveal* (commitment on chain, reveal not yet possible), and a
committee member killed before it could vote. After each: no double commit,
no lost or doubled reward, no slash of an honest node, and the job
completes.

Members (one federation for the module, a job per test): c0 (capacity 600,
the training victim; a CNN job makes its training last seconds), c1
(capacity 200) and v (capacity 1 and accept_mode "never": it is given no
epochs, a pure validator). Protocol v2: with three members every one sits
on each round's committee, weighted by stake; c0 and c1 stake 50, v stakes
20, so without v both thresholds still hold: 100 of 120 voted (participation
needs two thirds), each update is judged by 50 of the 70 non-author weight,
and c0 + c1 confirm 100 of 120. A member that auto-accepts sends no ``accept``
(issue 18): it trains at once and its commit accepts its epochs, so it stays
Assigned on chain until it commits. Reveals open only once no member is left
Assigned and every member that accepted has committed: freezing c0 (SIGSTOP)
while it trains holds the round between c1's commit and its reveal until
the accept window (300 s) closes, longer than the test needs.
"""

from __future__ import annotations

import time

import pytest

from milon_app.chain.bindings import AssignmentState, Param
from tests.integration.fault_helpers import ETHER, STAKE, Federation, Member

pytestmark = [pytest.mark.slow, pytest.mark.anvil]
COMMITTED = AssignmentState.COMMITTED
V_STAKE = 20 * ETHER
ABSENT = b"absent-validator".ljust(32, b"\0")  # TrainingJobs.SLASH_ABSENT


@pytest.fixture(scope="module")
def fed(tmp_path_factory):
    f = Federation.start(
        tmp_path_factory.mktemp("faults-kill"),
        [
            Member("c0", 600, "0/2"),
            Member("c1", 200, "1/2"),
            Member("v", 1, "0/2", 'accept_mode = "never"\n', stake=V_STAKE),
        ],
    )
    try:
        yield f
    finally:
        codes = f.close()
    assert all(c == 0 for c in codes.values()), codes


def _paid(fed: Federation, job: int, name: str) -> int:
    """Checks a member's pay for a job: round 1 credited exactly once for the epochs it
    held (net of the validators' share), no round twice, stake untouched; returns the job's
    total credit as a contributor."""
    who = fed.nodes[name].address
    paid = fed.member_events("RewardCredited", job, who)
    rounds = [e.args["round"] for e in paid]
    assert rounds.count(1) == 1, f"{name} credited {rounds.count(1)} times for round 1"
    assert len(rounds) == len(set(rounds)), f"{name} credited twice for a round: {rounds}"
    epochs = fed.milon.assignment(job, 1, who).epochs
    assert next(e for e in paid if e.args["round"] == 1).args["amount"] == fed.net_reward(epochs)
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
    # the phase, proven after the fact: accepted locally, still Assigned on chain (its commit
    # would have accepted: no `accept` transaction, issue 18), no commitment anywhere
    assert fed.state(job, "c0") is AssignmentState.ASSIGNED
    assert c0.query("SELECT decision FROM assignments WHERE job_id=? AND round=1",
                    (job,)) == [("accepted",)]
    assert c0.query("SELECT count(*) FROM commits WHERE job_id=?", (job,)) == [(0,)]
    assert not [e for e in c0.events("TrainingFinished") if e["job_id"] == job]

    c0.start()
    fed.wait("the restarted c0 to train again and commit", lambda: fed.state(job, "c0") is COMMITTED,
             240)
    fed.finish(job)

    assert len(fed.member_events("UpdateCommitted", job, c0.address, 1)) == 1
    assert len(fed.member_events("UpdateRevealed", job, c0.address, 1)) == 1
    retrained = [e for e in c0.events("TrainingFinished", since_start=c0.starts)
                 if e["job_id"] == job and e["round"] == 1]
    assert len(retrained) == 1
    amount = _paid(fed, job, "c0")
    # c0 also sat on the committee: its share of the validators' pool is its other income
    judged = sum(fed.validator_pay(job, c0.address).values())
    assert fed.milon.claimable(c0.address) == claimable0 + amount + judged
    _recorded_locally(fed, job, "c0", amount)
    _paid(fed, job, "c1")
    print(f"\nkill during training: {steps_at_kill} steps done at the kill; "
          f"wall {time.monotonic() - t0:.1f}s")


def test_contributor_killed_between_commit_and_reveal_reveals_its_commitment(fed):
    fed.ensure_running()
    t0 = time.monotonic()
    c0, c1 = fed.nodes["c0"], fed.nodes["c1"]
    # a CNN job of a few seconds' training, so that c0 is frozen well before its commit
    job = fed.create_job(model="digits-cnn", epochs=36, per_round=36)

    def c0_accepted() -> bool:
        if not fed.round_started(job):
            return False
        rows = c0.query("SELECT decision FROM assignments WHERE job_id=? AND round=1", (job,))
        return bool(rows == [("accepted",)])

    # c0 accepts by its commit (issue 18): no `accept` transaction; it trains at once and stays
    # Assigned on chain until it commits
    fed.wait("c0 to accept round 1", c0_accepted, 240, poll_s=0.05)
    c0.freeze()  # it cannot commit: its training has just begun
    try:
        assert fed.state(job, "c0") is AssignmentState.ASSIGNED
        fed.wait("c1 to commit", lambda: fed.state(job, "c1") is COMMITTED, 240, poll_s=0.1)
        c1.kill9()
        # c0 is still Assigned (its commit would accept), so commits are still open: c1 could
        # not reveal
        assert fed.state(job, "c1") is COMMITTED and fed.state(job, "c0") is AssignmentState.ASSIGNED
        assert fed.milon.round(job, 1).revealed_count == 0
        (rec,) = c1.query(
            "SELECT update_hash, committed, revealed FROM commits WHERE job_id=? AND round=1",
            (job,),
        )
        update_hash, _, revealed = rec
        assert revealed == 0

        c1.start()
        fed.wait("the restarted c1 to start",
                 lambda: c1.events("NodeStarted", since_start=c1.starts), 120)
    finally:
        c0.thaw()
    fed.wait("c0 to commit", lambda: fed.state(job, "c0") is COMMITTED, 240)
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
    # and it did its committee duty in its second life: one verdict, on c0's update
    assert fed.voted(job, "c1")
    amount = _paid(fed, job, "c1")
    _recorded_locally(fed, job, "c1", amount)
    _paid(fed, job, "c0")
    print(f"\nkill between commit and reveal: wall {time.monotonic() - t0:.1f}s")


def test_committee_member_killed_the_others_finalize_it_loses_only_liveness(fed):
    """v is seated (stake 20 of 120) and dies before the verdicts: c0 and c1 still reach
    participation and confirmation, the round finalizes with both updates accepted, and v
    loses only the liveness penalty, earning nothing."""
    fed.ensure_running()
    t0 = time.monotonic()
    v = fed.nodes["v"]
    c0, c1 = fed.nodes["c0"].address, fed.nodes["c1"].address
    stake0 = fed.milon.member(fed.fed, v.address).stake
    job = fed.create_job()
    fed.wait("round 1 to start", lambda: fed.round_started(job), 240, poll_s=0.1)
    assert fed.seated(job, "v")  # every member sits in a federation this small
    assert fed.milon.assignment(job, 1, v.address).epochs == 0  # v holds no work: a validator
    assert fed.milon.round(job, 1).revealed_count == 0  # nothing to judge yet: v has not voted
    v.kill9()
    fed.finish(job, dead_ok=("v",), absent=("v",))

    rounds = fed.milon.job(job).current_round
    final = {e.args["round"]: e.args for e in fed.chain_events("RoundFinalized")
             if e.args["jobId"] == job}
    assert sorted(final) == list(range(1, rounds + 1)), "a round timed out"
    for r in range(1, rounds + 1):
        assert not fed.voted(job, "v", r)
        voters = sorted(e.args["validator"] for e in fed.chain_events("VerdictSubmitted")
                        if e.args["jobId"] == job and e.args["round"] == r)
        confirmers = {e.args["validator"] for e in fed.chain_events("ModelConfirmed")
                      if e.args["jobId"] == job and e.args["round"] == r}
        assert voters == sorted([c0, c1])
        assert confirmers <= {c0, c1}
        revealed = [n for n in ("c0", "c1") if fed.state(job, n, r) is AssignmentState.REVEALED]
        assert final[r]["acceptedCount"] == len(revealed)  # v's absence cost nobody an update
    assert final[1]["acceptedCount"] == 2  # c0 and c1 both accepted
    _paid(fed, job, "c0")
    _paid(fed, job, "c1")
    for who in (c0, c1):  # they voted with the outcome: the validators' pool is theirs
        assert fed.validator_pay(job, who).get(1, 0) > 0

    # v: no pay of any kind, and one liveness penalty per round that had updates to judge
    assert fed.validator_pay(job, v.address) == {}
    assert not fed.member_events("RewardCredited", job, v.address)
    liveness = fed.milon.params()[Param.LIVENESS_BPS]
    slashes = [e.args for e in fed.chain_events("Slashed") if e.args["account"] == v.address
               and e.args["fedId"] == fed.fed]
    assert slashes and all(bytes(s["reason"]) == ABSENT for s in slashes), slashes
    expected = stake0
    for _ in range(rounds):
        expected -= expected * liveness // 10_000
    assert len(slashes) == rounds
    assert fed.milon.member(fed.fed, v.address).stake == expected
    member = fed.milon.member(fed.fed, v.address)
    assert member.active and not member.suspended  # a penalty, not an expulsion

    v.start()  # back: it catches up from chain events and finds nothing left to do
    fed.wait("the restarted v to start", lambda: v.events("NodeStarted", since_start=v.starts), 120)
    code, status, _ = v.status()
    assert code == 0 and status["chain"] == "connected", status
    assert not [e for e in v.events(since_start=v.starts)
                if e.get("job_id") == job and e["event"] in ("VerdictSubmitted", "ModelConfirmed")]
    print(f"\ncommittee member killed: {rounds} round(s), v lost {(stake0 - expected) / ETHER:g} "
          f"MILON; wall {time.monotonic() - t0:.1f}s")

