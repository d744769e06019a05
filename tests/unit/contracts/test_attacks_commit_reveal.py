"""Front-running commits and replaying reveals.

A commitment is keccak256(updateHash, numSamples, salt, member, jobId, round):
it binds the sender, the job and the round. So a commitment copied from a
victim's pending transaction is accepted as bytes but can never be revealed by
the copier, a reveal replayed by someone else or in another round/job fails,
and no reveal (which would expose the salt) can happen while commits are
still open.
"""

from __future__ import annotations

from typing import Any

from .helpers import (
    COMMITTED,
    ETHER,
    REVEALED,
    assignment,
    commit,
    commitment,
    create_job,
    events,
    federation_with_members,
    finish_round,
    make_update,
    member_info,
    reveal,
    reverts,
    round_info,
    set_automine,
    start_round,
    submit_verdict,
    tx,
)

STAKE = 10 * ETHER


def past(client, deadline: int) -> None:
    """Move chain time just past an absolute deadline."""
    client.increase_time(max(0, deadline - client.now()) + 1)


def _round(client, suite, accounts, n: int = 3, **job) -> tuple[int, int, int, list[Any]]:
    """A federation of ``n`` members (accounts 1..n), a job, and round 1 accepted by all."""
    members = accounts[1 : n + 1]
    fed = federation_with_members(client, suite, members).fed_id
    job_id = create_job(client, suite, accounts[8], fed, totalEpochs=6, epochsPerRound=3, **job)
    r = start_round(client, suite, job_id, accounts[8])
    for m in members:
        tx(client, suite.jobs.functions.accept(job_id, r), m)
    return fed, job_id, r, list(members)


def _send_unmined(client, fn: Any, sender: Any, tip_gwei: int) -> bytes:
    w3 = client.w3
    params = {
        "from": sender.address,
        "nonce": w3.eth.get_transaction_count(sender.address, "pending"),
        "gas": 300_000,
        "chainId": client.chain_id,
        "maxFeePerGas": 100 * 10**9,
        "maxPriorityFeePerGas": tip_gwei * 10**9,
    }
    signed = sender.sign_transaction(fn.build_transaction(params))
    return bytes(w3.eth.send_raw_transaction(signed.raw_transaction))


def _front_run_commit(client, suite, job_id: int, r: int, victim_commit: Any, victim, attacker):
    """The attacker sees the victim's commit in the pool and sends a copy with a higher tip."""
    jobs, w3 = suite.jobs, client.w3
    set_automine(client, False)
    try:
        victim_tx = _send_unmined(client, victim_commit, victim, tip_gwei=1)
        pending = w3.eth.get_transaction(victim_tx)  # what a mempool watcher reads
        _fn, args = jobs.decode_function_input(pending["input"])
        copy = jobs.functions.commit(job_id, r, args["commitment"])
        attacker_tx = _send_unmined(client, copy, attacker, tip_gwei=50)
        if client.kind == "embedded":
            client._tester().mine_blocks(1)
        else:
            client.w3.provider.make_request("evm_mine", [])
    finally:
        set_automine(client, True)
        client.forget_nonces()
    rv, ra = (w3.eth.wait_for_transaction_receipt(t) for t in (victim_tx, attacker_tx))
    assert rv["status"] == 1 and ra["status"] == 1 and rv["blockNumber"] == ra["blockNumber"]
    return args["commitment"], ra, rv


def test_front_run_copy_of_a_commitment_cannot_be_revealed(client, suite, accounts):
    _fed, job_id, r, (victim, attacker, honest) = _round(client, suite, accounts)
    uv, uh = make_update(victim, job_id, r), make_update(honest, job_id, r)
    c = commitment(uv.update_hash, uv.num_samples, uv.salt, victim.address, job_id, r)
    copied, _ra, _rv = _front_run_commit(
        client, suite, job_id, r, suite.jobs.functions.commit(job_id, r, c), victim, attacker
    )
    assert copied == c  # both landed in one block: the order inside it changes nothing below
    commit(client, suite, job_id, r, uh)
    assert assignment(client, suite, job_id, r, attacker.address)[5] == c  # same bytes stored

    # The attacker cannot open the copy, neither before nor after the victim shows the preimage.
    fn = suite.jobs.functions.reveal(job_id, r, uv.update_hash, uv.num_samples, uv.salt)
    with reverts("BadReveal"):
        tx(client, fn, attacker)
    reveal(client, suite, job_id, r, uv)
    reveal(client, suite, job_id, r, uh)
    with reverts("BadReveal"):
        tx(client, fn, attacker)
    assert assignment(client, suite, job_id, r, attacker.address)[3] == COMMITTED

    # A committed but unrevealed copy holds the round only until the reveal deadline; then it is
    # a missing update: the copier is slashed, the victim paid for its own work.
    with reverts("VerdictNotOpen"):
        submit_verdict(client, suite, job_id, r, honest, [victim.address, honest.address])
    past(client, round_info(client, suite, job_id, r)["revealDeadline"])
    accepted = [victim.address, honest.address]
    receipt = finish_round(client, suite, job_id, r, [victim, attacker, honest], accepted)
    paid = {e["member"] for e in events(suite.jobs, receipt, "RewardCredited")}
    slashed = {e["member"] for e in events(suite.jobs, receipt, "MemberSlashed")}
    assert paid == set(accepted) and slashed == {attacker.address}
    assert client.call(suite.jobs.functions.claimable(attacker.address)) == 0
    assert member_info(client, suite, _fed, attacker.address)["stake"] < STAKE


def test_no_reveal_can_be_seen_while_commits_are_open(client, suite, accounts):
    """A lazy member waiting to copy a revealed update never gets to see one in time."""
    _fed, job_id, r, (victim, lazy, _other) = _round(client, suite, accounts)
    uv = make_update(victim, job_id, r)
    commit(client, suite, job_id, r, uv)
    with reverts("RevealNotOpen"):
        reveal(client, suite, job_id, r, uv)
    past(client, round_info(client, suite, job_id, r)["commitDeadline"])
    reveal(client, suite, job_id, r, uv)  # commits closed: now the salt may be public
    c = commitment(uv.update_hash, uv.num_samples, uv.salt, lazy.address, job_id, r)
    with reverts("CommitClosed"):
        tx(client, suite.jobs.functions.commit(job_id, r, c), lazy)


def test_same_reveal_twice_is_rejected_and_counts_once(client, suite, accounts):
    _fed, job_id, r, members = _round(client, suite, accounts, n=2)
    updates = [make_update(m, job_id, r) for m in members]
    for u in updates:
        commit(client, suite, job_id, r, u)
    reveal(client, suite, job_id, r, updates[0])
    with reverts("AlreadyRevealed"):
        reveal(client, suite, job_id, r, updates[0])
    assert round_info(client, suite, job_id, r)["revealedCount"] == 1
    # The same reveal sent by the other member (who committed its own update) fails too.
    fn = suite.jobs.functions.reveal(
        job_id, r, updates[0].update_hash, updates[0].num_samples, updates[0].salt
    )
    with reverts("BadReveal"):
        tx(client, fn, members[1])
    # And by someone who never committed in this round.
    with reverts("NotCommitted"):
        tx(client, fn, accounts[7])


def test_exact_signed_reveal_transaction_cannot_be_replayed(client, suite, accounts):
    _fed, job_id, r, members = _round(client, suite, accounts, n=2)
    u = make_update(members[0], job_id, r)
    commit(client, suite, job_id, r, u)
    commit(client, suite, job_id, r, make_update(members[1], job_id, r))  # commits close
    fn = suite.jobs.functions.reveal(job_id, r, u.update_hash, u.num_samples, u.salt)
    w3 = client.w3
    params = {
        "from": members[0].address,
        "nonce": w3.eth.get_transaction_count(members[0].address, "pending"),
        "gas": 300_000,
        "chainId": client.chain_id,
        "maxFeePerGas": 100 * 10**9,
        "maxPriorityFeePerGas": 10**9,
    }
    raw = members[0].sign_transaction(fn.build_transaction(params)).raw_transaction
    w3.eth.wait_for_transaction_receipt(w3.eth.send_raw_transaction(raw))
    client.forget_nonces()
    try:
        w3.eth.send_raw_transaction(raw)
        replayed = True
    except Exception:  # the node refuses the used nonce (message differs per node)
        replayed = False
    assert not replayed
    assert round_info(client, suite, job_id, r)["revealedCount"] == 1
    assert assignment(client, suite, job_id, r, members[0].address)[3] == REVEALED


def _finish_round(client, suite, job_id: int, r: int, members) -> None:
    model = f"model-{r}".encode().ljust(32, b"\0")
    finish_round(client, suite, job_id, r, members, [m.address for m in members], model)


def test_reveal_from_an_earlier_round_or_another_job_is_rejected(client, suite, accounts):
    fed, job_id, r1, members = _round(client, suite, accounts, n=2)
    m, other_member = members
    u1, u_other = make_update(m, job_id, r1), make_update(other_member, job_id, r1)
    receipt = commit(client, suite, job_id, r1, u1)
    old = events(suite.jobs, receipt, "UpdateCommitted")[0]["commitment"]
    commit(client, suite, job_id, r1, u_other)
    reveal(client, suite, job_id, r1, u1)
    reveal(client, suite, job_id, r1, u_other)
    _finish_round(client, suite, job_id, r1, members)

    r2 = start_round(client, suite, job_id, accounts[8])
    tx(client, suite.jobs.functions.accept(job_id, r2), m)
    tx(client, suite.jobs.functions.decline(job_id, r2), other_member)
    # Old round: closed for good.
    with reverts("WrongRound"):
        reveal(client, suite, job_id, r1, u1)
    # Replaying round 1's commitment and reveal in round 2: the round is part of the hash.
    tx(client, suite.jobs.functions.commit(job_id, r2, old), m)
    with reverts("BadReveal"):
        reveal(client, suite, job_id, r2, u1)

    # Another job of the same federation, same round number: the job id is part of the hash.
    other = create_job(client, suite, accounts[8], fed, totalEpochs=3, epochsPerRound=3)
    past(client, round_info(client, suite, job_id, r2)["confirmDeadline"])
    tx(client, suite.jobs.functions.timeoutRound(job_id), accounts[8])  # free the member
    ro = start_round(client, suite, other, accounts[8])
    assert ro == r1
    tx(client, suite.jobs.functions.accept(other, ro), m)
    tx(client, suite.jobs.functions.decline(other, ro), other_member)
    tx(client, suite.jobs.functions.commit(other, ro, old), m)
    with reverts("BadReveal"):
        reveal(client, suite, other, ro, u1)
    assert assignment(client, suite, other, ro, m.address)[3] == COMMITTED
