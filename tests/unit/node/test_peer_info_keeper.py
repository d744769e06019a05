"""The peer-info keeper's gas rules with a fake chain: a transaction only on change, backoff on
failure, whole addresses within the registry's limit (issue 22, item 5)."""

from __future__ import annotations

from dataclasses import replace
from types import SimpleNamespace

from milon_app.chain.bindings import Member
from milon_app.errors import ChainError, NetworkError
from milon_app.node import events as ev
from milon_app.node.peer_info import MAX_PEER_INFO, MIN_UPDATE_S, RETRY_FIRST_S, PeerInfoKeeper

PID = "16Uiu2HAm5SZ9zDkGKfxwdKWmW17dxxUG4m6kq593whtdUrkWpodC"
ME = "0x" + "11" * 20
MEMBER = Member(
    stake=10, capacity=300, peer_info="", joined_at=1, leave_requested_at=0,
    withdrawable_at=0, active=True, admitted=True, suspended=False,
)  # fmt: skip


class FakeMilon:
    def __init__(self, members: dict[int, Member]) -> None:
        self.members = members
        self.updates: list[tuple[int, int, str]] = []
        self.fail = 0  # how many update_member calls raise

    def federation_count(self) -> int:
        return max(self.members, default=0)

    def member(self, fed: int, who: str) -> Member:
        assert who == ME
        return self.members.get(fed, replace(MEMBER, active=False, joined_at=0, capacity=0))

    def update_member(self, sender, fed: int, capacity: int, peer_info: str) -> None:
        if self.fail:
            self.fail -= 1
            raise ChainError("execution reverted")
        self.updates.append((fed, capacity, peer_info))
        self.members[fed] = replace(self.members[fed], capacity=capacity, peer_info=peer_info)


class FakeTransport:
    def __init__(self, addrs: list[str]) -> None:
        self.addrs = addrs

    def listen_addrs(self) -> list[str]:
        if self.addrs is None:
            raise NetworkError("not running")
        return list(self.addrs)


def keeper(milon: FakeMilon, transport: FakeTransport, clock: list[float]):
    got: list[ev.Event] = []
    k = PeerInfoKeeper(milon, SimpleNamespace(address=ME), transport, got.append, lambda: clock[0])
    return k, got


def addr(port: int) -> str:
    return f"/ip4/127.0.0.1/tcp/{port}/p2p/{PID}"


def test_fills_an_empty_peer_info_once_keeping_the_capacity():
    milon = FakeMilon({1: MEMBER, 2: replace(MEMBER, peer_info=addr(5000))})
    k, got = keeper(milon, FakeTransport([addr(5000)]), [0.0])
    k.step()
    assert milon.updates == [(1, 300, addr(5000))]  # federation 2 was already right
    assert [(e.fed_id, e.peer_info, e.previous) for e in got] == [(1, addr(5000), "")]
    for _ in range(3):
        k.step()
    assert len(milon.updates) == 1  # nothing changed: no transaction, not even a chain read


def test_new_addresses_update_every_federation_at_most_once_a_minute():
    milon = FakeMilon({1: MEMBER, 3: MEMBER})
    transport = FakeTransport([addr(5000)])
    clock = [0.0]
    k, _ = keeper(milon, transport, clock)
    k.step()
    transport.addrs = [addr(6000)]  # flapping addresses wait for the minute to pass
    k.step()
    assert [u[0] for u in milon.updates] == [1, 3]
    clock[0] += MIN_UPDATE_S
    k.step()
    assert [u[0] for u in milon.updates] == [1, 3, 1, 3]
    milon.members[3] = replace(MEMBER, peer_info="someone else's")
    clock[0] += MIN_UPDATE_S
    k.step()
    assert len(milon.updates) == 4  # not looked at without a registry event
    k.touch(3)
    k.step()
    assert milon.updates[-1] == (3, 300, addr(6000))


def test_a_relay_reservation_is_published_at_once_not_a_minute_later():
    """A node behind NAT publishes its LAN address at its first tick, then reserves a relay slot:
    its relayed address, the only one other members can dial, skips the once-a-minute limit;
    other changes, and the same relayed address again, still wait for it."""
    lan = f"/ip4/10.1.0.2/tcp/4001/p2p/{PID}"
    relayed = f"/ip4/203.0.113.1/tcp/4001/p2p/16Uiu2Relay/p2p-circuit/p2p/{PID}"
    milon = FakeMilon({1: MEMBER})
    transport = FakeTransport([lan])
    clock = [0.0]
    k, _ = keeper(milon, transport, clock)
    k.step()
    transport.addrs = [relayed, lan]
    clock[0] += 1.0
    k.step()
    assert [u[2] for u in milon.updates] == [lan, f"{relayed} {lan}"]
    transport.addrs = [lan]  # the reservation lapses: that change waits for the minute
    k.step()
    transport.addrs = [relayed, lan]  # and is back before it passed: nothing to send
    k.step()
    transport.addrs = [relayed, addr(5000)]
    k.step()
    assert len(milon.updates) == 2
    clock[0] += MIN_UPDATE_S
    k.step()
    assert milon.updates[-1][2] == f"{relayed} {addr(5000)}"


def test_no_addresses_or_no_membership_sends_nothing():
    milon = FakeMilon({1: replace(MEMBER, active=False)})
    for addrs in ([], None, [addr(5000)]):
        k, got = keeper(milon, FakeTransport(addrs), [0.0])
        k.step()
        assert milon.updates == [] and got == []


def test_a_failed_update_backs_off_instead_of_retrying_every_tick():
    milon = FakeMilon({1: MEMBER})
    milon.fail = 2
    clock = [100.0]
    k, got = keeper(milon, FakeTransport([addr(5000)]), clock)
    k.step()
    k.step()
    assert milon.fail == 1 and isinstance(got[-1], ev.NodeError)  # one try, then waits
    clock[0] += RETRY_FIRST_S
    k.step()
    assert milon.fail == 0 and milon.updates == []
    clock[0] += RETRY_FIRST_S  # the second wait is twice as long
    k.step()
    assert milon.updates == []
    clock[0] += RETRY_FIRST_S
    k.step()
    assert milon.updates == [(1, 300, addr(5000))]


def test_peer_info_keeps_whole_addresses_that_fit_best_first(caplog):
    addrs = [f"/ip4/10.0.{i}.1/tcp/4001/p2p/{PID}" for i in range(12)] + [addr(4001)]
    milon = FakeMilon({1: MEMBER})
    k, _ = keeper(milon, FakeTransport(addrs), [0.0])
    k.step()
    text = milon.updates[0][2]
    assert len(text.encode()) <= MAX_PEER_INFO
    assert text.split(" ") == addrs[: len(text.split(" "))]
    assert "do not fit" in caplog.text and addr(4001) in caplog.text  # loopback (last) dropped
