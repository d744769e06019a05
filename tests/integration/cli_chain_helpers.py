"""Helpers for the chain CLI tests: a private anvil devnet and an in-process `milon` runner.

Each test module gets its own anvil (started in ~50 ms) so snapshots and
time jumps here never disturb the session-wide chain of other tests.
"""

from __future__ import annotations

import importlib
import json
from dataclasses import dataclass
from pathlib import Path

MODULES = (
    "milon_app.cli.cmd_fed",
    "milon_app.cli.cmd_job",
    "milon_app.cli.cmd_gov",
    "milon_app.cli.cmd_rewards",
)
ETHER = 10**18
FUNDED = 8  # dev accounts 1..FUNDED get MILON


def register_commands() -> None:
    """Until the lead adds them to COMMAND_MODULES."""
    for name in MODULES:
        importlib.import_module(name)


@dataclass
class Devnet:
    node: object
    client: object
    suite: object
    manifest: Path

    @property
    def url(self) -> str:
        return self.node.url  # type: ignore[attr-defined]

    def dev(self, i: int) -> object:
        return self.client.dev_accounts[i]  # type: ignore[attr-defined]


def start_devnet(tmp: Path, *, chain_id: int = 31337, accounts: int = 10) -> Devnet:
    from milon_app.chain.client import ChainClient
    from milon_app.chain.deploy import deploy_suite
    from milon_app.chain.devnet import Anvil

    node = Anvil(accounts=accounts, chain_id=chain_id).start()
    try:
        client = ChainClient.connect(node.url, dev_accounts=accounts)
        deployer = client.dev_accounts[0]
        suite = deploy_suite(client, deployer, dev=chain_id == 31337)  # a faucet only there
        for acct in client.dev_accounts[1 : FUNDED + 1]:
            client.transact(suite.token.functions.transfer(acct.address, 10_000 * ETHER), deployer)
        suite.manifest.rpc_url = node.url
        path = tmp / "manifest.json"
        suite.manifest.save(path)
    except BaseException:
        node.stop()
        raise
    return Devnet(node, client, suite, path)


def write_config(home: Path, **chain: object) -> None:
    cfg = home / "config" / "config.json"
    cfg.parent.mkdir(parents=True, exist_ok=True)
    cfg.write_text(json.dumps({"chain": chain}))


def job_create_args(*extra: object) -> tuple[object, ...]:
    """`job create` of a digits MLP job in federation 1, signed by dev account 3, then ``extra``."""
    return (
        "job",
        "create",
        "--fed",
        1,
        "--model",
        "digits-mlp",
        "--dataset",
        "digits",
        "--epochs",
        4,
        "--epochs-per-round",
        4,
        "--reward-per-epoch",
        "2.5",
        "--rule",
        "median",
        "--round-duration",
        120,
        "--dev-account",
        3,
        *extra,
    )
