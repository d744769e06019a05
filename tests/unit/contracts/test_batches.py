"""Batched commits and openings (``commitBatch`` / ``revealBatch``, issue 18's gas).

A batch may be sent by anyone; each entry must pass the member's own ``commit`` / ``reveal``
checks, a commit entry must be signed by its member (EIP-712), and a failing entry is skipped
with ``BatchEntrySkipped`` without sinking the others. The round a batch fed settles as a
self-sent one does (the settler's storage layout is unchanged by the EIP-712 base).
"""

from __future__ import annotations

from typing import Any

from eth_account import Account

from milon_app.chain import batches
from milon_app.chain.bindings import Milon

from .helpers import (
    COMMITTED,
    REVEALED,
    assignment,
    commit,
    commitment,
    create_job,
    events,
    federation_with_members,
    finish_round,
    make_update,
    reverts,
    round_members,
    start_round,
    tx,
)


def _round(client: Any, suite: Any, accounts: Any, n: int = 4) -> tuple[int, int, list[Any]]:
    members = accounts[1 : n + 1]
    fed = federation_with_members(client, suite, members).fed_id
    job_id = create_job(client, suite, accounts[8], fed, totalEpochs=8, epochsPerRound=4)
    r = start_round(client, suite, job_id, accounts[8])
    inside = {a.lower() for a in round_members(client, suite, job_id, r)}
    return job_id, r, [m for m in members if m.address.lower() in inside]


def _signed(suite: Any, m: Any, job_id: int, r: int, signer: Any = None) -> batches.SignedCommit:
    u = make_update(m, job_id, r)
    c = commitment(u.update_hash, u.num_samples, u.salt, m.address, job_id, r)
    return batches.sign_commit(Milon(suite), signer or m, job_id, r, c)


def _opening(m: Any, job_id: int, r: int) -> batches.Opening:
    u = make_update(m, job_id, r)
    return batches.Opening(m.address, u.update_hash, u.num_samples, u.salt)


def test_a_batch_commits_and_reveals_for_every_member_and_the_round_settles(
    client, suite, accounts
):
    milon, sender = Milon(suite), accounts[9]  # not a member: anyone may send a batch
    job_id, r, members = _round(client, suite, accounts)
    entries = [_signed(suite, m, job_id, r) for m in members]
    assert all(batches.commit_signer(milon, job_id, r, e) == e.member for e in entries)
    out = batches.commit_batch(milon, sender, job_id, r, entries)
    assert sorted(out.landed) == sorted(m.address for m in members) and out.skipped == {}
    assert all(assignment(client, suite, job_id, r, m.address)[3] == COMMITTED for m in members)
    out = batches.reveal_batch(milon, sender, job_id, r, [_opening(m, job_id, r) for m in members])
    assert len(out.landed) == len(members)
    assert all(assignment(client, suite, job_id, r, m.address)[3] == REVEALED for m in members)
    finish_round(client, suite, job_id, r, accounts, [m.address for m in members])


def test_an_entry_signed_by_someone_else_commits_nothing_for_the_member(client, suite, accounts):
    """A forged entry recovers to its real signer: the victim's slot is untouched and can still
    commit itself; the forger, not in the round, gets a skip."""
    milon, attacker = Milon(suite), accounts[7]
    job_id, r, members = _round(client, suite, accounts)
    victim = members[0]
    forged = _signed(suite, victim, job_id, r, signer=attacker)
    assert batches.commit_signer(milon, job_id, r, forged) == attacker.address
    out = batches.commit_batch(milon, attacker, job_id, r, [forged])
    assert out.landed == () and out.skipped == {attacker.address: "NotAccepted"}
    assert assignment(client, suite, job_id, r, victim.address)[3] != COMMITTED
    commit(client, suite, job_id, r, make_update(victim, job_id, r))  # the member's own path


def test_a_signature_for_another_round_or_contract_does_not_carry_over(client, suite, accounts):
    milon = Milon(suite)
    job_id, r, members = _round(client, suite, accounts)
    m = members[0]
    u = make_update(m, job_id, r)
    c = commitment(u.update_hash, u.num_samples, u.salt, m.address, job_id, r)
    stale = batches.sign_commit(milon, m, job_id, r + 1, c)  # signed for the next round
    out = batches.commit_batch(milon, accounts[9], job_id, r, [stale])
    assert out.landed == () and m.address not in out.skipped  # recovered to some other address
    assert assignment(client, suite, job_id, r, m.address)[3] != COMMITTED


def test_a_failing_entry_is_skipped_and_the_others_land(client, suite, accounts):
    """A member that commits itself first cannot sink the batch holding its entry."""
    milon = Milon(suite)
    job_id, r, members = _round(client, suite, accounts)
    first = members[0]
    commit(client, suite, job_id, r, make_update(first, job_id, r))
    bad = batches.SignedCommit(members[1].address, b"\x01" * 32, b"\x00" * 65)  # no signer
    entries = [_signed(suite, m, job_id, r) for m in members] + [bad]
    receipt = batches.commit_batch(milon, accounts[9], job_id, r, entries).receipt
    skipped = events(suite.jobs, receipt, "BatchEntrySkipped")
    assert {e["member"] for e in skipped} == {first.address, "0x" + "00" * 20}
    landed = {e["member"] for e in events(suite.jobs, receipt, "UpdateCommitted")}
    assert landed == {m.address for m in members[1:]}
    wrong = _opening(members[1], job_id, r)
    wrong = batches.Opening(wrong.member, wrong.update_hash, wrong.num_samples + 1, wrong.salt)
    out = batches.reveal_batch(
        milon, accounts[9], job_id, r, [wrong] + [_opening(m, job_id, r) for m in members[2:]]
    )
    assert out.skipped == {members[1].address: "BadReveal"}
    assert len(out.landed) == len(members) - 2


def test_only_the_contract_itself_runs_one_entry(client, suite, accounts):
    job_id, r, members = _round(client, suite, accounts)
    m = members[0]
    with reverts("NotSelf"):
        tx(client, suite.jobs.functions.commitAs(job_id, r, m.address, b"\x01" * 32), m)
    with reverts("NotSelf"):
        opening = (m.address, b"\x01" * 32, 1, b"\x02" * 32)
        tx(client, suite.jobs.functions.revealAs(job_id, r, opening), m)


def test_gossip_messages_round_trip_and_bad_ones_name_the_field(suite):
    m = Account.create()
    e = batches.SignedCommit(m.address, b"\x11" * 32, b"\x22" * 65)
    o = batches.Opening(m.address, b"\x33" * 32, 7, b"\x44" * 32)
    assert batches.parse_batch_message(batches.commit_message(3, 2, e)) == (3, 2, e)
    assert batches.parse_batch_message(batches.opening_message(3, 2, o)) == (3, 2, o)
    for broken, field in (
        ({**batches.commit_message(3, 2, e), "sig": "zz"}, "sig"),
        ({**batches.opening_message(3, 2, o), "samples": -1}, "samples"),
        ({**batches.commit_message(3, 2, e), "member": "0x12"}, "member"),
        ({**batches.commit_message(3, 2, e), "type": "vote"}, "type"),
    ):
        try:
            batches.parse_batch_message(broken)
        except ValueError as exc:
            assert field in str(exc)
        else:
            raise AssertionError(f"accepted a message with a bad {field}")
