"""The chain client on both real chains (embedded py-evm and anvil over JSON-RPC)."""

from __future__ import annotations

import time

import pytest
from eth_account import Account

from milon_app.chain.client import ChainClient, RetryPolicy
from milon_app.chain.deploy import Suite, deploy_suite
from milon_app.chain.devnet import free_port
from milon_app.chain.errors import ContractRevert, RpcUnavailableError, WrongChainError
from milon_app.chain.events import EventCursor
from milon_app.chain.manifest import Manifest
from milon_app.exit_codes import ExitCode

ETHER = 10**18


def test_transfers_and_local_nonce_tracking(client, suite, accounts):
    token = suite.token
    for i in range(1, 4):
        client.transact(token.functions.transfer(accounts[i].address, i * ETHER), accounts[0])
    for i in range(1, 4):
        assert client.call(token.functions.balanceOf(accounts[i].address)) == i * ETHER


def test_revert_names_the_custom_error(client, suite, accounts):
    with pytest.raises(ContractRevert) as info:
        client.transact(suite.token.functions.faucet(accounts[1].address, 10**30), accounts[1])
    assert info.value.error_name == "FaucetAmountTooLarge"
    assert info.value.error_args == (10**30, 10_000 * ETHER)
    assert "faucet: reverted with FaucetAmountTooLarge" in str(info.value)
    assert info.value.exit_code == ExitCode.CHAIN


def test_nonce_recovers_after_a_revert(client, suite, accounts):
    with pytest.raises(ContractRevert):
        client.transact(suite.token.functions.transfer(accounts[2].address, 10**40), accounts[1])
    client.transact(suite.token.functions.faucet(accounts[1].address, ETHER), accounts[1])
    assert client.call(suite.token.functions.balanceOf(accounts[1].address)) == ETHER


def test_time_and_blocks(client):
    t0, b0 = client.now(), client.block_number()
    client.increase_time(3600)
    assert client.now() >= t0 + 3600
    client.mine(3)
    assert client.block_number() >= b0 + 4


def test_event_cursor_is_resumable(client, suite, accounts):
    names = suite.by_name()
    start = client.block_number() + 1
    cursor = EventCursor(client, names, start)
    client.transact(suite.token.functions.transfer(accounts[1].address, 1), accounts[0])
    first = cursor.poll()
    assert [(e.name, e.args["value"]) for e in first] == [("Transfer", 1)]
    assert cursor.poll() == []
    client.transact(suite.token.functions.transfer(accounts[2].address, 2), accounts[0])
    resumed = EventCursor(client, names, cursor.next_block)  # as after a restart
    assert [(e.name, e.args["to"]) for e in resumed.poll()] == [("Transfer", accounts[2].address)]


def test_attach_refuses_wrong_chain_and_missing_code(client, suite):
    manifest = Manifest(**{**suite.manifest.__dict__})
    manifest.chain_id = 999
    with pytest.raises(WrongChainError, match="manifest is for chain id 999"):
        Suite.attach(client, manifest)
    manifest.chain_id = client.chain_id
    manifest.contracts = {**manifest.contracts, "TrainingJobs": "0x" + "11" * 20}
    with pytest.raises(WrongChainError, match="no contract code"):
        Suite.attach(client, manifest)


def test_unreachable_rpc_is_a_clear_error_after_retries():
    url = f"http://127.0.0.1:{free_port()}"
    t0 = time.monotonic()
    with pytest.raises(RpcUnavailableError, match="unreachable after 3 attempts") as info:
        ChainClient.connect(url, retry=RetryPolicy(attempts=3, first_delay_s=0.01))
    assert info.value.exit_code == ExitCode.CHAIN
    assert time.monotonic() - t0 < 30


def test_bad_url_and_wrong_chain_id(anvil_node):
    with pytest.raises(Exception, match="unsupported RPC URL"):
        ChainClient.connect("ftp://x")
    with pytest.raises(WrongChainError, match="expected 1"):
        ChainClient.connect(anvil_node.url, expected_chain_id=1)


def test_embedded_reads_are_cached_until_a_write(client, suite, accounts):
    token = suite.token
    who = accounts[5].address
    first = client.call(token.functions.balanceOf(who))
    key_count = len(client._reads)
    assert client.call(token.functions.balanceOf(who)) == first
    assert len(client._reads) == key_count  # served from the cache
    client.transact(token.functions.transfer(who, ETHER), accounts[0])
    assert client.call(token.functions.balanceOf(who)) == first + ETHER  # a write invalidates
    block = client.call(suite.governor.functions.clock())
    client.mine(3)
    assert client.call(suite.governor.functions.clock()) == block + 3  # so does mining


def test_a_read_racing_a_write_is_not_cached(client, suite, accounts):
    token = suite.token
    who = accounts[6].address
    fn = token.functions.balanceOf(who)
    real_rpc = client.rpc

    def rpc_with_a_write_in_between(call, what="RPC call"):
        result = real_rpc(call, what)
        if what.startswith("call balanceOf"):  # another thread's transaction lands now
            client.rpc = real_rpc
            client.transact(token.functions.transfer(who, ETHER), accounts[0])
        return result

    client.rpc = rpc_with_a_write_in_between
    stale = client.call(fn)
    client.rpc = real_rpc
    assert client.call(fn) == stale + ETHER


def test_transaction_history_per_sender(client, suite, accounts):
    token = suite.token
    client.transact(token.functions.transfer(accounts[7].address, ETHER), accounts[0])
    with pytest.raises(ContractRevert):  # refused before sending: not in the history
        client.transact(token.functions.transfer(accounts[2].address, 10**40), accounts[0])
    mine = client.transactions(accounts[0].address)
    assert mine[0].action == "transfer" and mine[0].ok and mine[0].gas_used > 0
    assert mine[0].tx_hash.startswith("0x") and len(mine[0].tx_hash) == 66
    assert all(t.sender == accounts[0].address for t in mine)
    assert client.transactions(Account.create().address) == []  # never sent anything


def test_is_dev_only_on_the_embedded_chain_and_local_devnets(client):
    from milon_app.chain.devnet import Anvil

    assert client.is_dev  # embedded, or anvil on 31337
    node = Anvil(accounts=1, chain_id=1337).start()  # a private network that is not a devnet
    try:
        other = ChainClient.connect(node.url)
        assert other.chain_id == 1337 and not other.is_dev
    finally:
        node.stop()


def _eth_calls(client: ChainClient) -> list[int]:
    """Count the contract reads ``client`` sends to its node from now on."""
    sent = [0]
    rpc = client.rpc

    def counting(fn, what="RPC call"):  # type: ignore[no-untyped-def]
        if what.startswith("call "):
            sent[0] += 1
        return rpc(fn, what)

    client.rpc = counting  # type: ignore[method-assign]
    return sent


def test_rpc_reads_are_shared_within_a_block_and_see_our_own_writes(anvil_node):
    """Many nodes in one process re-read the same views every tick: one eth_call per head
    block and call answers them all, and a read right after our own transaction sees it."""
    client = ChainClient.connect(anvil_node.url, dev_accounts=3)
    suite = deploy_suite(client, client.dev_accounts[0], dev=True)
    token, a0, a1 = suite.token, client.dev_accounts[0], client.dev_accounts[1]
    sent = _eth_calls(client)
    first = client.call(token.functions.balanceOf(a1.address))
    for _ in range(20):
        assert client.call(token.functions.balanceOf(a1.address)) == first
    assert sent[0] == 1
    client.transact(token.functions.transfer(a1.address, ETHER), a0)
    assert client.call(token.functions.balanceOf(a1.address)) == first + ETHER
    # Another process's write is seen once the head is re-read (within HEAD_FRESH_S).
    other = ChainClient.connect(anvil_node.url, dev_accounts=3)
    other.transact(token.functions.transfer(a1.address, ETHER), other.dev_accounts[0])
    deadline = time.monotonic() + 5
    while client.call(token.functions.balanceOf(a1.address)) != first + 2 * ETHER:
        assert time.monotonic() < deadline, "another client's write never became visible"
        time.sleep(0.05)


def test_devnet_fixed_gas_skips_the_estimate_and_still_names_reverts(anvil_node):
    """``dev_tx_gas`` (the simulation's devnet setting): no eth_estimateGas before a
    transaction, the same receipts, and a revert still raises the contract's named error
    (replayed on the state before the failed transaction's block); the nonce stays right."""
    client = ChainClient.connect(anvil_node.url, dev_accounts=3)
    suite = deploy_suite(client, client.dev_accounts[0], dev=True)
    client.dev_tx_gas = 5_000_000
    token, a0, a1 = suite.token, client.dev_accounts[0], client.dev_accounts[1]
    estimates = [0]
    rpc = client.rpc

    def counting(fn, what="RPC call"):  # type: ignore[no-untyped-def]
        estimates[0] += what.startswith("estimate ")
        return rpc(fn, what)

    client.rpc = counting  # type: ignore[method-assign]
    before = client.call(token.functions.balanceOf(a1.address))
    receipt = client.transact(token.functions.transfer(a1.address, ETHER), a0)
    assert receipt["status"] == 1 and receipt["gasUsed"] < 100_000
    with pytest.raises(ContractRevert) as info:
        client.transact(token.functions.faucet(a1.address, 10**30), a1)
    assert info.value.error_name == "FaucetAmountTooLarge"
    assert info.value.error_args == (10**30, 10_000 * ETHER)
    assert client.history[-1].action == "faucet" and not client.history[-1].ok
    client.transact(token.functions.transfer(a0.address, 1), a1)  # the nonce moved on
    assert client.call(token.functions.balanceOf(a1.address)) == before + ETHER - 1
    assert estimates[0] == 0
