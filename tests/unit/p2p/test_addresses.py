"""What a node publishes for others to dial, and the free-port fallback (issue 22, item 4)."""

from __future__ import annotations

import ipaddress
import logging
import socket

import tomllib
from multiaddr import Multiaddr

from milon_app.p2p import addresses as A

PID = "16Uiu2HAm5SZ9zDkGKfxwdKWmW17dxxUG4m6kq593whtdUrkWpodC"
LAN = ipaddress.ip_address("192.168.1.20")
DOCKER = ipaddress.ip_address("172.17.0.1")
PUBLIC = ipaddress.ip_address("9.9.9.9")  # is_global (documentation ranges are not)
LOOP = ipaddress.ip_address("127.0.0.1")
LOOP6 = ipaddress.ip_address("::1")
LAN6 = ipaddress.ip_address("fd00::5")
LINK6 = ipaddress.ip_address("fe80::1")


def ma(text: str) -> Multiaddr:
    return Multiaddr(text)


def test_wildcard_listen_publishes_interface_addresses_never_0000():
    ips = A.rank_ips([LOOP, DOCKER, LAN, LINK6, LAN6, LOOP6], primary=[LAN])
    got = A.published(PID, [ma("/ip4/0.0.0.0/tcp/4001")], ips=lambda: ips)
    assert got == [f"/ip4/192.168.1.20/tcp/4001/p2p/{PID}", f"/ip4/172.17.0.1/tcp/4001/p2p/{PID}"]
    six = A.published(PID, [ma("/ip6/::/tcp/4001")], ips=lambda: ips)
    assert six == [f"/ip6/fd00::5/tcp/4001/p2p/{PID}"]  # no link-local, no loopback


def test_loopback_only_when_there_is_nothing_else():
    got = A.published(PID, [ma("/ip4/0.0.0.0/tcp/4001")], ips=lambda: [LOOP, LOOP6])
    assert got == [f"/ip4/127.0.0.1/tcp/4001/p2p/{PID}"]


def test_ranking_is_deterministic_default_route_then_public_then_private_then_loopback():
    ranked = A.rank_ips([LOOP, LAN, PUBLIC, DOCKER], primary=[DOCKER])
    assert ranked == [DOCKER, PUBLIC, LAN, LOOP]
    assert A.rank_ips(reversed(ranked), primary=[DOCKER]) == ranked


def test_a_concrete_listen_address_is_published_as_is_with_observed_ones_before_loopback():
    got = A.published(
        PID,
        [ma("/ip4/127.0.0.1/tcp/5000")],
        observed=[ma("/ip4/198.51.100.9/tcp/5000"), ma("/ip4/0.0.0.0/tcp/9")],
        ips=lambda: [LAN],
    )
    assert got == [f"/ip4/198.51.100.9/tcp/5000/p2p/{PID}", f"/ip4/127.0.0.1/tcp/5000/p2p/{PID}"]


def test_announce_wins_and_every_address_ends_with_our_peer_id():
    other = "16Uiu2HAkwjPCas9CQFvmvsoZo6Q1wjfyQWkRkYyc6AaDW4qs1TbQ"
    got = A.published(
        PID,
        [ma("/ip4/0.0.0.0/tcp/4001")],
        announce=[
            ma("/dns4/node.example.org/tcp/4001"),
            ma(f"/ip4/203.0.113.7/tcp/4001/p2p/{other}"),
        ],
        ips=lambda: [LAN],
    )
    assert got == [
        f"/dns4/node.example.org/tcp/4001/p2p/{PID}",
        f"/ip4/203.0.113.7/tcp/4001/p2p/{PID}",
    ]


def test_fit_keeps_whole_addresses_in_order():
    addrs = [f"/ip4/10.0.0.{i}/tcp/4001/p2p/{PID}" for i in range(20)]
    text, left = A.fit(addrs, 512)
    kept = text.split(" ")
    assert len(text.encode()) <= 512 and kept == addrs[: len(kept)] and left == addrs[len(kept) :]
    assert left  # 20 of them do not fit
    assert A.fit([], 512) == ("", [])


def test_bootstrap_line_is_toml_a_node_can_paste():
    addrs = [f"/ip4/127.0.0.1/tcp/40123/p2p/{PID}", f"/ip6/::1/tcp/40123/p2p/{PID}"]
    line = A.bootstrap_line(addrs)
    assert line.startswith("bootstrap = [")
    assert tomllib.loads(line) == {"bootstrap": addrs}


def test_interface_ips_are_concrete_and_loopback_comes_last():
    ips = A.interface_ips()
    assert ips and not any(ip.is_unspecified or ip.is_link_local for ip in ips)
    loop = [ip.is_loopback for ip in ips]
    assert loop == sorted(loop)


# -- a real host on 127.0.0.1 ----------------------------------------------------------------
def test_a_taken_port_moves_to_a_free_one_says_so_and_is_dialable(make_peer, caplog):
    with socket.socket() as blocker:
        blocker.bind(("127.0.0.1", 0))
        blocker.listen()
        port = blocker.getsockname()[1]
        assert A.port_taken(ma(f"/ip4/127.0.0.1/tcp/{port}"))
        with caplog.at_level(logging.WARNING, logger="milon_app.p2p.addresses"):
            a = make_peer("a", listen=[f"/ip4/127.0.0.1/tcp/{port}"])
        addrs = a.listen_addrs()
        assert len(addrs) == 1 and addrs[0].endswith(f"/p2p/{a.peer_id}")
        real = int(Multiaddr(addrs[0]).value_for_protocol("tcp"))
        assert real not in (0, port)
        assert f"tcp/{port}: the port is taken" in caplog.text and f"tcp/{real}" in caplog.text
        b = make_peer("b")
        assert b.connect(addrs[0]) == a.peer_id


def test_port_zero_stays_any_free_port_without_a_warning(make_peer, caplog):
    with caplog.at_level(logging.WARNING, logger="milon_app.p2p.addresses"):
        a = make_peer("a", listen=["/ip4/127.0.0.1/tcp/0"])
    assert int(Multiaddr(a.listen_addrs()[0]).value_for_protocol("tcp")) != 0
    assert "taken" not in caplog.text
    assert not A.port_taken(ma("/ip4/127.0.0.1/tcp/0"))


def test_a_free_configured_port_is_kept(make_peer):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    a = make_peer("a", listen=[f"/ip4/127.0.0.1/tcp/{port}"])
    assert a.listen_addrs() == [f"/ip4/127.0.0.1/tcp/{port}/p2p/{a.peer_id}"]


def test_a_host_publishes_its_announce_addresses(make_peer):
    a = make_peer("a", announce=["/ip4/203.0.113.7/tcp/4001"])
    assert a.listen_addrs() == [f"/ip4/203.0.113.7/tcp/4001/p2p/{a.peer_id}"]
