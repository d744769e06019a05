"""Chain commands: ``milon devnet``, ``milon deploy``, ``milon chain info``."""

from __future__ import annotations

import argparse
import signal
import threading
from pathlib import Path
from types import FrameType
from typing import Any

from milon_app.cli.context import Context
from milon_app.cli.registry import REGISTRY
from milon_app.errors import BadInputError

ETHER = 10**18
DEFAULT_BLOCK_TIME_S = 1.0  # voting periods, timelocks and deadlines pass on an idle devnet


def default_manifest_path(ctx: Context, name: str) -> Path:
    return ctx.data_dir / "deployments" / f"{name}.json"


def _configure_devnet(p: argparse.ArgumentParser) -> None:
    p.add_argument("--port", type=int, default=8545, help="RPC port on 127.0.0.1 (default 8545)")
    p.add_argument("--accounts", type=int, default=10, help="funded dev accounts (default 10)")
    p.add_argument(
        "--milon", type=int, default=100_000, help="MILON sent to each dev account (default 1e5)"
    )
    p.add_argument(
        "--fund", action="append", default=[], metavar="ADDRESS", help="also fund this address"
    )
    p.add_argument("--manifest", type=Path, help="where to write the deployment manifest")
    p.add_argument("--state", type=Path, help="anvil state file (persist the chain across runs)")
    p.add_argument(
        "--block-time", type=float, default=DEFAULT_BLOCK_TIME_S, metavar="SECONDS",
        help="mine an empty block this often while idle, so chain time moves (transactions are "
        f"still mined at once; default {DEFAULT_BLOCK_TIME_S:g}; 0: blocks only on transactions)",
    )  # fmt: skip
    p.add_argument(
        "--no-wait", action="store_true", help="deploy, print, then stop (for scripts/tests)"
    )


@REGISTRY.command(
    "devnet",
    summary="start a local anvil devnet on 127.0.0.1, deploy the suite and fund dev accounts",
    configure=_configure_devnet,
)
def _devnet(args: argparse.Namespace, ctx: Context) -> int:
    from rich.progress import Progress
    from web3 import Web3

    from milon_app.chain.client import ChainClient
    from milon_app.chain.deploy import deploy_suite
    from milon_app.chain.devnet import Anvil

    if not 1 <= args.accounts <= 1000:
        raise BadInputError(f"--accounts must be in 1..1000, got {args.accounts}")
    if not 0 < args.port < 65536:
        raise BadInputError(f"--port must be in 1..65535, got {args.port}")
    if not 0 <= args.block_time <= 3600:
        raise BadInputError(f"--block-time must be 0..3600 seconds, got {args.block_time:g}")
    recipients = [Web3.to_checksum_address(a) for a in _check_addresses(args.fund)]
    stop = threading.Event()

    def _on_signal(_sig: int, _frame: FrameType | None) -> None:
        stop.set()

    previous = signal.signal(signal.SIGTERM, _on_signal)
    node = Anvil(
        args.port, accounts=args.accounts, state_file=args.state,
        block_time_s=args.block_time or None,
    )  # fmt: skip
    try:
        node.start()
        client = ChainClient.connect(node.url, dev_accounts=args.accounts)
        deployer = client.dev_accounts[0]
        targets = [a.address for a in client.dev_accounts[1:]] + recipients
        with Progress(console=None, transient=True) as bar:
            task = bar.add_task("deploying", total=1 + len(targets))
            suite = deploy_suite(client, deployer, dev=True)
            bar.advance(task)
            for addr in targets:
                bar.update(task, description=f"funding {addr[:10]}…")
                if addr in recipients:
                    client.send_eth(deployer, addr, 100 * ETHER)
                amount = args.milon * ETHER
                client.transact(suite.token.functions.transfer(addr, amount), deployer)
                bar.advance(task)
        path = args.manifest or default_manifest_path(ctx, "devnet")
        suite.manifest.rpc_url = node.url
        suite.manifest.save(path)
        info = {
            "rpc_url": node.url,
            "chain_id": client.chain_id,
            "manifest": str(path),
            "contracts": suite.manifest.contracts,
            "dev_accounts": [a.address for a in client.dev_accounts],
            "funded": recipients,
            "block_time_s": args.block_time,
        }
        ctx.emit(info, _render_devnet)
        if not args.no_wait:
            ctx.info("devnet running; Ctrl-C or SIGTERM stops it")
            while not stop.wait(0.5):
                pass
    except KeyboardInterrupt:
        pass
    finally:
        node.stop()
        signal.signal(signal.SIGTERM, previous)
    return 0


def _render_devnet(info: dict[str, Any]) -> str:
    lines = [
        f"RPC URL   {info['rpc_url']}  (chain id {info['chain_id']})",
        f"manifest  {info['manifest']}",
    ]
    lines += [f"  {name:<19} {addr}" for name, addr in sorted(info["contracts"].items())]
    every = info.get("block_time_s") or 0
    lines.append(f"blocks    every {every:g} s while idle" if every else
                 "blocks    only when a transaction is sent")
    lines.append("dev accounts (THROWAWAY keys of the public test mnemonic):")
    lines += [f"  [{i}] {a}" for i, a in enumerate(info["dev_accounts"])]
    lines += [f"  funded    {a}" for a in info.get("funded", [])]
    lines.append("fund a wallet made later: milon devnet fund ADDRESS")
    return "\n".join(lines)


def _check_addresses(values: list[str]) -> list[str]:
    from web3 import Web3

    for v in values:
        if not Web3.is_address(v):
            raise BadInputError(f"not an Ethereum address: {v!r}")
    return values


def _configure_deploy(p: argparse.ArgumentParser) -> None:
    p.add_argument("--rpc", required=True, help="JSON-RPC URL of the target chain")
    p.add_argument("--chain-id", type=int, help="refuse to deploy unless the RPC reports this id")
    p.add_argument("--manifest", type=Path, help="where to write the deployment manifest")
    p.add_argument(
        "--dev",
        action="store_true",
        help="dev parameters (faucet, short governance); refused unless the chain id is 31337",
    )
    from milon_app.cli.chain_session import add_account_args

    add_account_args(p)


@REGISTRY.command(
    "deploy", summary="deploy the contract suite to an existing chain", configure=_configure_deploy
)
def _deploy(args: argparse.Namespace, ctx: Context) -> int:
    from milon_app.chain.client import ChainClient
    from milon_app.chain.deploy import DEV_CHAIN_IDS, deploy_suite
    from milon_app.chain.errors import WrongChainError
    from milon_app.cli.chain_session import signer

    dev_n = 0 if args.dev_account is None else args.dev_account + 1
    client = ChainClient.connect(args.rpc, expected_chain_id=args.chain_id, dev_accounts=dev_n)
    if args.dev and client.chain_id not in DEV_CHAIN_IDS:
        # before any key is unlocked; deploy_suite refuses it too
        raise WrongChainError(
            f"--dev is for local devnets only: {args.rpc} serves chain id {client.chain_id}, "
            f"not {DEV_CHAIN_IDS[0]} (anvil). A dev deployment has a token faucet and "
            "minutes-long governance; deploy without --dev on a shared chain"
        )
    deployer = signer(ctx, args, client)  # a devnet key, or the unlocked wallet
    ctx.info(f"deploying to chain {client.chain_id} at {args.rpc} from {deployer.address} …")
    suite = deploy_suite(client, deployer, dev=args.dev)
    path = args.manifest or default_manifest_path(ctx, str(client.chain_id))
    suite.manifest.save(path)
    ctx.emit(
        {"manifest": str(path), "chain_id": client.chain_id, "contracts": suite.manifest.contracts},
        lambda d: "\n".join(
            [f"manifest {d['manifest']}"] + [f"  {k:<19} {v}" for k, v in d["contracts"].items()]
        ),
    )
    return 0


REGISTRY.group(("chain",), "inspect the chain and the deployment")


def _configure_info(p: argparse.ArgumentParser) -> None:
    p.add_argument("--rpc", required=True, help="JSON-RPC URL")
    p.add_argument("--manifest", type=Path, required=True, help="deployment manifest")


@REGISTRY.command(
    "chain", "info", summary="check an RPC and a deployment manifest", configure=_configure_info
)
def _info(args: argparse.Namespace, ctx: Context) -> int:
    from milon_app.chain.client import ChainClient, RetryPolicy
    from milon_app.chain.deploy import Suite
    from milon_app.chain.manifest import Manifest
    from milon_app.units import milon_fields

    manifest = Manifest.load(args.manifest)
    client = ChainClient.connect(
        args.rpc, expected_chain_id=manifest.chain_id, retry=RetryPolicy(attempts=3)
    )
    suite = Suite.attach(client, manifest)
    data = {
        "chain_id": client.chain_id,
        "block": client.block_number(),
        **milon_fields(
            {"token_supply": int(client.call(suite.token.functions.totalSupply()))},
            ("token_supply",),
        ),
        "federations": client.call(suite.registry.functions.federationCount()),
        "jobs": client.call(suite.jobs.functions.jobCount()),
        "contracts": manifest.contracts,
    }
    ctx.emit(data, _render_info)
    return 0


def _render_info(d: dict[str, Any]) -> str:
    """People read MILON (the JSON keeps the exact wei as ``token_supply_wei``)."""
    lines = []
    for key, value in d.items():
        if key == "contracts":
            lines.append("contracts")
            lines += [f"  {name:<19} {addr}" for name, addr in sorted(value.items())]
        elif not key.endswith("_wei"):
            lines.append(
                f"{key:<13} {value} MILON" if key == "token_supply" else f"{key:<13} {value}"
            )
    return "\n".join(lines)
