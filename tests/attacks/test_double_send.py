"""Attack (or plain bad luck): a lossy RPC provider drops transactions it says it took.

The provider answers ``eth_sendRawTransaction`` with the hash and never passes it on
(tests/helpers/rpc_proxy.py in front of the session's anvil). A node that waits for that
receipt forever stalls (and misses deadlines: slashed); one that gives up and sends the
call again with a new nonce can pay twice once the lost one resurfaces. The node must
re-send the same transaction (same nonce, higher fees) until one version is mined, and
use that one: a claim pays exactly the claimable amount once, a run of payments moves
exactly their sum, and every version the provider saw carries a nonce already planned.

On a client without re-sends the waits below run out (a clear failure, not a hang).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import pytest
from eth_account.typed_transactions import TypedTransaction
from hexbytes import HexBytes

from milon_app.chain.bindings import Milon
from milon_app.chain.client import EMBEDDED, ChainClient
from milon_app.chain.deploy import Suite
from tests.attacks.common import World
from tests.helpers.rpc_proxy import RpcProxy
from tests.unit.contracts.helpers import balance

MODEL = bytes.fromhex("31" * 32)
DEADLINE_S = 25.0  # re-sends take a few seconds; a client that never re-sends hangs past this


def finish(what: str, work: Callable[[], Any]) -> Any:
    """Run ``work`` on a thread; fail (not hang) if it is not done within DEADLINE_S."""
    result: list[Any] = []
    errors: list[BaseException] = []

    def run() -> None:
        try:
            result.append(work())
        except BaseException as exc:  # reported below, on the test's thread
            errors.append(exc)

    t = threading.Thread(target=run, name="lossy-send", daemon=True)
    t.start()
    t.join(DEADLINE_S)
    assert not t.is_alive(), (
        f"{what}: not mined within {DEADLINE_S:.0f}s through a provider that drops "
        "sends: a lost transaction must be re-sent with the same nonce and higher fees"
    )
    if errors:
        raise errors[0]
    return result[0]


def nonces(raws: list[bytes]) -> list[int]:
    return [int(TypedTransaction.from_bytes(HexBytes(r)).as_dict()["nonce"]) for r in raws]


@pytest.fixture
def lossy(client: ChainClient, anvil_node: Any) -> Any:
    if client.kind == EMBEDDED:
        pytest.skip("the embedded chain has no provider to lose transactions")
    with RpcProxy(anvil_node.url) as proxy:
        yield proxy


def test_a_claim_through_a_lossy_provider_pays_exactly_once(world: World, lossy: RpcProxy):
    workers = world.members[0:3]
    fed = world.federation(workers)
    job = world.job(fed, totalEpochs=6, epochsPerRound=3)
    world.honest_round(job, workers, MODEL)
    claimer = workers[0]
    owed = world.claimable(claimer)
    assert owed > 0
    mine = balance(world.client, world.suite, claimer.address)
    start = world.client.block_number() + 1

    lossy.rules.drop_sends = {0, 1}  # the claim's first two versions are lost
    node_client = ChainClient.connect(lossy.url)
    node_client.receipt_timeout_s = DEADLINE_S + 30
    node = Milon(Suite.attach(node_client, world.suite.manifest))
    nonce = node_client.w3.eth.get_transaction_count(claimer.address)
    receipt = finish("the claim", lambda: node.claim(claimer))

    assert receipt["status"] == 1
    assert balance(world.client, world.suite, claimer.address) - mine == owed
    assert world.claimable(claimer) == 0
    claims = world.suite.jobs.events.Claimed().get_logs(
        argument_filters={"account": claimer.address}, from_block=start
    )
    assert [int(c["args"]["amount"]) for c in claims] == [owed]
    assert len(lossy.sends) >= 3 and set(nonces(lossy.sends)) == {nonce}
    assert node_client.w3.eth.get_transaction_count(claimer.address) == nonce + 1


def test_payments_through_a_lossy_provider_move_exactly_their_sum(world: World, lossy: RpcProxy):
    """Half of all sends are lost (seeded): five payments, five transactions mined, the
    recipient richer by exactly their sum, nonces consecutive with none skipped."""
    payer, payee = world.members[6], world.members[7]
    lossy.rules.drop_share = 0.5
    node_client = ChainClient.connect(lossy.url)
    node_client.receipt_timeout_s = DEADLINE_S + 30
    before = node_client.balance(payee.address)
    nonce = node_client.w3.eth.get_transaction_count(payer.address)
    amounts = [10_001, 10_002, 10_003, 10_004, 10_005]

    def pay_all() -> list[Any]:
        return [node_client.send_eth(payer, payee.address, a) for a in amounts]

    receipts = finish("five payments", pay_all)
    assert [r["status"] for r in receipts] == [1] * 5
    assert node_client.balance(payee.address) - before == sum(amounts)
    assert node_client.w3.eth.get_transaction_count(payer.address) == nonce + 5
    assert set(nonces(lossy.sends)) == set(range(nonce, nonce + 5))
    assert lossy.count("eth_sendRawTransaction", "dropped") > 0
