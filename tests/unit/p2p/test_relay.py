"""Circuit relay v2 and DCUtR on loopback: three real hosts (a relay, a private node holding a
reservation on it, a dialer that fetches a blob through the circuit)."""

from __future__ import annotations

import os

import pytest
from libp2p.peer.id import ID

from milon_app.errors import BadInputError, ConfigError
from milon_app.p2p import blob_protocol as bp
from milon_app.p2p.reachability import Reach, is_public, serves_relay
from milon_app.p2p.relay import is_relayed

from .gossip_wait import wait_for


async def _relayed_conns(peer, other: str) -> list[bool]:
    net = peer._host.get_network()
    return [is_relayed(c) for c in net.get_connections(ID.from_base58(other))]


async def _stream_relayed(peer, other: str) -> bool:
    """Whether a new blob stream to ``other`` goes through the relay."""
    stream = await peer.open_stream(ID.from_base58(other), [bp.BLOB_PROTOCOL])
    try:
        net = peer._host.get_network()
        conn = next(c for c in net.get_connections(ID.from_base58(other))
                    if c.muxed_conn is stream.muxed_conn)  # fmt: skip
        return is_relayed(conn)
    finally:
        await stream.reset()


def test_blob_moves_through_the_relay_then_over_the_hole_punched_connection(make_peer):
    relay = make_peer("relay", reachability="public", relay="on")
    home = make_peer("home", reachability="private", bootstrap=relay.listen_addrs())
    fetched: list[dict] = []
    dialer = make_peer(
        "dialer",
        reachability="private",
        on_event=lambda kind, data: kind == "blob_fetched" and fetched.append(data),
    )
    assert relay.reach().mode == "public" and relay.reach().serving_relay
    assert wait_for(lambda: home.reach().mode == "relay")
    reach = home.reach()
    assert reach.relay == relay.peer_id and reach.text() == f"via relay {relay.peer_id[-8:]}"
    circuit = home.listen_addrs()[0]  # published first: it is what a peer outside can dial
    assert circuit == reach.relay_addr
    assert circuit.endswith(f"/p2p/{relay.peer_id}/p2p-circuit/p2p/{home.peer_id}")

    blob = os.urandom(1 << 20)
    digest = home.store.put(blob, "weights")
    home.provide(digest)
    assert dialer.fetch(digest, kind="weights", providers=[circuit]) == digest
    assert dialer.store.get(digest) == blob
    assert dialer.call(_relayed_conns, dialer, home.peer_id)[0] is True  # the first: relayed

    # DCUtR on both sides upgrades it (on loopback nothing stands in the way)
    assert wait_for(lambda: home.peer_id in dialer.reach().punched, timeout=20)
    assert dialer.peer_id in home.reach().punched or wait_for(
        lambda: dialer.peer_id in home.reach().punched
    )
    assert "direct after a hole punch" in dialer.reach().text()
    assert sorted(dialer.call(_relayed_conns, dialer, home.peer_id)) == [False, True]
    assert dialer.call(_stream_relayed, dialer, home.peer_id) is False  # blobs go direct now
    second = home.store.put(os.urandom(1 << 20), "weights")
    home.provide(second)
    assert dialer.fetch(second, kind="weights", providers=[home.peer_id]) == second
    assert wait_for(lambda: len(fetched) == 2)
    assert [f["relayed"] for f in fetched] == [True, False]  # the event says how each came


def test_a_public_node_does_not_reserve_and_a_circuit_to_an_unreserved_peer_fails(make_peer):
    relay = make_peer("relay", reachability="public", relay="on")
    public = make_peer("pub", reachability="public", relay="off", bootstrap=relay.listen_addrs())
    dialer = make_peer("dialer")
    assert wait_for(lambda: relay.peer_id in public.peers())
    assert public.reach().mode == "public" and not public.reach().serving_relay
    assert public.listen_addrs() == [a for a in public.listen_addrs() if "p2p-circuit" not in a]
    digest = public.store.put(b"x" * 100, "weights")
    circuit = f"{relay.listen_addrs()[0]}/p2p-circuit/p2p/{public.peer_id}"
    with pytest.raises(Exception, match="could not fetch blob"):
        dialer.fetch(digest, kind="weights", providers=[circuit], timeout_s=8)


def test_reachability_rules():
    from multiaddr import Multiaddr

    lan, wan = Multiaddr("/ip4/192.168.1.5/tcp/4001"), Multiaddr("/ip4/8.8.8.8/tcp/4001")
    assert not is_public("auto", [lan], [])
    assert is_public("auto", [wan], [])
    assert is_public("auto", [lan], [wan])  # an announced address: a forwarded port
    assert is_public("public", [lan], []) and not is_public("private", [wan], [])
    assert serves_relay("auto", True) and not serves_relay("auto", False)
    assert serves_relay("on", False) and not serves_relay("off", True)
    with pytest.raises(BadInputError, match="p2p.reachability 'maybe'"):
        is_public("maybe", [lan], [])
    assert Reach("public", serving_relay=True).text() == "public; serving as a relay"
    assert Reach("private").text().startswith("private")


def test_config_refuses_an_unknown_relay_setting():
    from milon_app.config import config_from_dict

    cfg = config_from_dict({"p2p": {"relay": "on", "reachability": "private"}})
    assert (cfg.p2p.relay, cfg.p2p.reachability) == ("on", "private")
    with pytest.raises(ConfigError, match="p2p.relay 'sometimes'"):
        config_from_dict({"p2p": {"relay": "sometimes"}})


def test_status_prints_how_the_node_is_reached():
    from milon_app.cli.cmd_status import _render

    reach = Reach("relay", relay="16Uiu2HAmRelay00abcdefgh", relay_addr="/ip4/x/p2p-circuit/p2p/y")
    text = _render({"peer_id": "p", "listen_addrs": [], "reach": reach.as_dict()})
    assert "reached           via relay abcdefgh" in text
    assert "relayed address   /ip4/x/p2p-circuit/p2p/y" in text
