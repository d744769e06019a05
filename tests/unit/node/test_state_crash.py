"""The node state database under crashes, and a node rebuilding its state from the chain.

1. A separate process writes node state the way a node does (commit intent,
   commit mark, reward, processed block height) and is killed with SIGKILL at
   random moments, again and again. After every kill the database opens,
   passes ``PRAGMA integrity_check``, and holds an exact prefix of the writes:
   no torn row, no commit marked without its intent, no reward twice. The next
   writer resumes from the stored block height, as a restarted node does.
2. A node that finished a job loses its state database entirely; restarted
   on an empty one, it replays the chain's events and ends with the same
   jobs and rewards the chain records, without sending a single transaction.
"""

from __future__ import annotations

import random
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time

import pytest

from milon_app.node.state import StateDB

WRITER = textwrap.dedent(
    """
    import sys
    from milon_app.node.state import StateDB

    db = StateDB(sys.argv[1])
    i = db.next_block(0)
    print("ready", flush=True)
    while True:  # one round's worth of writes per step, each its own transaction
        db.record_commit_intent(1, i, i.to_bytes(32, "big"), (i + 7).to_bytes(32, "big"), i)
        db.mark_committed(1, i)
        db.add_metric(1, i, 0, 0, 0.5, 100.0, float(i))
        db.record_reward(1, i, 10 * i)
        db.set_next_block(i + 1)
        i += 1
    """
)


def _check_prefix(path) -> int:
    """Integrity and the write order's invariants; returns how many steps completed."""
    con = sqlite3.connect(path)
    try:
        assert con.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        commits = con.execute(
            "SELECT round, update_hash, salt, num_samples, committed FROM commits ORDER BY round"
        ).fetchall()
        rewards = con.execute("SELECT round, amount FROM rewards ORDER BY round").fetchall()
        metrics = con.execute("SELECT round FROM metrics ORDER BY rowid").fetchall()
        nxt = con.execute("SELECT value FROM meta WHERE key='next_block'").fetchall()
    finally:
        con.close()
    done = int(nxt[0][0]) if nxt else 0
    # every completed step is there exactly once, in order
    assert [r for r, *_ in commits[:done]] == list(range(done))
    assert [(r, int(a)) for r, a in rewards[:done]] == [(i, 10 * i) for i in range(done)]
    assert sorted({m for (m,) in metrics}) == list(range(len({m for (m,) in metrics})))
    # at most the one step in flight at the kill is partly written, never torn
    assert len(commits) - done in (0, 1) and len(rewards) - done in (0, 1)
    for r, uh, salt, n, committed in commits:
        assert (bytes.fromhex(uh), bytes.fromhex(salt), n) == (
            r.to_bytes(32, "big"), (r + 7).to_bytes(32, "big"), r)
        assert committed == 1 or r == done  # only the step in flight may be uncommitted
    return done


def test_state_db_survives_repeated_kill9_mid_write(tmp_path):
    path = tmp_path / "node.db"
    StateDB(path).close()
    rng = random.Random(9)
    progress, t0 = [], time.monotonic()
    for _ in range(12):
        proc = subprocess.Popen([sys.executable, "-c", WRITER, str(path)],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            assert proc.stdout.readline().strip() == "ready", proc.stderr.read()
            time.sleep(rng.uniform(0.02, 0.3))
        finally:
            proc.send_signal(signal.SIGKILL)  # by PID, mid-write
            proc.wait(timeout=30)
            proc.stdout.close()
            proc.stderr.close()
        assert proc.returncode == -signal.SIGKILL
        progress.append(_check_prefix(path))
    assert progress == sorted(progress) and progress[-1] > progress[0] > 0
    db = StateDB(path)  # the node's own opener accepts it, and sees every completed step
    done = db.next_block(0)
    assert db.commit_record(1, done - 1) is not None and db.commit_record(1, done - 1).committed
    assert db.total_rewards() >= sum(10 * i for i in range(done))
    db.close()
    print(f"\n12 kills, {progress[-1]} steps written, {time.monotonic() - t0:.1f}s")


@pytest.fixture
def finished_job(tmp_path, request):
    """An owner and two contributors on a private anvil, a job run to completion (a round
    needs two members: each update is judged by members other than its author)."""
    from milon_app.chain.bindings import JobStatus
    from milon_app.chain.client import ChainClient
    from milon_app.chain.deploy import deploy_suite
    from milon_app.chain.devnet import Anvil
    from milon_app.compute.datasets import DatasetSpec, load_dataset
    from milon_app.compute.model_spec import digits_mlp
    from milon_app.node.bus import EventBus
    from milon_app.node.core import NodeCore, TensorData
    from milon_app.node.owner import JobRequest
    from milon_app.p2p.inprocess import InProcessHub
    from milon_app.store.blobs import BlobStore

    anvil = Anvil(accounts=3).start()  # this test's own chain, stopped by PID below
    request.addfinalizer(anvil.stop)
    client = ChainClient.connect(anvil.url, dev_accounts=3)
    owner_acct, acct, other_acct = client.dev_accounts
    suite = deploy_suite(client, owner_acct, dev=True)
    hub, bus = InProcessHub(), EventBus()
    data = load_dataset(DatasetSpec(kind="builtin", name="digits"))

    def make(account, name, net=hub, **kw):
        store = BlobStore(tmp_path / name / "blobs")
        return NodeCore(account=account, suite=suite, transport=net.transport(account.address, store),
                        store=store, state=StateDB(tmp_path / name / "state.db"), bus=bus, **kw)

    owner = make(owner_acct, "owner", roles=("owner", "keeper"))
    node = make(acct, "n0", threads=1, data=TensorData(data.x_train[:400], data.y_train[:400]))
    other = make(other_acct, "n1", threads=1,
                 data=TensorData(data.x_train[400:800], data.y_train[400:800]))
    fed = owner.milon.create_federation(owner_acct, "resync", b"\0" * 32, 10**19)
    for nd, name in ((node, "n0"), (other, "n1")):
        owner.milon.transfer(owner_acct, nd.address, 1_000 * 10**18)
    for nd in (owner, node, other):
        nd.start()
    node.join(fed, 50 * 10**18, 100, "n0")
    other.join(fed, 50 * 10**18, 100, "n1")
    jobs = []
    for _ in range(1):
        jobs.append(owner.owner.create_job(JobRequest(
            fed_id=fed, spec=digits_mlp(), dataset=DatasetSpec(kind="builtin", name="digits"),
            total_epochs=2, epochs_per_round=2, reward_per_epoch=10**18)))
        deadline = time.monotonic() + 120
        while node.milon.job(jobs[-1]).status is not JobStatus.COMPLETED:
            assert time.monotonic() < deadline, "job did not complete"
            busy = node.tick()
            busy = other.tick() or busy
            owner.tick()
            if busy:
                time.sleep(0.05)
        node.tick()  # see the final events
    yield make, node, owner, jobs, suite
    for nd in (node, other, owner):
        nd.stop()
        nd.state.close()


def test_node_rebuilds_lost_state_from_chain_events(finished_job, tmp_path):
    from milon_app.chain.events import EventCursor

    make, node, _owner, jobs, suite = finished_job
    before = (node.state.jobs(), [node.state.job_info(j) for j in jobs], node.state.total_rewards())
    assert before[0] == jobs and before[2] > 0
    account = node.account
    node.stop()
    node.state.close()
    for suffix in ("", "-wal", "-shm"):  # the whole database is gone
        (tmp_path / "n0" / f"state.db{suffix}").unlink(missing_ok=True)
    sent = suite.client.tx_count

    from milon_app.p2p.inprocess import InProcessHub

    fresh = make(account, "n0", InProcessHub(), threads=1)  # a new process: a new host
    fresh.start()
    try:
        fresh.tick()
        fresh.tick()
        events = EventCursor(suite.client, suite.by_name(), suite.manifest.deployed_block).poll()
        chain_jobs = sorted(e.args["jobId"] for e in events if e.name == "JobCreated")
        chain_rewards = sorted(
            (e.args["jobId"], e.args["round"], e.args["amount"])
            for e in events if e.name == "RewardCredited" and e.args["member"] == account.address
        )
        assert fresh.state.jobs() == chain_jobs == jobs
        assert [fresh.state.job_info(j) for j in jobs] == before[1]  # role and "done" again
        assert fresh.state.total_rewards() == sum(a for *_, a in chain_rewards) == before[2]
        validator_pay = sum(e.args["amount"] for e in events if e.name == "ValidatorPaid"
                            and e.args["validator"] == account.address)
        assert fresh.milon.claimable(account.address) == before[2] + validator_pay
        assert fresh.state.next_block(0) == suite.client.block_number() + 1
        assert suite.client.tx_count == sent, "the rebuilt node sent a transaction"
    finally:
        fresh.stop()
        fresh.state.close()
