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
