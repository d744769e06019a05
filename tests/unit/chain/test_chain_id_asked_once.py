"""web3's request validation asks eth_chainId before every call, estimate and send; the RPC
client asks it once per endpoint (a chain's id never changes), not once per request."""

from __future__ import annotations

from collections import Counter

from web3 import HTTPProvider

from milon_app.chain.client import ChainClient
from milon_app.chain.deploy import deploy_suite


def test_calls_and_sends_do_not_each_ask_the_chain_id(anvil_node, monkeypatch):
    asked: Counter[str] = Counter()
    real = HTTPProvider._make_request

    def counting(self, method, params):
        asked[method] += 1
        return real(self, method, params)

    monkeypatch.setattr(HTTPProvider, "_make_request", counting)
    client = ChainClient.connect(anvil_node.url, dev_accounts=2)
    suite = deploy_suite(client, client.dev_accounts[0], dev=True)
    owner, other = client.dev_accounts
    for value in range(1, 6):
        client.transact(suite.token.functions.transfer(other.address, value), owner)
        client.call(suite.token.functions.balanceOf(other.address), block=client.block_number())
    assert asked["eth_call"] >= 5 and asked["eth_sendRawTransaction"] >= 5
    assert asked["eth_chainId"] <= 2
