"""A round's updates leave their authors about once: each has one *first fetcher* among the
seats, and the other seats fetch it from that seat (``Committee._fetch_updates``).

Real node cores on the embedded chain and the in-process hub, whose providers check
membership on chain like the libp2p transport. What a provider served is read from the
hub: a request it authorized for a blob it held.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.attacks.nodefed import NodeFed, node_federation


@pytest.fixture
def fed(tmp_path: Path) -> Iterator[NodeFed]:
    f = node_federation(tmp_path, n=6)
    yield f
    f.close()


def record_serves(fed: NodeFed) -> list[tuple[str, str, str]]:
    """(provider peer id, requester peer id, digest) of every blob a hub peer handed out."""
    served: list[tuple[str, str, str]] = []
    for pid, peer in fed.hub.peers.items():
        real = peer.authorize

        def authorize(requester: str, digest: str, pid=pid, peer=peer, real=real) -> bool:  # type: ignore[no-untyped-def]
            ok = real(requester, digest)
            if ok and peer.store.has(digest):
                served.append((pid, requester, digest))
            return ok

        peer.authorize = authorize
    return served


def job_with_seats(fed: NodeFed, tries: int = 6) -> int:
    """A one-round job whose committee (3 seats drawn by stake, with replacement, from 6
    equal stakes) has at least two distinct members: with one, every update but that
    member's leaves its author once anyway, and its own is judged by nobody. About one draw
    in 36 gives one member all three seats; such a job is left to run, and another made."""
    m = fed.owner.milon
    for _ in range(tries):
        job_id = fed.job(rounds=1, committee_size=3)
        fed.until(lambda j=job_id: m.job(j).current_round == 1)
        if len(set(m.committee(job_id, 1))) >= 2:
            return job_id
    raise AssertionError(f"{tries} committee draws in a row gave one member every seat")


def test_seats_fetch_an_update_from_its_first_fetcher_not_its_author(fed: NodeFed) -> None:
    """The driver ticks the nodes one after the other, and a seat judges and sends its
    verdict within one tick: a seat judging before an update's first fetcher gets it from
    the author (the first fetcher has nothing yet), every seat judging after it gets it from
    the first fetcher. The order the seats judged in is the order of their verdicts on chain."""
    served = record_serves(fed)
    m = fed.owner.milon
    job_id = job_with_seats(fed)  # fewer seats than members, at least two of them distinct
    fed.until(fed.round_closed(job_id, 1))
    assert m.round(job_id, 1).finalized
    seats, members = m.committee(job_id, 1), m.round_members(job_id, 1)
    pid = {nd.address: nd.transport.peer_id for nd in fed.nodes}
    verdicts = m.suite.jobs.events.VerdictSubmitted.get_logs(
        from_block=0, argument_filters={"jobId": job_id, "round": 1}
    )
    turn = [
        e.args["validator"] for e in sorted(verdicts, key=lambda e: (e.blockNumber, e.logIndex))
    ]
    assert set(turn) == set(seats)
    checked = 0
    for i, member in enumerate(members):
        digest = m.assignment(job_id, 1, member).update_hash.hex()
        first = seats[i % len(seats)]
        source = {req: p for p, req, d in served if d == digest}  # seat -> who served it
        for seat in set(seats) - {member, first}:
            if turn.index(seat) > turn.index(first):
                assert source[pid[seat]] == pid[first], (member, seat)
                checked += 1
            else:
                assert source[pid[seat]] == pid[member], (member, seat)
        if first != member:  # the author served its update to the first fetcher
            assert source[pid[first]] == pid[member]
    assert checked >= 2  # the relaying was seen, not only the fall-backs
