"""Deploy the whole contract suite and wire its roles.

Order matters: the timelock must own every governed parameter, and the
deployer gives up its timelock admin role at the end, so after deployment
only governance can change protocol parameters.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from eth_account.signers.local import LocalAccount
from web3.contract import Contract

from milon_app.chain.artifacts import CONTRACT_NAMES, load_artifact
from milon_app.chain.client import DEVNET_CHAIN_ID, EMBEDDED_CHAIN_ID, ChainClient
from milon_app.chain.errors import WrongChainError
from milon_app.chain.manifest import Manifest

ETHER = 10**18
# Local development chains, the only ones a dev deployment (faucet, short governance) may use:
# anvil/hardhat devnets, and the embedded py-evm chain (eth-tester's fixed chain id). The token
# contract refuses a faucet anywhere else too.
DEV_CHAIN_IDS = (DEVNET_CHAIN_ID, EMBEDDED_CHAIN_ID)


@dataclass(frozen=True)
class SuiteParams:
    """Deployment parameters. Dev values keep governance and cooldowns short for demos."""

    initial_supply: int = 100_000_000 * ETHER
    voting_delay_blocks: int = 7_200
    voting_period_blocks: int = 50_400
    proposal_threshold: int = 0
    quorum_percent: int = 4
    timelock_delay_s: int = 2 * 24 * 3600
    min_stake_floor: int = 100 * ETHER
    leave_cooldown_s: int = 7 * 24 * 3600
    slash_bps: int = 1_000

    @classmethod
    def dev(cls) -> SuiteParams:
        return cls(
            voting_delay_blocks=1,
            voting_period_blocks=20,
            timelock_delay_s=60,
            min_stake_floor=1 * ETHER,
            leave_cooldown_s=60,
        )


@dataclass
class Suite:
    client: ChainClient
    token: Contract
    timelock: Contract
    governor: Contract
    registry: Contract
    jobs: Contract
    models: Contract
    manifest: Manifest
    deployer: LocalAccount | None = None

    def by_name(self) -> dict[str, Contract]:
        return {
            "MilonToken": self.token,
            "MilonTimelock": self.timelock,
            "MilonGovernor": self.governor,
            "FederationRegistry": self.registry,
            "TrainingJobs": self.jobs,
            "ModelRegistry": self.models,
        }

    @classmethod
    def attach(cls, client: ChainClient, manifest: Manifest) -> Suite:
        """Bind to an existing deployment, refusing the wrong chain or missing code."""
        if client.chain_id != manifest.chain_id:
            raise WrongChainError(
                f"the RPC serves chain id {client.chain_id} but the manifest is for chain id "
                f"{manifest.chain_id}"
            )
        contracts: dict[str, Contract] = {}
        for name in CONTRACT_NAMES:
            address = manifest.contracts[name]
            if not client.has_code(address):
                raise WrongChainError(
                    f"no contract code at {address} ({name}) on chain {client.chain_id}: "
                    "the suite is not deployed there"
                )
            contracts[name] = client.contract(name, address)
        return cls(
            client=client,
            token=contracts["MilonToken"],
            timelock=contracts["MilonTimelock"],
            governor=contracts["MilonGovernor"],
            registry=contracts["FederationRegistry"],
            jobs=contracts["TrainingJobs"],
            models=contracts["ModelRegistry"],
            manifest=manifest,
        )


def deploy_suite(
    client: ChainClient,
    deployer: LocalAccount,
    *,
    dev: bool = True,
    params: SuiteParams | None = None,
) -> Suite:
    if dev and client.chain_id not in DEV_CHAIN_IDS:
        raise WrongChainError(
            f"a dev deployment (faucet, short governance) is refused on chain id {client.chain_id}:"
            f" only local devnets ({DEVNET_CHAIN_ID}) and the embedded chain may have one"
        )
    p = params or (SuiteParams.dev() if dev else SuiteParams())
    start_block = client.block_number()
    tx = client.transact
    token = client.deploy("MilonToken", deployer.address, p.initial_supply, dev, sender=deployer)
    timelock = client.deploy(
        "MilonTimelock",
        p.timelock_delay_s,
        [],
        ["0x0000000000000000000000000000000000000000"],  # anyone may execute a queued op
        deployer.address,
        sender=deployer,
    )
    governor = client.deploy(
        "MilonGovernor",
        token.address,
        timelock.address,
        p.voting_delay_blocks,
        p.voting_period_blocks,
        p.proposal_threshold,
        p.quorum_percent,
        sender=deployer,
    )
    registry = client.deploy(
        "FederationRegistry",
        token.address,
        timelock.address,
        p.min_stake_floor,
        p.leave_cooldown_s,
        p.slash_bps,
        sender=deployer,
    )
    jobs = client.deploy(
        "TrainingJobs", token.address, registry.address, timelock.address, sender=deployer
    )
    models = client.deploy("ModelRegistry", timelock.address, sender=deployer)
    tx(registry.functions.setJobs(jobs.address), deployer)
    proposer = client.call(timelock.functions.PROPOSER_ROLE())
    canceller = client.call(timelock.functions.CANCELLER_ROLE())
    admin = client.call(timelock.functions.DEFAULT_ADMIN_ROLE())
    tx(timelock.functions.grantRole(proposer, governor.address), deployer)
    tx(timelock.functions.grantRole(canceller, governor.address), deployer)
    tx(timelock.functions.renounceRole(admin, deployer.address), deployer)
    manifest = Manifest(
        chain_id=client.chain_id,
        contracts={
            "MilonToken": token.address,
            "MilonTimelock": timelock.address,
            "MilonGovernor": governor.address,
            "FederationRegistry": registry.address,
            "TrainingJobs": jobs.address,
            "ModelRegistry": models.address,
        },
        deployed_block=start_block,
        deployer=deployer.address,
        dev=dev,
        source_hash=str(load_artifact("MilonToken").get("sourceHash", "")),
        params=_jsonable(asdict(p)),
        rpc_url=client.rpc_url or "",
    )
    return Suite(client, token, timelock, governor, registry, jobs, models, manifest, deployer)


def _jsonable(d: dict[str, Any]) -> dict[str, Any]:
    # Token amounts exceed JSON's safe integer range in some readers: keep them as strings.
    return {k: str(v) if isinstance(v, int) and v > 2**53 else v for k, v in d.items()}
