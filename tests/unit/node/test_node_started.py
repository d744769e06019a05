"""``NodeStarted`` reports the chain's current block, not where the node's event scan resumes
(a fresh node scans from the deployment block and printed that, often 0, as if the chain
had just begun)."""

from __future__ import annotations

from milon_app.chain.client import ChainClient
from milon_app.chain.deploy import deploy_suite
from milon_app.node.build import NodeOptions, build_node
from milon_app.node.bus import EventBus
from milon_app.node.events import NodeStarted
from milon_app.p2p.inprocess import InProcessHub


def test_node_started_reports_the_current_block(tmp_path):
    client = ChainClient.embedded()
    acct = client.dev_accounts[0]
    suite = deploy_suite(client, acct, dev=True)
    client.mine(7)  # the chain moved on since the deployment the scan starts from
    hub, bus = InProcessHub(), EventBus()

    def on_hub(a, store, _bootstrap):
        return hub.transport(a.address, store), None

    node = build_node(acct, suite, bus, tmp_path / "n", on_hub, NodeOptions(device="cpu"))
    try:
        node.start()
        (started,) = [e for e in bus.history(NodeStarted) if isinstance(e, NodeStarted)]
        head = client.block_number()
        assert started.block == head and head >= suite.manifest.deployed_block + 7
        assert started.chain_id == client.chain_id
    finally:
        node.stop()
        node.state.close()
