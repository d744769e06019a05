"""The embedded chain served on loopback JSON-RPC (what the window's node uses when the
simulated federation runs in a child process)."""

from __future__ import annotations

import http.client
import json
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator

import pytest
from eth_account import Account

from milon_app.chain.bindings import Milon
from milon_app.chain.client import ChainClient
from milon_app.chain.deploy import Suite, deploy_suite
from milon_app.chain.errors import ContractRevert
from milon_app.chain.rpc_server import MAX_BODY, EmbeddedRpcServer

ETHER = 10**18


@pytest.fixture(scope="module")
def served() -> Iterator[tuple[ChainClient, Suite, EmbeddedRpcServer]]:
    client = ChainClient.embedded()
    suite = deploy_suite(client, client.dev_accounts[0], dev=True)
    server = EmbeddedRpcServer(client)
    server.start()
    yield client, suite, server
    server.stop()


def remote(server: EmbeddedRpcServer, suite: Suite) -> tuple[ChainClient, Milon]:
    client = ChainClient.connect(server.url)
    return client, Milon(Suite.attach(client, suite.manifest))


def post(url: str, body: bytes) -> tuple[int, dict]:
    req = urllib.request.Request(url, body, {"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def test_a_client_in_another_process_sees_a_dev_chain_and_the_suite(served):
    local, suite, server = served
    client, milon = remote(server, suite)
    assert server.url.startswith("http://127.0.0.1:")
    assert client.kind == "rpc" and client.is_dev and client.serves_embedded
    assert client.chain_id == local.chain_id
    assert milon.balance(local.dev_accounts[0].address) == Milon(suite).balance(
        local.dev_accounts[0].address
    )


def test_writes_over_rpc_land_and_the_serving_clients_cache_follows(served):
    local, suite, server = served
    _client, milon = remote(server, suite)
    here = Milon(suite)
    user = Account.create()  # THROWAWAY test account
    local.send_eth(local.dev_accounts[0], user.address, ETHER)
    here.transfer(local.dev_accounts[0], user.address, 100 * ETHER)
    assert here.balance(user.address) == 100 * ETHER  # now cached in the serving process
    milon.transfer(user, local.dev_accounts[1].address, 40 * ETHER)  # signed and sent over RPC
    # without note_external_write the serving process would still read its cached 100
    assert here.balance(user.address) == 60 * ETHER
    assert milon.balance(user.address) == 60 * ETHER


def test_a_revert_arrives_decoded_with_its_custom_error(served):
    local, suite, server = served
    _client, milon = remote(server, suite)
    with pytest.raises(ContractRevert, match="UnknownFederation"):
        milon.withdraw_stake(local.dev_accounts[1], 999)
    with pytest.raises(ContractRevert, match="ERC20InsufficientBalance"):
        milon.transfer(local.dev_accounts[2], local.dev_accounts[3].address, 10**30 * ETHER)


def test_dev_methods_mine_move_time_and_snapshot(served):
    _local, suite, server = served
    client, milon = remote(server, suite)
    block = client.block_number()
    client.mine(3)
    assert client.block_number() == block + 3
    now = client.now()
    client.increase_time(600)
    assert client.now() >= now + 600
    at_snapshot = client.block_number()
    snap = client.snapshot()
    client.mine(2)
    assert client.block_number() == at_snapshot + 2
    client.revert(snap)
    assert client.block_number() == at_snapshot
    assert milon.federation_count() >= 0


def test_transactions_from_both_processes_at_once_all_land(served):
    """The server takes the serving client's EVM lock: a transaction over RPC never races
    the serving process's own transactions or mining (a lost one shows as a nonce gap)."""
    local, suite, server = served
    _client, milon = remote(server, suite)
    here = Milon(suite)
    user = Account.create()  # THROWAWAY test account
    local.send_eth(local.dev_accounts[0], user.address, ETHER)
    here.transfer(local.dev_accounts[0], user.address, 50 * ETHER)
    to = local.dev_accounts[4].address
    before = here.balance(to)
    errors: list[BaseException] = []

    def remote_sends() -> None:
        try:
            for _ in range(15):
                milon.transfer(user, to, ETHER)
        except BaseException as exc:
            errors.append(exc)

    t = threading.Thread(target=remote_sends)
    t.start()
    for _ in range(15):
        here.transfer(local.dev_accounts[0], to, ETHER)
        local.mine(1)
    t.join(60)
    assert errors == []
    assert here.balance(to) == before + 30 * ETHER


def test_bad_requests_get_json_rpc_errors(served):
    _local, _suite, server = served
    code, body = post(server.url, b"{not json")
    assert code == 400 and body["error"]["code"] == -32700
    code, body = post(server.url, json.dumps({"id": 1}).encode())
    assert code == 200 and body["error"]["code"] == -32600
    code, body = post(server.url, json.dumps({"id": 2, "method": "eth_noSuchMethod"}).encode())
    assert code == 200 and "error" in body and body["id"] == 2
    host, port = server.url.removeprefix("http://").split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=10)
    conn.putrequest("POST", "/")
    conn.putheader("Content-Length", str(MAX_BODY + 1))  # refused before the body is read
    conn.endheaders()
    resp = conn.getresponse()
    assert resp.status == 413 and "too large" in json.loads(resp.read())["error"]["message"]
    conn.close()


def test_nothing_is_signed_or_sent_for_the_unlocked_dev_accounts(served):
    local, _suite, server = served
    dev = local.dev_accounts[0].address
    before = local.balance(dev)
    send = {"from": dev, "to": local.dev_accounts[1].address, "value": hex(ETHER)}
    for method, params in [("eth_sendTransaction", [send]), ("eth_sign", [dev, "0x00"]),
                           ("eth_accounts", []), ("personal_unlockAccount", [dev, "", 0])]:
        code, body = post(server.url, json.dumps({"id": 1, "method": method,
                                                  "params": params}).encode())
        assert code == 200 and body["error"]["code"] == -32601, method
    assert local.balance(dev) == before


def test_a_batch_gets_one_answer_per_request(served):
    _local, _suite, server = served
    batch = [{"jsonrpc": "2.0", "id": i, "method": "eth_chainId"} for i in range(3)]
    code, body = post(server.url, json.dumps(batch).encode())
    assert code == 200 and [r["id"] for r in body] == [0, 1, 2]
    assert all(int(r["result"], 16) == 131_277_322_940_537 for r in body)


def test_only_the_embedded_chain_can_be_served():
    client = ChainClient.embedded()
    client.kind = "rpc"
    with pytest.raises(ValueError, match="embedded"):
        EmbeddedRpcServer(client)
