"""Dev-chain controls: ``milon chain mine``, ``milon chain warp``, ``milon devnet fund``.

On a local devnet nothing else moves the chain forward: voting periods, timelock
delays and round deadlines are block numbers and timestamps, so the docs'
governance walk-through needs blocks and time on demand (``milon devnet`` also
mines an empty block every ``--block-time`` seconds). A wallet created after the
devnet started needs gas and MILON. Every command here refuses any chain but a
local devnet (anvil's chain id): it mines, moves time or pays from the PUBLIC
test mnemonic's first account.
"""

from __future__ import annotations

import argparse
import contextlib
from typing import Any

from milon_app.cli.chain_session import (
    DEVNET_CHAIN_ID,
    account_address,
    add_chain_args,
    check_address,
    format_amount,
    manifest_path,
    open_chain,
    parse_amount,
    positive_int,
    rpc_url,
)
from milon_app.cli.context import Context
from milon_app.cli.registry import REGISTRY
from milon_app.errors import BadInputError, MilonError

MAX_BLOCKS = 100_000
MAX_WARP_S = 10 * 365 * 24 * 3600  # ten years: a typo should not end every deadline forever


def _dev_client(ctx: Context, args: argparse.Namespace) -> Any:
    """A client on a local devnet (refused elsewhere): the manifest's RPC unless --rpc."""
    from milon_app.chain.client import ChainClient, RetryPolicy
    from milon_app.chain.manifest import Manifest

    manifest_rpc = ""
    if not args.rpc:
        with contextlib.suppress(MilonError, OSError, ValueError):  # no manifest: config's RPC
            manifest_rpc = Manifest.load(manifest_path(ctx, args)).rpc_url
    client = ChainClient.connect(rpc_url(ctx, args, manifest_rpc), retry=RetryPolicy(attempts=3))
    _refuse_non_dev(client, args.what)
    return client


def _refuse_non_dev(client: Any, what: str) -> None:
    if client.chain_id != DEVNET_CHAIN_ID:
        raise BadInputError(
            f"{what} is for local devnets only (chain id {DEVNET_CHAIN_ID}); "
            f"this RPC serves chain id {client.chain_id}"
        )


def _configure_mine(p: argparse.ArgumentParser) -> None:
    p.add_argument("blocks", nargs="?", default="1", help="how many empty blocks (default 1)")
    add_chain_args(p, account="none")
    p.set_defaults(what="mining blocks by hand")


@REGISTRY.command(
    "chain", "mine", summary="mine empty blocks on a local devnet", configure=_configure_mine
)
def _mine(args: argparse.Namespace, ctx: Context) -> int:
    blocks = positive_int(args.blocks, "blocks", maximum=MAX_BLOCKS)
    client = _dev_client(ctx, args)
    before = client.block_number()
    client.mine(blocks)
    ctx.emit({"mined": blocks, "block_before": before, "block": client.block_number()},
             lambda d: f"mined {d['mined']} block(s): now at block {d['block']}")  # fmt: skip
    return 0


def _configure_warp(p: argparse.ArgumentParser) -> None:
    p.add_argument("seconds", help="how far to move chain time forward (then one block is mined)")
    add_chain_args(p, account="none")
    p.set_defaults(what="moving chain time")


@REGISTRY.command(
    "chain", "warp", summary="move a local devnet's time forward", configure=_configure_warp
)
def _warp(args: argparse.Namespace, ctx: Context) -> int:
    from milon_app.units import utc

    seconds = positive_int(args.seconds, "seconds", maximum=MAX_WARP_S)
    client = _dev_client(ctx, args)
    before = client.now()
    client.increase_time(seconds)
    now = client.now()
    data = {"seconds": seconds, "time_before": before, "time": now, "block": client.block_number()}
    ctx.emit(data, lambda d: f"chain time moved {d['seconds']} s: now {utc(d['time'])} "
                             f"(block {d['block']})")  # fmt: skip
    return 0


def _configure_fund(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "address", nargs="?",
        help="the address to fund (default: the wallet of this config or --keystore, "
        "as `milon wallet show` prints it)",
    )  # fmt: skip
    p.add_argument("--eth", default="10", help="ETH for gas (default 10)")
    p.add_argument("--milon", default="1000", help="MILON to stake and pay with (default 1000)")
    add_chain_args(p, account="read")
    p.set_defaults(what="funding from the test mnemonic")


@REGISTRY.command(
    "devnet", "fund",
    summary="send ETH and MILON to an address on a running local devnet",
    configure=_configure_fund,
)  # fmt: skip
def _fund(args: argparse.Namespace, ctx: Context) -> int:
    from milon_app.chain.bindings import Milon

    given = check_address(args.address, "address") if args.address else None
    eth, milon_wei = parse_amount(args.eth, "--eth"), parse_amount(args.milon, "--milon")
    if eth == 0 and milon_wei == 0:
        raise BadInputError("nothing to send: --eth and --milon are both 0")
    client, suite = open_chain(ctx, args)
    _refuse_non_dev(client, args.what)
    to = given or account_address(ctx, args, client)  # the wallet's keystore, not unlocked
    from milon_app.chain.client import dev_accounts_from_mnemonic

    funder = dev_accounts_from_mnemonic(1)[0]  # THROWAWAY: the public test mnemonic's first key
    milon = Milon(suite)
    if milon_wei > milon.balance(funder.address):
        raise BadInputError(
            f"the devnet's first dev account holds {format_amount(milon.balance(funder.address))}"
            f" MILON, less than --milon {args.milon}"
        )
    if eth:
        client.send_eth(funder, to, eth)
    if milon_wei:
        milon.transfer(funder, to, milon_wei)
    data = {"address": to, "eth_wei": client.balance(to), "milon_wei": milon.balance(to)}
    ctx.emit(data, lambda d: f"funded {d['address']}: {format_amount(d['eth_wei'])} ETH, "
                             f"{format_amount(d['milon_wei'])} MILON")  # fmt: skip
    return 0

