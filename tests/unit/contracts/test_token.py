"""MilonToken: supply, votes wiring and the capped dev faucet."""

from __future__ import annotations

import pytest

from .helpers import ETHER, balance, events, reverts, tx

FAUCET_MAX = 10_000 * ETHER


def test_initial_supply_and_metadata(client, suite):
    token = suite.token
    assert client.call(token.functions.name()) == "MILON"
    assert client.call(token.functions.symbol()) == "MILON"
    assert balance(client, suite, suite.deployer.address) == client.call(
        token.functions.totalSupply()
    )
    assert client.call(token.functions.devFaucet()) is True
    assert client.call(token.functions.FAUCET_MAX()) == FAUCET_MAX


def test_faucet_mints_up_to_the_cap(client, suite, accounts):
    user = accounts[3]
    receipt = tx(client, suite.token.functions.faucet(user.address, FAUCET_MAX), user)
    assert balance(client, suite, user.address) == FAUCET_MAX
    assert events(suite.token, receipt, "FaucetMinted") == [
        {"to": user.address, "amount": FAUCET_MAX}
    ]


def test_faucet_rejects_more_than_the_cap(client, suite, accounts):
    with reverts("FaucetAmountTooLarge", FAUCET_MAX + 1, FAUCET_MAX):
        tx(client, suite.token.functions.faucet(accounts[3].address, FAUCET_MAX + 1), accounts[3])


def test_faucet_disabled_outside_dev(client, accounts):
    token = client.deploy("MilonToken", accounts[0].address, 5 * ETHER, False, sender=accounts[0])
    assert client.call(token.functions.devFaucet()) is False
    assert client.call(token.functions.balanceOf(accounts[0].address)) == 5 * ETHER
    with reverts("FaucetDisabled"):
        tx(client, token.functions.faucet(accounts[1].address, 1), accounts[1])


def test_votes_follow_delegation(client, suite, accounts):
    user = accounts[4]
    tx(client, suite.token.functions.transfer(user.address, 7 * ETHER), suite.deployer)
    assert client.call(suite.token.functions.getVotes(user.address)) == 0
    tx(client, suite.token.functions.delegate(user.address), user)
    assert client.call(suite.token.functions.getVotes(user.address)) == 7 * ETHER


def test_faucet_exists_only_on_the_dev_chain_ids(client, suite):
    token = suite.token.functions
    devnet, embedded = client.call(token.DEVNET_CHAIN_ID()), client.call(token.EMBEDDED_CHAIN_ID())
    assert (devnet, embedded) == (31_337, 131_277_322_940_537)
    assert client.chain_id == (embedded if client.kind == "embedded" else devnet)
    assert client.call(token.devFaucet()) is True


def test_a_faucet_is_refused_on_any_other_chain():
    """On a chain that is neither a local devnet nor the embedded chain, the token constructor
    refuses a faucet (and deploy_suite refuses a dev deployment before sending anything)."""
    from milon_app.chain.client import ChainClient
    from milon_app.chain.deploy import deploy_suite
    from milon_app.chain.devnet import Anvil
    from milon_app.chain.errors import WrongChainError

    with Anvil(accounts=1, chain_id=4_242) as node:
        client = ChainClient.connect(node.url, dev_accounts=1)
        deployer = client.dev_accounts[0]
        assert client.chain_id == 4_242
        with reverts("FaucetOnForeignChain", 4_242):
            client.deploy("MilonToken", deployer.address, ETHER, True, sender=deployer)
        token = client.deploy("MilonToken", deployer.address, ETHER, False, sender=deployer)
        assert client.call(token.functions.devFaucet()) is False
        with reverts("FaucetDisabled"):
            tx(client, token.functions.faucet(deployer.address, 1), deployer)
        sent = client.tx_count
        with pytest.raises(WrongChainError, match="4242"):
            deploy_suite(client, deployer, dev=True)
        assert client.tx_count == sent
