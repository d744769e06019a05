"""A node keeps its on-chain peer info current, on a real anvil (issue 22, items 4 and 5).

A member joined without peer info (``fed join`` with no ``--peer-info``) gets dialable
addresses registered after one node tick; a tick with nothing changed sends no transaction;
the node restarted on another port (its configured one taken) updates it. Then a daemon
process: its port taken, it listens on a free one, says so in its JSON log, registers that
address, and ``milon status --json`` prints the bootstrap line for it.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import tomllib

from milon_app.chain.devnet import free_port
from milon_app.node import events as ev
from milon_app.node.build import NodeOptions, build_node
from milon_app.node.bus import EventBus
from milon_app.node.transports import transport_factory
from milon_app.p2p.host import Libp2pTransport
from milon_app.store.blobs import BlobStore
from tests.helpers.daemon_fed import (
    MIN_STAKE,
    spawn_daemon,
    start_chain_federation,
    write_daemon_config,
)
from tests.procs import stop_process


@pytest.fixture
def chain(tmp_path):
    fed = start_chain_federation(tmp_path, "peer-info", 2)
    try:
        yield fed
    finally:
        fed.anvil.stop()


def _node(chain, acct, root: Path, listen: str, bus: EventBus):
    make = transport_factory("libp2p", chain.suite, bus, listen=[listen])
    return build_node(acct, chain.suite, bus, root, make, NodeOptions(roles=("contributor",)))


def _blocked_port(port: int = 0):
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # past a closed node's TIME_WAITs
    s.bind(("127.0.0.1", port))
    s.listen()
    return s, s.getsockname()[1]


def test_the_node_fills_keeps_and_updates_its_peer_info(chain, tmp_path):
    acct = chain.members[0]
    chain.milon.join(acct, chain.fed, MIN_STAKE, 300, "")  # `fed join` without --peer-info
    nonce = chain.client.w3.eth.get_transaction_count
    bus = EventBus()
    got: list[ev.PeerInfoPublished] = []
    bus.subscribe(got.append, ev.PeerInfoPublished)
    port = free_port()
    listen = f"/ip4/127.0.0.1/tcp/{port}"

    node = _node(chain, acct, tmp_path / "n1", listen, bus)
    node.start()
    try:
        node.tick()
        info = chain.milon.member(chain.fed, acct.address).peer_info
        assert info == f"{listen}/p2p/{node.transport.peer_id}"
        assert [(e.fed_id, e.previous) for e in got] == [(chain.fed, "")]
        assert chain.milon.member(chain.fed, acct.address).capacity == 300
        # what others read from the chain, they can dial
        other = Libp2pTransport(bytes(chain.members[1].key), BlobStore(tmp_path / "o"))
        other.start()
        try:
            assert other.connect(info) == node.transport.peer_id
        finally:
            other.stop()
    finally:
        node.close()

    before = nonce(acct.address)
    node = _node(chain, acct, tmp_path / "n1", listen, bus)  # a restart, same address
    node.start()
    try:
        for _ in range(3):
            node.tick()  # compared with the chain: equal, so no transaction
        assert nonce(acct.address) == before and len(got) == 1
    finally:
        node.close()

    blocker, _ = _blocked_port(port)
    with blocker:  # the configured port is taken now: the restarted node moves to a free one
        node = _node(chain, acct, tmp_path / "n1", listen, bus)
        node.start()
        try:
            node.tick()
            now = chain.milon.member(chain.fed, acct.address).peer_info
            assert now == " ".join(node.transport.listen_addrs()) and now != info
            assert f"/tcp/{port}/" not in now and now.startswith("/ip4/127.0.0.1/tcp/")
            assert [e.previous for e in got] == ["", info]
            assert nonce(acct.address) == before + 1
        finally:
            node.close()


def _wait(what: str, predicate, proc: subprocess.Popen, log: Path, timeout: float = 30.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        if proc.poll() is not None:
            raise AssertionError(
                f"daemon exited ({proc.returncode}) waiting {what}:\n{log.read_text()}"
            )
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting {what}:\n{log.read_text()[-3000:]}")


def _status(home: Path, toml: Path) -> dict | None:
    res = subprocess.run(
        [sys.executable, "-m", "milon_app", "--home", str(home), "--config", str(toml),
         "--json", "status"],
        capture_output=True, text=True, timeout=30,
    )  # fmt: skip
    return json.loads(res.stdout) if res.returncode == 0 else None


def test_a_daemon_on_a_taken_port_publishes_the_real_one(chain, tmp_path):
    acct = chain.members[1]
    chain.milon.join(acct, chain.fed, MIN_STAKE, 300, "")
    home = tmp_path / "d"
    blocker, port = _blocked_port()
    with blocker:
        toml = write_daemon_config(
            home, acct, chain.rpc, chain.manifest,
            f'dataset = ""\n\n[p2p]\nlisten = "/ip4/127.0.0.1/tcp/{port}"\n',
        )  # fmt: skip
        proc = spawn_daemon(home, toml)
        log = home / "daemon.log"
        try:
            info = _wait(
                "for the peer info on chain",
                lambda: chain.milon.member(chain.fed, acct.address).peer_info,
                proc, log,
            )  # fmt: skip
            status = _wait("for the status", lambda: _status(home, toml), proc, log)
        finally:
            stop_process(proc)
    assert status["bootstrap"] == status["listen_addrs"] == info.split()
    assert f"/tcp/{port}/" not in info
    assert tomllib.loads(status["bootstrap_line"]) == {"bootstrap": info.split()}
    lines = [json.loads(x) for x in log.read_text().splitlines() if x.startswith("{")]
    published = [x for x in lines if x.get("event") == "PeerInfoPublished"]
    assert [(x["fed_id"], x["peer_info"]) for x in published] == [(chain.fed, info)]
    warned = [x for x in lines if x.get("event") == "Log" and "port is taken" in x["message"]]
    assert warned and warned[0]["level"] == "warning"
