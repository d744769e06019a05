"""The chain client against a provider that behaves like a public one (issue 21, items 3-5).

A real HTTP JSON-RPC proxy on 127.0.0.1 (tests/helpers/rpc_proxy.py) sits in front of a
real anvil and enforces what public providers do: an ``eth_getLogs`` range limit, a
request rate limit answered with 429, and ``eth_sendRawTransaction`` calls answered with
the hash but never passed on. The client must page event scans, back off on 429 (and
honour Retry-After), and re-send a lost transaction with the same nonce and higher fees,
never with a new nonce. Conditions are waited for, never slept on; every anvil is stopped.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from eth_account.typed_transactions import TypedTransaction
from hexbytes import HexBytes

from milon_app.chain.client import ChainClient, RetryPolicy
from milon_app.chain.devnet import Anvil, free_port
from milon_app.chain.events import EventCursor
from milon_app.chain.resend import FEE_BUMP, TxNotMinedError, poll_cap
from tests.helpers.rpc_proxy import RpcProxy

pytestmark = [pytest.mark.anvil]

FAST = RetryPolicy(attempts=4, first_delay_s=0.01, max_delay_s=0.1, rate_limit_attempts=40)


def wait_for(cond: Callable[[], bool], timeout_s: float = 10.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout_s
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.005)


def nonce_of(raw: bytes) -> int:
    return int(TypedTransaction.from_bytes(HexBytes(raw)).as_dict()["nonce"])


def fees_of(raw: bytes) -> tuple[int, int]:
    tx = TypedTransaction.from_bytes(HexBytes(raw)).as_dict()
    return int(tx["maxFeePerGas"]), int(tx["maxPriorityFeePerGas"])


@pytest.fixture(scope="module")
def anvil() -> Iterator[Anvil]:
    node = Anvil(accounts=4).start()
    try:
        yield node
    finally:
        node.stop()
    assert node.proc is None


@pytest.fixture
def proxy(anvil: Anvil) -> Iterator[RpcProxy]:
    with RpcProxy(anvil.url) as p:
        yield p


def through(proxy: RpcProxy, **options: Any) -> ChainClient:
    return ChainClient.connect(proxy.url, dev_accounts=4, retry=FAST, **options)


def test_event_scan_pages_under_a_getlogs_range_limit(anvil: Anvil, proxy: RpcProxy) -> None:
    """600 blocks with transfers spread over them, scanned in one cursor poll through a
    provider that refuses more than 100 blocks (both error shapes; a provider's usual
    1,000-10,000 scaled down, as anvil mines long empty stretches slowly): every event is
    seen, in order, and no page the provider answered was over its limit."""
    direct = ChainClient.connect(anvil.url, dev_accounts=4)
    owner, to = direct.dev_accounts[:2]
    token_addr = direct.deploy("MilonToken", owner.address, 10**24, False, sender=owner).address
    token = direct.contract("MilonToken", token_addr)
    start = direct.block_number() + 1  # after the mint
    amounts = []
    for i in range(5):
        direct.mine(119)
        amounts.append(1_000 + i)
        direct.transact(token.functions.transfer(to.address, amounts[-1]), owner)
    for style in ("infura", "alchemy"):
        proxy.rules.getlogs_max_blocks = 100
        proxy.rules.style = style
        client = through(proxy, getlogs_max_blocks=400)
        cursor = EventCursor(client, {"token": client.contract("MilonToken", token_addr)},
                             start, batch_blocks=10_000)  # fmt: skip
        events = [e for e in cursor.poll() if e.name == "Transfer"]
        assert [e.args["value"] for e in events] == amounts
        assert cursor.next_block == client.block_number() + 1
        assert 1 <= client.log_window.refusals <= 12  # settles near the limit
        served = [s for s in proxy.seen if s.method == "eth_getLogs" and s.outcome == "forwarded"]
        for s in served:
            flt = s.params[0]
            assert int(flt["toBlock"], 16) - int(flt["fromBlock"], 16) < 100
        assert proxy.count("eth_getLogs", "refused") >= 1


def test_reads_back_off_on_429_and_honour_retry_after(proxy: RpcProxy) -> None:
    """A burst of reads through a provider allowing 5 requests then 20/s: each read gets
    its answer (none fails), 429s happened, and a Retry-After of 1 s is waited out."""
    client = through(proxy)
    proxy.rules.rate_per_s, proxy.rules.rate_burst = 20.0, 5
    heads = [client.block_number() for _ in range(30)]
    assert len(heads) == 30 and proxy.count(outcome="limited") > 0
    # jittered, growing waits: retries are not a tight loop of 429s
    assert proxy.count(outcome="limited") < 4 * 30

    proxy.rules.retry_after = "1"
    proxy.rules.rate_per_s, proxy.rules.rate_burst = 0.5, 1
    proxy._tokens = 0.0  # the bucket is empty: the next request is refused
    n = len(proxy.seen)
    client.block_number()
    later = proxy.seen[n:]
    assert later[0].outcome == "limited" and later[-1].outcome == "forwarded"
    assert later[1].t - later[0].t >= 0.95  # the client waited as it was told


def test_a_dropped_send_is_replaced_with_the_same_nonce_and_higher_fees(
    proxy: RpcProxy,
) -> None:
    """The provider drops the first two versions: the client re-sends with the same nonce,
    each version paying at least 10% more on both fee fields, and the payment lands once."""
    client = through(proxy, resend_after_s=0.15)
    sender, to = client.dev_accounts[2:4]
    client.send_eth(sender, to.address, 1)  # nonce and fees known
    before, nonce = client.balance(to.address), client.w3.eth.get_transaction_count(sender.address)
    proxy.rules.drop_sends = {len(proxy.sends), len(proxy.sends) + 1}
    first = len(proxy.sends)
    receipt = client.send_eth(sender, to.address, 777)
    assert receipt["status"] == 1
    versions = proxy.sends[first:]
    assert len(versions) == 3 and {nonce_of(r) for r in versions} == {nonce}
    for old, new in itertools.pairwise(versions):
        (cap0, tip0), (cap1, tip1) = fees_of(old), fees_of(new)
        assert cap1 >= cap0 * 1.1 and tip1 >= tip0 * 1.1
    assert client.balance(to.address) == before + 777
    assert client.w3.eth.get_transaction_count(sender.address) == nonce + 1
    assert client.waiter.resends == 2 and FEE_BUMP >= 1.1


def test_the_original_mined_meanwhile_is_the_receipt_used(anvil: Anvil, proxy: RpcProxy) -> None:
    """Mining stops; the first version reaches the node, the re-send is lost; once a block is
    mined the client takes the original's receipt (no second payment, no new nonce)."""
    client = through(proxy, resend_after_s=0.1)
    sender, to = client.dev_accounts[2:4]
    client.send_eth(sender, to.address, 1)
    before, nonce = client.balance(to.address), client.w3.eth.get_transaction_count(sender.address)
    first = len(proxy.sends)
    proxy.rules.drop_sends = set(range(first + 1, first + 100))
    direct = ChainClient.connect(anvil.url)
    direct.w3.provider.make_request("evm_setAutomine", [False])  # type: ignore[arg-type]
    try:
        result: list[Any] = []
        t = threading.Thread(target=lambda: result.append(client.send_eth(sender, to.address, 5)))
        t.start()
        wait_for(lambda: len(proxy.sends) >= first + 2, what="a re-send")
        direct.mine(1)
        t.join(20)
    finally:
        direct.w3.provider.make_request("evm_setAutomine", [True])  # type: ignore[arg-type]
    assert result and result[0]["status"] == 1
    original = bytes(client.w3.keccak(proxy.sends[first]))
    assert bytes(result[0]["transactionHash"]) == original
    assert client.balance(to.address) == before + 5
    assert client.w3.eth.get_transaction_count(sender.address) == nonce + 1


def test_a_given_up_transaction_is_replaced_by_the_next_never_doubled(proxy: RpcProxy) -> None:
    """Every version is lost until the client gives up (TxNotMinedError); the sender's next
    transaction takes the same nonce at a higher fee, so the lost one can never land too."""
    client = through(proxy, resend_after_s=0.1, receipt_timeout_s=0.5)
    sender, to = client.dev_accounts[2:4]
    client.send_eth(sender, to.address, 1)
    before, nonce = client.balance(to.address), client.w3.eth.get_transaction_count(sender.address)
    first = len(proxy.sends)
    proxy.rules.drop_share = 1.0
    with pytest.raises(TxNotMinedError, match="may still be"):
        client.send_eth(sender, to.address, 100)
    lost = proxy.sends[first:]
    proxy.rules.drop_share = 0.0
    receipt = client.send_eth(sender, to.address, 200)
    assert receipt["status"] == 1
    assert {nonce_of(r) for r in proxy.sends[first:]} == {nonce}
    assert fees_of(proxy.sends[-1])[0] > max(fees_of(r)[0] for r in lost)
    assert client.balance(to.address) == before + 200
    assert client.w3.eth.get_transaction_count(sender.address) == nonce + 1


def test_receipts_are_polled_at_the_pace_of_the_chain() -> None:
    """On a chain with 1 s blocks (transactions wait for the next block) a transaction costs
    a handful of receipt polls, not one every 10 ms; on an instant-mining chain the first
    poll or two find it."""
    assert poll_cap(0.0) == pytest.approx(0.01) and poll_cap(12.0) == pytest.approx(3.0)
    assert poll_cap(1.0) == pytest.approx(0.25)
    with Anvil(accounts=2, block_time_s=1, mixed_mining=False) as slow, RpcProxy(slow.url) as p:
        wait_for(lambda: ChainClient.connect(slow.url).block_number() >= 2, what="two blocks")
        client = through(p)
        assert client.waiter.block_time_s() == pytest.approx(1.0, abs=0.5)
        sender, to = client.dev_accounts[:2]
        for _ in range(2):
            n = p.count("eth_getTransactionReceipt")
            client.send_eth(sender, to.address, 1)
            polls = p.count("eth_getTransactionReceipt") - n
            assert 1 <= polls <= 16, polls  # a fixed 10 ms poll would make ~50-100
        assert slow.proc is not None
    assert slow.proc is None


def test_several_urls_agree_before_use_and_fail_over(anvil: Anvil, proxy: RpcProxy) -> None:
    """Two URLs of one node (through the proxy, and direct) agree and are used with
    failover: when the first stops answering, reads and a payment go through the second.
    A node of another chain, or of the same chain id with another history, is refused."""
    from milon_app.chain.errors import WrongChainError
    from milon_app.chain.from_config import connect_failover
    from milon_app.chain.rpc_failover import FailoverProvider

    client = connect_failover([proxy.url, anvil.url], expected_chain_id=31337, timeout_s=2.0)
    assert client.rpc_urls == [proxy.url, anvil.url]
    sender, to = ChainClient.connect(anvil.url, dev_accounts=4).dev_accounts[2:4]
    before = client.balance(to.address)
    assert proxy.count() > 0
    proxy.stop()  # the first endpoint goes away
    client.send_eth(sender, to.address, 4_321)
    assert client.balance(to.address) == before + 4_321
    provider = client.w3.provider
    assert isinstance(provider, FailoverProvider) and provider.switches >= 1
    assert provider.endpoint_uri == anvil.url and client.probe() > 0 and client.connected

    with Anvil(accounts=2) as forked, Anvil(accounts=2, chain_id=5) as other:
        fork = ChainClient.connect(forked.url, dev_accounts=2)
        fork.send_eth(fork.dev_accounts[0], fork.dev_accounts[1].address, 1)  # its own history
        fork.mine(3)
        ChainClient.connect(anvil.url).mine(3)
        with pytest.raises(WrongChainError, match="disagree on block"):
            connect_failover([anvil.url, forked.url])
        with pytest.raises(WrongChainError, match="different chain ids"):
            connect_failover([anvil.url, other.url])
        with pytest.raises(WrongChainError, match="expected 1"):
            connect_failover([anvil.url], expected_chain_id=1)
    # an endpoint that does not answer is left out, the others still used
    dead = f"http://127.0.0.1:{free_port()}"
    assert connect_failover([dead, anvil.url], timeout_s=0.5).rpc_urls == [anvil.url]


def test_a_second_process_with_the_same_key_costs_a_rebuild_not_an_error(anvil: Anvil) -> None:
    """Issue 22 item 7: `milon job create` beside its owner's daemon (one key, two processes,
    two nonce counters) failed with a raw "nonce too low" traceback. Two clients here are
    the two processes: each counts nonces itself."""
    daemon = ChainClient.connect(anvil.url, dev_accounts=4)
    cli = ChainClient.connect(anvil.url, dev_accounts=4)
    key, to = daemon.dev_accounts[3], daemon.dev_accounts[2].address
    before = daemon.balance(to)
    cli.send_eth(key, to, 1)  # the CLI counts the next nonce as n + 1
    daemon.send_eth(key, to, 2)  # the daemon reads the chain: it takes n + 1
    assert cli.send_eth(key, to, 4)["status"] == 1  # n + 1 was taken: built again for n + 2
    assert daemon.send_eth(key, to, 8)["status"] == 1  # and the daemon's turn again
    assert daemon.balance(to) - before == 15  # each of the four sent, each once


def test_a_chain_that_slowed_is_measured_again_before_a_re_send() -> None:
    """The block time is kept for minutes; measured during a devnet's instant set-up it said
    0 s, and a chain mining every 2 s then had each transaction re-sent every 0.5 s with
    ever higher fees. It is measured again before any re-send."""
    with Anvil(accounts=2) as node:
        client = ChainClient.connect(node.url, dev_accounts=2)
        key, to = client.dev_accounts[0], client.dev_accounts[1].address
        client.send_eth(key, to, 1)  # measures the instant chain: 0 s
        assert client.waiter.block_time_s() == 0.0
        provider = client.w3.provider
        provider.make_request("anvil_mine", [hex(9), hex(2)])  # history: a block every 2 s
        assert provider.make_request("evm_setIntervalMining", [2]).get("error") is None
        for amount in (2, 3):
            assert client.send_eth(key, to, amount)["status"] == 1
        assert client.waiter.resends == 0
