"""Dial-back reachability on loopback: real hosts ask each other over /milon/dialback/1.0.0 and
the server opens a fresh TCP socket to the observed IP."""

from __future__ import annotations

import json
import socket

from libp2p.peer.id import ID

from milon_app.p2p import dialback
from milon_app.p2p.dialback import REACHABLE, REFUSED, UNREACHABLE, verdict

from .gossip_wait import wait_for


def _closed_port(ip: str = "127.0.0.1") -> int:
    with socket.socket() as s:
        s.bind((ip, 0))
        return int(s.getsockname()[1])


def _listen_port(peer) -> int:
    return int(peer.listen_addrs()[-1].split("/tcp/")[1].split("/")[0])


def _ask(asker, server, port: int) -> str:
    return str(asker.call(dialback.ask, asker.open_stream, ID.from_base58(server.peer_id), port))


async def _ask_raw(asker, server: str, request: dict) -> dict:
    stream = await asker.open_stream(ID.from_base58(server), [dialback.PROTOCOL])
    try:
        await stream.write(json.dumps(request).encode() + b"\n")
        return json.loads(await stream.read(dialback.MAX_LINE))
    finally:
        await stream.close()


def test_a_node_on_loopback_learns_it_is_public(make_peer):
    server = make_peer("server", reachability="private")
    node = make_peer("node", bootstrap=server.listen_addrs())  # auto: loopback is not global
    assert node.reach().mode == "private"  # the address rule's guess, before any answer
    assert wait_for(lambda: node.reach().mode == "public", 15)
    assert node.dialback.answers == {server.peer_id: REACHABLE}


def test_a_closed_port_is_unreachable_and_a_second_ask_within_a_minute_is_refused(make_peer):
    server = make_peer("server", reachability="private")
    asker = make_peer("asker", reachability="private")
    asker.connect(server.listen_addrs()[0])
    assert _ask(asker, server, _closed_port()) == UNREACHABLE
    assert _ask(asker, server, _listen_port(asker)) == REFUSED  # rate limited, though open


def test_the_asker_cannot_point_the_dial_back_at_another_ip(make_peer):
    server = make_peer("server", reachability="private")
    asker = make_peer("asker", reachability="private")
    asker.connect(server.listen_addrs()[0])
    with socket.socket() as victim:  # a third party on another loopback IP
        victim.bind(("127.0.0.2", 0))
        victim.listen()
        victim.setblocking(False)
        port = int(victim.getsockname()[1])
        request = {"port": port, "ip": "127.0.0.2", "host": "127.0.0.2"}
        answer = asker.call(_ask_raw, asker, server.peer_id, request)
        assert answer == {"status": UNREACHABLE}  # it dialled 127.0.0.1 (observed), not .2
        try:
            victim.accept()
            raise AssertionError("the server dialled the IP the asker named")
        except BlockingIOError:
            pass


def test_bad_requests_get_no_dial(make_peer):
    server = make_peer("server", reachability="private")
    asker = make_peer("asker", reachability="private")
    asker.connect(server.listen_addrs()[0])
    for bad in ({"port": 0}, {"port": "80"}, {"port": True}, {}):
        assert _ask_raw_or_empty(asker, server.peer_id, bad) is None


def _ask_raw_or_empty(asker, server: str, request: dict) -> dict | None:
    try:
        return dict(asker.call(_ask_raw, asker, server, request))
    except Exception:
        return None  # the server closed the stream without an answer


def test_an_announced_port_nobody_reaches_turns_the_node_private_and_it_reserves(make_peer):
    relay = make_peer("relay", reachability="public", relay="on")
    port = _closed_port()
    node = make_peer(
        "node", bootstrap=relay.listen_addrs(), announce=[f"/ip4/127.0.0.1/tcp/{port}"]
    )
    assert node.reach().mode == "public"  # announced: the address rule's guess
    assert wait_for(lambda: node.reach().mode == "relay", 15)  # told private, it reserved
    assert node.dialback.answers == {relay.peer_id: UNREACHABLE}
    assert node.listen_addrs()[0].endswith(f"/p2p-circuit/p2p/{node.peer_id}")


def test_the_verdict_needs_two_confirmations_unless_there_is_one_peer():
    assert verdict([REACHABLE], connected=1) is True
    assert verdict([REACHABLE, UNREACHABLE], connected=2) is False
    assert verdict([REACHABLE, REACHABLE, UNREACHABLE], connected=5) is True
    assert verdict([REACHABLE, REFUSED, REFUSED], connected=3) is False
    assert verdict([REFUSED, REFUSED], connected=2) is None  # nobody answered: keep the guess
    assert verdict([], connected=0) is None


def test_the_prober_stops_listing_peers_once_it_has_its_answers(monkeypatch):
    """Listing the peers walks every connection's addresses: with ASK answers in hand and no
    recheck due, the once-a-second poll must not do it (every host in a big federation did)."""
    import trio
    import trio.testing

    async def answer(_open, _peer, _port):
        return REACHABLE

    monkeypatch.setattr(dialback, "ask", answer)
    ids = [ID(bytes([0, 1, i])) for i in range(5)]
    listed: list[int] = []
    verdicts: list[bool] = []

    def peers():
        listed.append(1)
        return ids

    prober = dialback.Prober(None, peers, lambda: 4001, verdicts.append)

    async def main():
        with trio.move_on_after(20 * dialback.POLL_S):
            await prober.run()

    trio.run(main, clock=trio.testing.MockClock(autojump_threshold=0))
    assert verdicts == [True] and len(prober.answers) == dialback.ASK
    assert len(listed) == 1  # the first poll asked ASK peers; the next 19 had nobody to ask
