"""What the RPC client asks once instead of per request: the chain id (web3's validation asked
it before every call, estimate and send) and the head block's timestamp (every node of a process
asked it each tick)."""

from __future__ import annotations

from collections import Counter

from web3 import HTTPProvider

from milon_app.chain.client import ChainClient
from milon_app.chain.deploy import deploy_suite


def _count_requests(monkeypatch) -> Counter[str]:
    asked: Counter[str] = Counter()
    real = HTTPProvider._make_request

    def counting(self, method, params):
        asked[method] += 1
        return real(self, method, params)

    monkeypatch.setattr(HTTPProvider, "_make_request", counting)
    return asked


def test_calls_and_sends_do_not_each_ask_the_chain_id(anvil_node, monkeypatch):
    asked = _count_requests(monkeypatch)
    client = ChainClient.connect(anvil_node.url, dev_accounts=2)
    suite = deploy_suite(client, client.dev_accounts[0], dev=True)
    owner, other = client.dev_accounts
    for value in range(1, 6):
        client.transact(suite.token.functions.transfer(other.address, value), owner)
        client.call(suite.token.functions.balanceOf(other.address), block=client.block_number())
    assert asked["eth_call"] >= 5 and asked["eth_sendRawTransaction"] >= 5
    assert asked["eth_chainId"] <= 2


def test_the_time_at_one_head_is_read_once_and_moves_with_the_head(anvil_node, monkeypatch):
    client = ChainClient.connect(anvil_node.url, dev_accounts=1)
    asked = _count_requests(monkeypatch)
    client.block_number()  # the head the reads pin to
    first = [client.now() for _ in range(5)]
    assert len(set(first)) == 1 and asked["eth_getBlockByNumber"] == 1
    client.increase_time(3600)  # mines a block: a new head, a new time
    assert client.now() >= first[0] + 3600
