"""Test-only attacker contracts (contracts/test/*.sol) and a hooked-token copy of the suite.

The attacker artifacts are compiled by ``npm run compile:test`` in contracts/
into tests/unit/contracts/artifacts/, never into the shipped package; the
freshness test in test_attacks_reentrancy.py recompiles and compares bytes.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from milon_app.chain.errors import ContractRevert, decode_revert_data

from .helpers import ETHER, tx

ARTIFACTS = Path(__file__).resolve().parent / "artifacts"
TEST_CONTRACTS = ["HookToken", "ReentrantClaimer"]


@cache
def _artifact(name: str) -> dict[str, Any]:
    return json.loads((ARTIFACTS / f"{name}.json").read_text())


def give(client: Any, s: Any, address: str, amount: int) -> None:
    """Tokens from the deployer to any address (a contract member has no key to sign with)."""
    tx(client, s.token.functions.transfer(address, amount), s.deployer)


def send_value(client: Any, sender: Any, to: str, amount: int) -> Any:
    """A plain ETH transfer with gas for the recipient's code (ChainClient.send_eth sends 21,000)."""
    w3 = client.w3
    tx_ = {
        "to": to,
        "value": amount,
        "gas": 100_000,
        "nonce": w3.eth.get_transaction_count(sender.address, "pending"),
        "chainId": client.chain_id,
        "maxFeePerGas": 2 * w3.eth.get_block("latest")["baseFeePerGas"] + 10**9,
        "maxPriorityFeePerGas": 10**9,
    }
    tx_hash = w3.eth.send_raw_transaction(sender.sign_transaction(tx_).raw_transaction)
    client.forget_nonces()
    receipt = w3.eth.wait_for_transaction_receipt(tx_hash)
    assert receipt["status"] == 1, f"sending {amount} wei to {to} failed"
    return receipt


def accepts_eth(client: Any, sender: Any, to: str) -> bool:
    """Whether a plain value transfer to ``to`` would succeed (checked with eth_call)."""
    try:
        client.w3.eth.call({"from": sender.address, "to": to, "value": 1, "gas": 200_000})
    except Exception:
        return False
    return True


def deploy_test_contract(client: Any, name: str, *args: Any, sender: Any) -> Any:
    """Deploy one of the contracts/test/ contracts from its test artifact."""
    art = _artifact(name)
    factory = client.w3.eth.contract(abi=art["abi"], bytecode=art["bytecode"])
    receipt = client.transact(factory.constructor(*args), sender)
    return client.w3.eth.contract(address=receipt["contractAddress"], abi=art["abi"])


class Attacker:
    """A ReentrantClaimer driven by its controller (an EOA) through ``run``."""

    def __init__(self, client: Any, controller: Any) -> None:
        self.client = client
        self.controller = controller
        self.contract = deploy_test_contract(client, "ReentrantClaimer", sender=controller)
        self.address: str = self.contract.address

    def run(self, fn: Any) -> Any:
        """Send ``fn`` (a bound contract function) with this contract as ``msg.sender``."""
        call = self.contract.functions.run(fn.address, fn._encode_transaction_data())
        return tx(self.client, call, self.controller)

    def arm(self, fn: Any, *, times: int = 1, bubble: bool = False) -> None:
        """Re-enter ``fn`` on the next ``times`` callbacks (token hook or ETH receipt)."""
        data = fn._encode_transaction_data()
        tx(
            self.client,
            self.contract.functions.arm(fn.address, data, times, bubble),
            self.controller,
        )

    def view(self, name: str) -> Any:
        return self.client.call(getattr(self.contract.functions, name)())

    def last_error(self) -> ContractRevert:
        """The recorded inner revert, named like any other contract error."""
        return decode_revert_data(bytes(self.view("lastError")), "re-entry")


@dataclass
class HookedSuite:
    """The real FederationRegistry and TrainingJobs bytecode, wired to a HookToken."""

    token: Any
    registry: Any
    jobs: Any
    governance: Any  # a plain account standing in for the timelock
    deployer: Any


def hooked_suite(client: Any, deployer: Any, governance: Any, *, cooldown: int = 60) -> HookedSuite:
    token = deploy_test_contract(
        client, "HookToken", deployer.address, 10**9 * ETHER, sender=deployer
    )
    registry = client.deploy(
        "FederationRegistry", token.address, governance.address, ETHER, cooldown, 1_000,
        sender=deployer,
    )  # fmt: skip
    jobs = client.deploy(
        "TrainingJobs", token.address, registry.address, governance.address, sender=deployer
    )
    tx(client, registry.functions.setJobs(jobs.address), deployer)
    return HookedSuite(token, registry, jobs, governance, deployer)
