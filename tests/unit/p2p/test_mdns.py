"""p2p.mdns without a network: the switch, and what an announcement may make a node dial."""

from __future__ import annotations

import os
import time

import pytest
from libp2p.crypto.ed25519 import create_new_key_pair as ed25519_pair
from libp2p.peer.id import ID
from libp2p.peer.peerinfo import PeerInfo
from multiaddr import Multiaddr

from milon_app.config import Config, config_from_dict
from milon_app.p2p.identity import keypair_from_eth_key
from milon_app.p2p.mdns import ENV_SWITCH, dialable, wanted


def _milon_id() -> ID:
    return ID.from_pubkey(keypair_from_eth_key(os.urandom(32)).public_key)


def test_on_for_users_off_in_this_test_suite(monkeypatch: pytest.MonkeyPatch) -> None:
    assert Config().p2p.mdns is True
    assert config_from_dict({"p2p": {"mdns": False}}).p2p.mdns is False
    assert not wanted(True)  # tests/conftest.py: no node started from a config runs mDNS
    monkeypatch.delenv(ENV_SWITCH)
    assert wanted(True) and not wanted(False)


def test_only_milon_peers_on_lan_addresses_are_dialled() -> None:
    me, peer = _milon_id(), _milon_id()
    addrs = [
        Multiaddr("/ip4/192.168.1.20/tcp/4001"),
        Multiaddr("/ip4/127.0.0.1/tcp/22"),  # a LAN host must not make us dial our loopback
        Multiaddr("/ip4/0.0.0.0/tcp/4001"),
        Multiaddr("/ip6/fe80::1/tcp/4001"),
        Multiaddr("/ip4/192.168.1.20/udp/4001"),
    ]
    usable = dialable(PeerInfo(peer, addrs), me)
    assert usable is not None and usable.addrs == [addrs[0]]
    assert dialable(PeerInfo(me, addrs), me) is None  # our own announcement
    assert dialable(PeerInfo(peer, addrs[1:]), me) is None
    other = ID.from_pubkey(ed25519_pair().public_key)  # not a wallet-derived (secp256k1) ID
    assert dialable(PeerInfo(other, addrs), me) is None


def _udp_5353_sockets() -> int:
    """Sockets bound to UDP port 5353 in this network namespace (IPv4 and IPv6)."""
    count = 0
    for table in ("/proc/net/udp", "/proc/net/udp6"):
        with open(table) as f:
            next(f)
            count += sum(1 for line in f if line.split()[1].endswith(":14E9"))
    return count


def test_a_node_on_loopback_only_runs_no_mdns(tmp_path, caplog: pytest.LogCaptureFixture) -> None:
    """The default p2p.listen (127.0.0.1): mDNS asked for, yet nothing bound on the machine's
    interfaces and no query sent (zeroconf would bind port 5353 on every one)."""
    import logging

    from milon_app.p2p.host import Libp2pTransport
    from milon_app.store.blobs import BlobStore

    before = _udp_5353_sockets()
    peer = Libp2pTransport(os.urandom(32), BlobStore(tmp_path), listen=["/ip4/127.0.0.1/tcp/0"],
                           mdns=True)
    with caplog.at_level(logging.INFO, logger="milon_app.p2p.mdns"):
        peer.start()
        try:
            deadline = time.monotonic() + 10
            while "loopback only" not in caplog.text and time.monotonic() < deadline:
                time.sleep(0.02)
            assert "mDNS is off: this node listens on loopback only" in caplog.text
            assert _udp_5353_sockets() == before
        finally:
            peer.stop()
