"""Dial-back reachability across a real NAT (:mod:`tests.netns.nat_topology`): a node in a home
behind a MASQUERADE router that DROPs unsolicited packets is told private by the public peers,
although it announces the router's address; a node in the public network is told public,
although its (documentation-range) address is not global. The hosts run in this process:
each starts on a thread that entered its namespace, so its trio thread lives there.

Needs root, ``ip`` and ``iptables``; skipped with the reason otherwise.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from milon_app.p2p.dialback import REACHABLE, UNREACHABLE
from milon_app.p2p.host import Libp2pTransport
from milon_app.store.blobs import BlobStore
from tests.netns.nat_topology import RELAY_IP, entered, missing, nat_topology
from tests.unit.p2p.gossip_wait import wait_for

pytestmark = [pytest.mark.netns, pytest.mark.skipif(bool(missing()), reason=missing() or "-")]
ROUTER_A_WAN = "203.0.113.2"  # what home a's router MASQUERADEs to (nat_topology)


def _start(ns: str, store: Path, listen: str, made: list[Libp2pTransport], **kw) -> Libp2pTransport:
    peer = Libp2pTransport(os.urandom(32), BlobStore(store), listen=[listen], **kw)
    made.append(peer)
    with entered(ns):
        peer.start()
    return peer


def test_the_home_node_is_told_private_and_the_public_one_public(tmp_path):
    made: list[Libp2pTransport] = []
    with nat_topology() as topo:
        try:
            relay = _start(topo.public, tmp_path / "relay", f"/ip4/{RELAY_IP}/tcp/4001", made,
                           reachability="public", relay="on")  # fmt: skip
            boot = relay.listen_addrs()[:1]
            public = _start(topo.public, tmp_path / "pub", f"/ip4/{RELAY_IP}/tcp/4002", made,
                            bootstrap=boot)  # fmt: skip
            assert public.reach().mode == "private"  # 203.0.113.0/24 is not a global IP
            home = _start(topo.homes["a"], tmp_path / "home", f"/ip4/{topo.home_ip('a')}/tcp/4001",
                          made, bootstrap=[*boot, public.listen_addrs()[0]],
                          announce=[f"/ip4/{ROUTER_A_WAN}/tcp/4001"])  # fmt: skip
            assert home.reach().mode == "public"  # it announces a port its router never forwards

            assert wait_for(lambda: public.reach().mode == "public", 20)
            assert set(public.dialback.answers.values()) == {REACHABLE}
            assert wait_for(lambda: home.reach().mode == "relay", 20), home.dialback.answers
            assert home.dialback.answers == {relay.peer_id: UNREACHABLE,
                                             public.peer_id: UNREACHABLE}  # fmt: skip
            assert "/p2p-circuit/" in home.listen_addrs()[0]  # it publishes the relayed address
        finally:
            for peer in reversed(made):
                peer.stop()
