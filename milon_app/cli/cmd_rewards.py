"""``milon rewards`` and ``milon rewards claim``: what the account earned, holds and has staked.

Rewards are pull-claimed: finalized rounds credit ``claimable`` on the jobs
contract and nothing moves until the member claims.
"""

from __future__ import annotations

import argparse
from typing import Any

from milon_app.cli import chain_session as S
from milon_app.cli.cmd_fed import member_status
from milon_app.cli.context import Context
from milon_app.cli.registry import REGISTRY
from milon_app.errors import BadInputError


def _configure_show(p: argparse.ArgumentParser) -> None:
    p.add_argument("--address", metavar="ADDRESS", help="look at another account")
    S.add_chain_args(p, account="read")


def overview(m: Any, who: str) -> dict[str, Any]:
    """Claimable rewards, balances and stakes of ``who``."""
    stakes = []
    for fed_id in range(1, m.federation_count() + 1):
        mem = m.member(fed_id, who)
        if mem.stake or mem.active:
            stakes.append(
                {
                    "federation": fed_id,
                    "stake": S.format_amount(mem.stake),
                    "active": mem.active,
                    "status": member_status(mem),
                    "pending_work": m.pending_work(fed_id, who),  # assignments + seats
                }
            )
    return {
        "address": who,
        "claimable": S.format_amount(m.claimable(who)),
        "milon_balance": S.format_amount(m.balance(who)),
        "eth_balance": S.format_amount(m.client.balance(who)),
        "voting_power": S.format_amount(m.votes(who)),
        "stakes": stakes,
    }


def _render(d: dict[str, Any]) -> str:
    head = S.pairs(
        [
            ("account", d["address"]),
            (
                "claimable",
                f"{d['claimable']} MILON"
                + ("  (`milon rewards claim`)" if d["claimable"] != "0" else ""),
            ),
            ("wallet", f"{d['milon_balance']} MILON, {d['eth_balance']} ETH"),
            ("voting power", d["voting_power"]),
        ]
    )
    if not d["stakes"]:
        return head + "\nno stake in any federation"
    rows = ((s["federation"], s["stake"], s["status"], s["pending_work"]) for s in d["stakes"])
    cols = ("federation", "stake (MILON)", "status", "open assignments + seats")
    table = S.table("Stakes", cols, rows)
    suspended = [s["federation"] for s in d["stakes"] if s["status"] == "suspended"]
    if suspended:
        table += (
            f"suspended in federation {', '.join(map(str, suspended))}: slashed below the "
            "minimum stake; top up with `milon fed add-stake FED AMOUNT` to take work again"
        )
    return head + "\n" + table


def _milon(ctx: Context, args: argparse.Namespace) -> Any:
    from milon_app.chain.bindings import Milon

    _client, suite = S.open_chain(ctx, args)
    return Milon(suite)


@REGISTRY.command(
    "rewards",
    summary="claimable rewards, stakes and wallet balances",
    configure=_configure_show,
)
def _show(args: argparse.Namespace, ctx: Context) -> int:
    if args.address and args.dev_account is not None:
        raise BadInputError("pass either --address or --dev-account, not both")
    who = S.check_address(args.address) if args.address else None
    m = _milon(ctx, args)
    ctx.emit(overview(m, who or S.account_address(ctx, args, m.client)), _render)
    return 0


def _configure_claim(p: argparse.ArgumentParser) -> None:
    S.add_chain_args(p)


@REGISTRY.command(
    "rewards", "claim", summary="move claimable rewards to the wallet", configure=_configure_claim
)
def _claim(args: argparse.Namespace, ctx: Context) -> int:
    m = _milon(ctx, args)
    sender = S.signer(ctx, args, m.client)
    amount = m.claimable(sender.address)
    if amount == 0:
        raise BadInputError(f"{sender.address} has no rewards to claim")
    m.claim(sender)
    data = {
        "address": sender.address,
        "claimed": S.format_amount(amount),
        "milon_balance": S.format_amount(m.balance(sender.address)),
    }
    ctx.emit(
        data,
        lambda d: f"claimed {d['claimed']} MILON; balance now {d['milon_balance']} MILON",
    )
    return 0
