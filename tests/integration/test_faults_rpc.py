"""The RPC endpoint stops answering in the middle of a round, then comes back.

anvil is frozen with SIGSTOP (its socket still accepts connections, requests
hang: the harshest kind of outage) for 5 s by default, 30 s with --long. Each
daemon must notice within seconds and say so (a ``ChainStatus`` event with
connected=false in its log, ``"chain": "disconnected"`` from `milon status`,
which keeps answering at once), keep retrying with backoff, report
"connected" once anvil runs again, and finish the job with no double commit
and every member paid exactly once per round.

Protocol v2: with two members both sit on every round's committee, each
judging the other's update; both must come through the outage for the
round to reach participation and confirmation, so the outage also proves
that no committee duty is lost to it.
"""

from __future__ import annotations

import os
import signal
import time

import pytest

from milon_app.chain.bindings import AssignmentState
from milon_app.daemon.control import query_status
from tests.integration.fault_helpers import STAKE, Federation, Member

pytestmark = [pytest.mark.slow, pytest.mark.anvil]


def test_client_and_watch_ride_out_a_frozen_rpc():
    """Below the daemon: the client's own retries outlast a 4 s freeze, a transaction sent
    into it is mined exactly once, and the watch reports down/up with growing probe waits."""
    import threading

    from milon_app.chain.client import ChainClient, RetryPolicy
    from milon_app.chain.devnet import Anvil
    from milon_app.node.chain_watch import ChainWatch, backoff_delays

    assert [backoff_delays(0.5, 4.0)(n) for n in range(6)] == [0.5, 1, 2, 4, 4, 4]
    anvil = Anvil(accounts=2).start()
    try:
        client = ChainClient.connect(anvil.url, dev_accounts=2, timeout_s=1.0,
                                     retry=RetryPolicy(attempts=12, first_delay_s=0.25,
                                                       max_delay_s=1.0))
        seen: list[bool] = []
        client.add_status_listener(lambda ok, _detail: seen.append(ok))
        watch = ChainWatch(client, interval_s=0.2, probe_timeout_s=0.5, max_backoff_s=2.0)
        waits: list[float] = []
        sender, to = client.dev_accounts
        client.send_eth(sender, to.address, 1)  # nonce and fees known: the next send is one call
        before = client.balance(to.address)
        nonce = client.w3.eth.get_transaction_count(sender.address)
        os.kill(anvil.proc.pid, signal.SIGSTOP)
        try:
            result: list[object] = []
            tx = threading.Thread(target=lambda: result.append(
                client.send_eth(sender, to.address, 12345)))
            tx.start()
            for _ in range(4):
                assert not watch.check()
                waits.append(watch.next_wait())
            assert client.connected is False and seen[:1] == [False]
        finally:
            os.kill(anvil.proc.pid, signal.SIGCONT)
        tx.join(60)
        assert result and result[0]["status"] == 1
        assert watch.check() and client.connected and seen[-1] is True
        assert waits == sorted(waits) and waits[-1] > waits[0]
        assert client.balance(to.address) == before + 12345  # sent once, not twice
        assert client.w3.eth.get_transaction_count(sender.address) == nonce + 1
        # a resend of a transaction the node already took (the reply to the first try was
        # lost) is recognised by its hash, not reported as a failure
        raw = sender.sign_transaction({
            "to": to.address, "value": 1, "gas": 21_000, "nonce": nonce + 1,
            "chainId": client.chain_id, "maxFeePerGas": 10**11, "maxPriorityFeePerGas": 10**9,
        }).raw_transaction
        first = client.w3.eth.send_raw_transaction(raw)
        assert client._send_raw(raw, "resend") == first
    finally:
        os.kill(anvil.proc.pid, signal.SIGCONT)
        anvil.stop()


@pytest.fixture(scope="module")
def fed(tmp_path_factory):
    f = Federation.start(
        tmp_path_factory.mktemp("faults-rpc"),
        [Member("c0", 300, "0/2"), Member("c1", 100, "1/2")],
    )
    try:
        yield f
    finally:
        os.kill(f.anvil.proc.pid, signal.SIGCONT)  # never leave it frozen (by PID)
        codes = f.close()
    assert all(c == 0 for c in codes.values()), codes


def _chain_status(d, since: int) -> list[bool]:
    return [e["connected"] for e in d.events("ChainStatus") if e["ts"] >= since]


@pytest.mark.parametrize("outage_s", [5, pytest.param(30, marks=pytest.mark.long)])
def test_rpc_outage_mid_round_disconnected_then_recovers(fed, outage_s):
    fed.ensure_running()
    t_start = time.monotonic()
    job = fed.create_job(epochs=4, per_round=4)
    c0, c1 = fed.nodes["c0"], fed.nodes["c1"]

    def under_way() -> bool:
        """c0 took its epochs: accepted on chain, committed, or (issue 18: a member that
        auto-accepts sends no `accept`, its commit accepts) still Assigned but accepted locally."""
        if not fed.round_started(job):
            return False
        state = fed.state(job, "c0")
        if state in (AssignmentState.ACCEPTED, AssignmentState.COMMITTED):
            return True
        decided = c0.query("SELECT decision FROM assignments WHERE job_id=? AND round=1", (job,))
        return state is AssignmentState.ASSIGNED and decided == [("accepted",)]

    fed.wait("round 1 under way", under_way, 240, poll_s=0.1)

    pid = fed.anvil.proc.pid
    frozen_at = time.time()
    t0 = time.monotonic()
    os.kill(pid, signal.SIGSTOP)  # by PID
    try:
        fed.wait("c0 to report the chain disconnected",
                 lambda: False in _chain_status(c0, frozen_at), outage_s + 30, poll_s=0.1)
        noticed = time.monotonic() - t0
        q0 = time.monotonic()
        status = query_status(c0.data, timeout_s=5)  # what `milon status` asks, over loopback
        status_s = time.monotonic() - q0
        assert status["chain"] == "disconnected" and status["chain_connected"] is False, status
        assert status["state"] == "running"
        if outage_s >= 30:
            code, reply, _ = c1.status()  # the real CLI, once, while frozen
            assert code == 0 and reply["chain"] == "disconnected", reply
        time.sleep(max(0.0, outage_s - (time.monotonic() - t0)))
    finally:
        os.kill(pid, signal.SIGCONT)
    outage = time.monotonic() - t0

    for d in (c0, c1):
        fed.wait(f"{d.name} to report the chain connected again",
                 lambda d=d: _chain_status(d, frozen_at)[-1:] == [True], 120, poll_s=0.2)
    recovered = time.monotonic() - t0 - outage
    assert query_status(c0.data)["chain"] == "connected"
    fed.finish(job)

    rounds = fed.milon.job(job).current_round
    for name in ("c0", "c1"):
        who = fed.nodes[name].address
        for r in range(1, rounds + 1):
            assert len(fed.member_events("UpdateCommitted", job, who, r)) <= 1
            assert len(fed.member_events("RewardCredited", job, who, r)) == 1, (name, r)
            assert fed.voted(job, name, r), (name, r)  # its committee duty survived the outage
        assert fed.milon.member(fed.fed, who).stake == STAKE
        assert sum(e.args["amount"] for e in fed.member_events("RewardCredited", job, who)) \
            == sum(fed.net_reward(fed.milon.assignment(job, r, who).epochs)
                   for r in range(1, rounds + 1))
        assert fed.validator_pay(job, who), f"{name} was not paid for judging"
    print(f"\nRPC frozen {outage:.1f}s: disconnected reported after {noticed:.1f}s, status "
          f"answered in {status_s * 1000:.0f} ms, connected again {recovered:.1f}s after the "
          f"thaw; test wall {time.monotonic() - t_start:.1f}s")
