"""Where a member's blobs live follows what it registered on chain, without a stale cache.

A member restarted from its folder listens on a new port and re-registers its
peer info. The soak run found validators still dialling the old port from the
resolver's 30 s cache, marking the member's update unavailable and slashing an
honest node; the resolver now drops an address when the registry announces a change.
"""

from __future__ import annotations

import pytest

from milon_app.node import peers
from tests.unit.contracts.helpers import create_federation, join, tx

OLD = "/ip4/127.0.0.1/tcp/4101/p2p/16Uiu2HAmOld"
NEW = "/ip4/127.0.0.1/tcp/4202/p2p/16Uiu2HAmNew"


@pytest.fixture
def no_check_delay(monkeypatch):
    monkeypatch.setattr(peers, "PEER_INFO_CHECK_S", 0.0)


def test_resolver_follows_a_member_that_re_registers(client, suite, accounts, no_check_delay):
    member = accounts[2]
    fed = create_federation(client, suite, accounts[1])
    join(client, suite, member, fed, peer=f"node {OLD}")
    resolve = peers.peer_resolver(suite)
    assert resolve(member.address) == OLD
    tx(client, suite.registry.functions.updateMember(fed, 1, f"node {NEW}"), member)
    assert resolve(member.address) == NEW


def test_resolver_caches_while_nothing_changes(client, suite, accounts, no_check_delay):
    member, other = accounts[2], accounts[3]
    fed = create_federation(client, suite, accounts[1])
    join(client, suite, member, fed, peer=f"node {OLD}")
    resolve = peers.peer_resolver(suite)
    assert resolve(member.address) == OLD
    calls = client.call  # count chain reads for lookups: none while nothing changed
    seen: list[object] = []
    client.call = lambda fn, *a, **k: seen.append(fn) or calls(fn, *a, **k)
    try:
        join(client, suite, other, fed, peer=f"node {NEW}")  # someone else: member stays cached
        seen.clear()
        assert resolve(member.address) == OLD
        assert seen == []
    finally:
        client.call = calls


# -- who may fetch a job's blobs ----------------------------------------------------------------


class _Store:
    """The one thing the authorizer asks a blob store: which owners pin a digest."""

    def __init__(self, pins: dict[str, list[str]]) -> None:
        self.pins = pins

    def owners(self, digest: str) -> list[str]:
        return self.pins.get(digest, [])


def _job_world(client, suite, accounts):
    """Federation A (members 2, 3) with a job by owner 1; federation B (member 4) apart."""
    from tests.unit.contracts.helpers import create_job

    fed_a = create_federation(client, suite, accounts[1])
    fed_b = create_federation(client, suite, accounts[1], name="other")
    for m in accounts[2:4]:
        join(client, suite, m, fed_a)
    join(client, suite, accounts[4], fed_b)
    job = create_job(client, suite, accounts[1], fed_a)
    return job, _Store({"a" * 64: [f"job:{job}"], "b" * 64: ["owner"]})


def test_a_jobs_blobs_go_to_its_federation_and_owner_only(client, suite, accounts):
    _, store = _job_world(client, suite, accounts)
    allow = peers.member_authorizer(suite, store)
    assert allow(accounts[1].address, "a" * 64)  # the job's owner
    assert allow(accounts[2].address, "a" * 64)  # a member of its federation
    assert not allow(accounts[4].address, "a" * 64)  # a member of another federation
    assert not allow(accounts[5].address, "a" * 64)  # anyone else
    assert not allow(accounts[2].address, "b" * 64)  # a blob pinned to no job: nobody
    assert not allow("not an address", "a" * 64)


def test_a_leaving_member_still_fetches_for_its_open_round(client, suite, accounts):
    from tests.unit.contracts.helpers import start_round

    job, store = _job_world(client, suite, accounts)
    start_round(client, suite, job, accounts[1])
    fed = int(client.call(suite.jobs.functions.job(job))[1][0])
    tx(client, suite.registry.functions.requestLeave(fed), accounts[2])
    allow = peers.member_authorizer(suite, store)
    assert allow(accounts[2].address, "a" * 64)  # in the current round: it finishes its work


def test_a_flood_of_strangers_costs_one_read_per_interval(client, suite, accounts, monkeypatch):
    _, store = _job_world(client, suite, accounts)
    allow = peers.member_authorizer(suite, store, miss_refresh_s=3600)
    calls = []
    inner = client.call
    monkeypatch.setattr(client, "call", lambda fn, *a: calls.append(fn.fn_name) or inner(fn, *a))
    strangers = [f"0x{i:040x}" for i in range(1, 200)]
    assert not any(allow(s, "a" * 64) for s in strangers)
    assert calls.count("activeMembers") == 1 and calls.count("roundMembers") <= 1
    assert allow(accounts[2].address, "a" * 64)  # members are still served from the snapshot
