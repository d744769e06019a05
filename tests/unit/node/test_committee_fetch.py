"""A round's updates leave their authors about once: each has one *first fetcher* among the
seats, and the other seats fetch it from that seat (``Committee._fetch_updates``).

Real node cores on the embedded chain and the in-process hub, whose providers check
membership on chain like the libp2p transport. What a provider served is read from the
hub (``nodefed.record_serves``).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.attacks.nodefed import NodeFed, job_with_seats, node_federation, record_serves


@pytest.fixture
def fed(tmp_path: Path) -> Iterator[NodeFed]:
    f = node_federation(tmp_path, n=6)
    yield f
    f.close()


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
