"""Attack 12: a development deployment (open token faucet) on a real chain.

v1: ``deploy_suite(..., dev=True)`` deployed anywhere, and ``MilonToken`` accepted
``devFaucet=true`` on any chain: pointed (by mistake or by a malicious operator) at a public
network, it shipped a token anyone could mint 10,000 at a time, making stakes and
governance votes worthless.
v2: ``deploy_suite`` refuses a dev deployment on a chain id other than anvil's 31337 or the
embedded chain's (WrongChainError) before sending any transaction, and the token's
constructor itself reverts FaucetOnForeignChain(chainid) elsewhere, whatever tool deploys it.

Why anvil: the constructor reads ``block.chainid``, and the embedded chain's id is fixed by
eth-tester, so proving the on-chain check needs an EVM that really runs under another chain
id. ``Anvil(chain_id=...)`` (milon_app/chain/devnet.py) starts one on loopback in well under a
second; each test stops the process it started (the context manager). Faking the id on the
Python side instead would only test the Python guard, not the contract.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from milon_app.chain.client import ChainClient
from milon_app.chain.deploy import DEV_CHAIN_IDS, deploy_suite
from milon_app.chain.devnet import Anvil, find_anvil
from milon_app.chain.errors import WrongChainError
from milon_app.errors import NotFoundError
from tests.unit.contracts.helpers import ETHER, reverts

pytestmark = pytest.mark.anvil

FOREIGN = 1337  # a chain id that is neither anvil's default nor the embedded chain's


@pytest.fixture
def foreign() -> Iterator[ChainClient]:
    try:
        find_anvil()
    except NotFoundError as exc:
        if os.environ.get("MILON_SKIP_ANVIL") == "1":
            pytest.skip(f"anvil unavailable and MILON_SKIP_ANVIL=1: {exc}")
        raise
    with Anvil(accounts=2, chain_id=FOREIGN) as node:
        yield ChainClient.connect(node.url, dev_accounts=2)


def test_deploy_suite_refuses_a_dev_deployment_before_any_transaction(foreign: ChainClient):
    """An operator runs ``deploy_suite(client, deployer, dev=True)`` against a chain whose id
    is 1337, hoping for a suite with a faucet there. It raises WrongChainError naming the
    chain id, and the deployer has sent nothing (nonce 0, no block mined)."""
    assert foreign.chain_id == FOREIGN and FOREIGN not in DEV_CHAIN_IDS
    deployer = foreign.dev_accounts[0]
    block = foreign.block_number()
    with pytest.raises(WrongChainError, match=str(FOREIGN)):
        deploy_suite(foreign, deployer, dev=True)
    assert foreign.w3.eth.get_transaction_count(deployer.address) == 0
    assert foreign.block_number() == block


def test_token_constructor_refuses_a_faucet_on_a_foreign_chain(foreign: ChainClient):
    """Bypassing deploy_suite, the attacker deploys MilonToken directly with
    ``devFaucet=true`` on chain 1337. The constructor reverts FaucetOnForeignChain(1337).
    The same token without the faucet deploys, and its ``faucet`` reverts FaucetDisabled, as
    does a whole non-dev suite's: a production deployment on that chain is unaffected."""
    deployer, other = foreign.dev_accounts
    with reverts("FaucetOnForeignChain", FOREIGN):
        foreign.deploy("MilonToken", deployer.address, 1_000 * ETHER, True, sender=deployer)

    token = foreign.deploy("MilonToken", deployer.address, 1_000 * ETHER, False, sender=deployer)
    assert foreign.call(token.functions.devFaucet()) is False
    with reverts("FaucetDisabled"):
        foreign.transact(token.functions.faucet(other.address, ETHER), other)

    suite = deploy_suite(foreign, deployer, dev=False)
    assert suite.manifest.chain_id == FOREIGN and not suite.manifest.dev
    with reverts("FaucetDisabled"):
        foreign.transact(suite.token.functions.faucet(other.address, ETHER), other)
    assert foreign.call(suite.token.functions.balanceOf(other.address)) == 0
