"""A driver pass on a devnet: transactions sent back to back all land, reverts still count."""

from __future__ import annotations

import pytest

from milon_app.chain.deploy import deploy_suite
from milon_app.chain.errors import ContractRevert
from milon_app.sim import pipeline
from milon_app.sim.chain import member_accounts, open_chain
from milon_app.sim.run import SimOptions, run_sim
from tests.unit.chain.test_client import _eth_calls

ETHER = 10**18


@pytest.fixture
def devnet(anvil_node, monkeypatch):  # type: ignore[no-untyped-def]
    """The simulation's client on a devnet, with token calls standing in for member steps."""
    client = open_chain(anvil_node.url)
    suite = deploy_suite(client, client.dev_accounts[0], dev=True)
    monkeypatch.setattr(pipeline, "DEFERRABLE", pipeline.DEFERRABLE | {"approve", "faucet"})
    monkeypatch.setitem(pipeline.DONE, "faucet", frozenset({"FaucetAmountTooLarge"}))
    members = member_accounts(12, seed=5)
    for m in members:
        client.send_eth(client.dev_accounts[0], m.address, ETHER)
    return client, suite, members


def test_a_pass_sends_without_waiting_and_every_transaction_lands(devnet) -> None:  # type: ignore[no-untyped-def]
    client, suite, members = devnet
    token, before, gas0 = suite.token, client.tx_count, client.gas_ok
    block0 = client.block_number()
    reads = _eth_calls(client)
    seen = client.call(token.functions.allowance(members[1].address, members[0].address))
    with client.pipeline.one_pass():
        for i, m in enumerate(members):
            client.transact(token.functions.approve(members[0].address, i + 1), m)
            # nothing is mined until the pass settles: the cached read still holds
            assert (
                client.call(token.functions.allowance(members[1].address, members[0].address))
                == seen
            )
        assert client.tx_count == before and len(client.pipeline.pending) == len(members)
    assert reads[0] == 1
    assert client.tx_count == before + len(members) and not client.pipeline.pending
    assert client.pipeline.deferred == len(members)
    mined = {t.block for t in list(client.history)[-len(members) :]}
    assert len(mined) == 1 and client.block_number() == block0 + 1  # one block for the pass
    assert client.gas_ok - gas0 == sum(t.gas_used for t in list(client.history)[-len(members) :])
    for i, m in enumerate(members):
        assert client.call(token.functions.allowance(m.address, members[0].address)) == i + 1


def test_a_revert_in_a_pass_is_named_or_ignored_as_its_caller_would(devnet) -> None:  # type: ignore[no-untyped-def]
    client, suite, members = devnet
    token, a = suite.token, members[1]
    with client.pipeline.one_pass():  # "already done" for its caller: counted apart
        client.transact(token.functions.faucet(a.address, 10**30), a)
        client.transact(token.functions.approve(members[0].address, 7), members[2])
    assert client.failed_txs == 1 and client.failed_gas > 0
    assert client.gas_ok == client.gas_used_total - client.failed_gas
    done = pipeline.DONE.pop("faucet")
    try:
        with pytest.raises(ContractRevert) as info, client.pipeline.one_pass():
            client.transact(token.functions.faucet(a.address, 10**30), a)
        assert info.value.error_name == "FaucetAmountTooLarge"
    finally:
        pipeline.DONE["faucet"] = done
    # outside a pass, and for anything not deferrable, the ordinary path (receipt awaited)
    receipt = client.transact(
        token.functions.transfer(members[3].address, 1), client.dev_accounts[0]
    )
    assert receipt["status"] == 1


def test_sim_on_anvil_every_update_is_judged_and_the_json_fields_stay(tmp_path) -> None:
    report = run_sim(SimOptions(members=6, committee=3, rounds=2, rpc="anvil", workdir=tmp_path))
    data = report.as_dict()
    assert data["members"] == 6 and data["committee"] == 3 and data["chain"] == "anvil"
    assert [r["round"] for r in data["rounds"]] == [1, 2]
    for row in data["rounds"]:
        assert row["round_members"] == 6 and 4 <= row["accepted"] <= 6
        assert row["wall_seconds"] > 0 and row["gas_per_member"] > 0
        assert row["accuracy"] is not None and row["timed_out_cohorts"] == 0
    assert data["peak_rss_mib"] > 0 and data["trained_members"] == 12


def test_a_join_pass_funds_members_in_one_block_with_batched_sends(devnet) -> None:  # type: ignore[no-untyped-def]
    client, suite, _members = devnet
    owner, fresh = client.dev_accounts[0], member_accounts(5, seed=9)
    singles: list[str] = []
    rpc = client.rpc

    def counting(fn, what="RPC call"):  # type: ignore[no-untyped-def]
        singles.append(what)
        return rpc(fn, what)

    client.rpc = counting  # type: ignore[method-assign]
    block0, before = client.block_number(), client.tx_count
    with client.pipeline.one_pass(pipeline.SETUP):
        for m in fresh:
            client.send_eth(owner, m.address, ETHER)
            client.transact(suite.token.functions.transfer(m.address, 3), owner)
        assert client.tx_count == before  # nothing sent to the node yet: queued, signed
        assert len(client.pipeline.raw) == 2 * len(fresh)
    assert not any(w.startswith("send ") for w in singles)  # every one went in a batch
    assert client.tx_count == before + 2 * len(fresh) and client.block_number() == block0 + 1
    for m in fresh:
        assert client.w3.eth.get_balance(m.address) == ETHER
        assert client.call(suite.token.functions.balanceOf(m.address)) == 3


def test_fast_encoding_is_web3s_and_falls_back_where_it_differs(devnet) -> None:  # type: ignore[no-untyped-def]
    from milon_app.sim import txs

    _client, suite, members = devnet
    calls = [
        suite.token.functions.approve(members[0].address, 5),
        suite.registry.functions.join(1, 10**19, 100, "inprocess:0xabc"),
        suite.jobs.functions.reveal(1, 2, b"\x01" * 32, 32, b"\x02" * 32),
    ]
    for fn in calls:
        assert txs._data(fn) == fn._encode_transaction_data()
        assert txs._data(fn) == fn._encode_transaction_data()  # from the cached types
    built = txs.FastCall(calls[0]).build_transaction({"from": members[1].address, "nonce": 3})
    assert built == {"nonce": 3, "to": suite.token.address, "data": txs._data(calls[0])}
    assert txs.FastCall(calls[0]).fn_name == "approve"
    wrong = suite.token.functions.transfer(members[0].address, 1)
    txs._ENCODERS[id(wrong.abi)] = (wrong.abi, None, None)  # as after a mismatch
    assert txs._data(wrong) is None
    assert txs.FastCall(wrong).build_transaction({"from": members[1].address, "nonce": 0,
        "gas": 100_000, "chainId": 31337, "gasPrice": 10**9})["data"] == (
        wrong._encode_transaction_data())  # fmt: skip
    txs._ENCODERS.pop(id(wrong.abi))
