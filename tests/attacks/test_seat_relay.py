"""A committee seat that relays the updates it fetched first withholds them or serves forged
bytes to the other seats (``Committee._fetch_updates``: a seat asks an update's first fetcher
before its author).

Every update is checked against the hash its author committed on chain, so a forged blob is
refused where it is received and the seat asks the next provider, the author; a withheld one
is asked of the author straight away. The round ends as it would have: every member paid,
nobody slashed. The bad relay gains nothing (it is paid for its own work, as any member) and
costs the others one connection to the author each; relaying happens off chain, so there is
nothing to slash it for.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from types import TracebackType
from typing import Any

import pytest

from milon_app.chain.verdicts import round_payments
from tests.attacks.nodefed import STAKE, NodeFed, job_with_seats, node_federation, record_serves


class _Forged:
    """A reader of random bytes as long as the real blob."""

    def __init__(self, size: int) -> None:
        self.size = size

    def __enter__(self) -> _Forged:
        return self

    def __exit__(self, *exc: type[BaseException] | BaseException | TracebackType | None) -> None:
        return None

    def iter_chunks(self, chunk_size: int = 1 << 16) -> Iterator[bytes]:
        left = self.size
        while left:
            n = min(chunk_size, left)
            yield os.urandom(n)
            left -= n


class _ForgingStore:
    """What the hub serves from the bad seat: forged bytes for every blob ``keep`` refuses."""

    def __init__(self, real: Any, keep: Callable[[str], bool]) -> None:
        self.real, self.keep = real, keep

    def has(self, digest: str) -> bool:
        return bool(self.real.has(digest))

    def open(self, digest: str) -> Any:
        return self.real.open(digest) if self.keep(digest) else _Forged(self.real.size(digest))


@pytest.fixture
def fed(tmp_path: Path) -> Iterator[NodeFed]:
    f = node_federation(tmp_path, n=6)
    yield f
    f.close()


@pytest.mark.parametrize("how", ["forges", "withholds"])
def test_a_seat_relaying_bad_updates_costs_nobody_anything(fed: NodeFed, how: str) -> None:
    served = record_serves(fed)
    m = fed.owner.milon
    job_id = job_with_seats(fed)  # 3 seats, at least two members on them
    seats, members = m.committee(job_id, 1), m.round_members(job_id, 1)
    turn = [nd.address for nd in fed.nodes]
    bad = min(set(seats), key=turn.index)  # judges first: the later seats ask it
    bad_pid = next(nd.transport.peer_id for nd in fed.nodes if nd.address == bad)
    peer = fed.hub.peers[bad_pid]

    def own(digest: str) -> bool:  # its own update it serves as it is, or it would lose
        return digest == m.assignment(job_id, 1, bad).update_hash.hex()

    if how == "forges":
        peer.store = _ForgingStore(peer.store, keep=own)
    else:
        real = peer.authorize
        peer.authorize = lambda requester, digest: own(digest) and real(requester, digest)
    fed.until(fed.round_closed(job_id, 1))

    assert m.round(job_id, 1).finalized
    rewards, _ = round_payments(m, job_id, 1)
    for nd in fed.nodes:
        assert rewards.get(nd.address, 0) > 0 and fed.stake(nd) == STAKE, nd.address
    assert not m.suite.jobs.events.MemberSlashed.get_logs(from_block=0)
    pid = {nd.address: nd.transport.peer_id for nd in fed.nodes}
    relayed_by_bad = [i for i, a in enumerate(members) if seats[i % len(seats)] == bad and a != bad]
    assert relayed_by_bad  # the bad seat fetched some others' updates first
    checked = 0
    for i in relayed_by_bad:
        digest = m.assignment(job_id, 1, members[i]).update_hash.hex()
        got = {req: p for p, req, d in served if d == digest and p != bad_pid}
        for seat in set(seats) - {bad, members[i]}:
            assert got[pid[seat]] == pid[members[i]]  # from the author after the bad seat
            checked += 1
    assert checked  # an honest seat did ask the bad one first
