"""``milon fed join|add-stake|update|leave|withdraw``: a member's stake over its life.

A member slashed below its federation's minimum stake is suspended (no work, no
committee seat) until ``fed add-stake`` brings it back to the minimum. Leaving
takes a member out of new work at once; its node finishes the rounds it accepted
and the stake unlocks after the cooldown, once those rounds have closed.
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any

from milon_app.cli import chain_session as S
from milon_app.cli.cmd_fed import existing_fed, fed_id_arg, member_status, milon_of
from milon_app.cli.context import Context
from milon_app.cli.registry import REGISTRY
from milon_app.errors import BadInputError

if TYPE_CHECKING:
    from eth_account.signers.local import LocalAccount

    from milon_app.chain.bindings import Member, Milon

MAX_CAPACITY = 2**64 - 1  # a member's capacity is a uint64 in FederationRegistry


# ---------------------------------------------------------------- join / leave / withdraw


def _benchmark_args(p: argparse.ArgumentParser, when: str) -> None:
    """--benchmark-seconds, and the chain options every member command takes."""
    p.add_argument(
        "--benchmark-seconds",
        type=float,
        default=2.5,
        metavar="S",
        help=f"benchmark length {when} (default 2.5)",
    )
    S.add_chain_args(p)


def _configure_join(p: argparse.ArgumentParser) -> None:
    fed_id_arg(p)
    p.add_argument("--stake", required=True, metavar="AMOUNT", help="stake in MILON")
    p.add_argument(
        "--capacity",
        metavar="N",
        help="capacity score (default: measured now with the compute benchmark)",
    )
    p.add_argument(
        "--peer-info", default="", metavar="STR", help="libp2p multiaddr(s) to reach you"
    )
    _benchmark_args(p, "when --capacity is not given")


@REGISTRY.command(
    "fed", "join", summary="stake MILON and join a federation", configure=_configure_join
)
def join_federation(args: argparse.Namespace, ctx: Context) -> int:
    stake = S.parse_amount(args.stake, "--stake")
    if stake == 0:
        raise BadInputError("--stake must be more than 0")
    capacity = None if args.capacity is None else parse_capacity(args.capacity)
    from milon_app.node.peer_info import MAX_PEER_INFO  # here: keeps the CLI's start light

    if len(args.peer_info.encode()) > MAX_PEER_INFO:
        raise BadInputError(
            f"--peer-info is {len(args.peer_info.encode())} bytes, over {MAX_PEER_INFO}"
        )
    m = milon_of(ctx, args)
    fed_id = existing_fed(m, args.fed_id)
    fed = m.federation(fed_id)
    if stake < fed.min_stake:
        raise BadInputError(
            f"--stake {args.stake} is below federation {fed_id}'s minimum of "
            f"{S.format_amount(fed.min_stake)} MILON"
        )
    sender = S.signer(ctx, args, m.client)
    _check_can_join(m, fed_id, fed, sender.address)
    balance = m.balance(sender.address)
    if balance < stake:
        raise BadInputError(
            f"{sender.address} holds {S.format_amount(balance)} MILON, less than the stake "
            f"{args.stake}"
        )
    if capacity is None:
        capacity = _benchmark(ctx, args.benchmark_seconds)
    m.join(sender, fed_id, stake, capacity, args.peer_info)
    mem = m.member(fed_id, sender.address)
    data = {
        "federation": fed_id,
        "address": sender.address,
        "stake": S.format_amount(mem.stake),
        "capacity": mem.capacity,
        "peer_info": mem.peer_info,
    }
    ctx.emit(
        data,
        lambda d: (
            f"{d['address']} joined federation {d['federation']} with "
            f"{d['stake']} MILON staked, capacity {d['capacity']}"
        ),
    )
    return 0


def _check_can_join(m: Milon, fed_id: int, fed: Any, address: str) -> None:
    """The usual refusals as plain sentences instead of custom-error names."""
    from milon_app.chain.bindings import Admission

    mem = m.member(fed_id, address)
    if mem.active:
        raise BadInputError(f"{address} is already a member of federation {fed_id}")
    if mem.suspended:
        raise BadInputError(
            f"{address} is a suspended member of federation {fed_id} (slashed below the minimum "
            f"stake): top up with `milon fed add-stake {fed_id} AMOUNT` instead of joining"
        )
    if mem.stake:
        raise BadInputError(
            f"{address} left federation {fed_id} and its stake is still locked: "
            f"`milon fed withdraw {fed_id}` after the cooldown, then join again"
        )
    if fed.admission is Admission.GOVERNANCE and not mem.admitted:
        raise BadInputError(
            f"federation {fed_id} admits members by governance and {address} is not admitted: "
            f"`milon gov propose admit {fed_id} {address}`"
        )


def parse_capacity(text: str) -> int:
    """--capacity as the contract takes it: a uint64 above 0 (it reverts ZeroCapacity)."""
    try:
        return S.positive_int(text, "--capacity", maximum=MAX_CAPACITY)
    except BadInputError as exc:
        if "whole number" in str(exc):
            raise
        raise BadInputError(
            f"--capacity must be 1..{MAX_CAPACITY} (the contract's uint64), got {text}"
        ) from None


def _benchmark(ctx: Context, seconds: float, why: str = "no --capacity given") -> int:
    """The general capacity score: the benchmark's median on the digits MLP."""
    import torch
    from rich.console import Console
    from rich.progress import BarColumn, Progress, TextColumn

    from milon_app.compute.benchmark import measure_capacity

    ctx.info(f"{why}: measuring training capacity ({seconds:g} s, digits MLP)…")
    if ctx.config.compute.max_threads > 0:
        torch.set_num_threads(ctx.config.compute.max_threads)
    with Progress(
        TextColumn("benchmark"), BarColumn(), console=Console(file=ctx.err), transient=True
    ) as bar:
        task = bar.add_task("bench", total=1.0)
        result = measure_capacity(
            ctx.config.compute.device,
            duration_s=seconds,
            progress=lambda f: bar.update(task, completed=f),
        )
    ctx.info(
        f"capacity {result.score} ({result.samples_per_s:,.0f} samples/s on {result.device}, "
        f"median of {result.repeats} timed runs, spread {result.spread:.0%})"
    )
    return result.score


# ---------------------------------------------------------------- update


def _member_now(ctx: Context, args: argparse.Namespace) -> tuple[Milon, int, LocalAccount, Member]:
    """The chain, federation, signer and its membership, refused plainly for a non-member
    (the contract would revert NotMember)."""
    m = milon_of(ctx, args)
    fed_id = existing_fed(m, args.fed_id)
    sender = S.signer(ctx, args, m.client)
    before = m.member(fed_id, sender.address)
    if not (before.active or before.suspended):
        raise BadInputError(
            f"{sender.address} is not a member of federation {fed_id}: "
            f"`milon fed join {fed_id} --stake AMOUNT` instead"
        )
    return m, fed_id, sender, before


def _configure_update(p: argparse.ArgumentParser) -> None:
    fed_id_arg(p)
    how = p.add_mutually_exclusive_group(required=True)
    how.add_argument("--capacity", metavar="N", help="declare this capacity score")
    how.add_argument(
        "--measure", action="store_true", help="measure it now with the compute benchmark"
    )
    _benchmark_args(p, "with --measure")


@REGISTRY.command(
    "fed",
    "update",
    summary="change your declared capacity (a number or a new measurement)",
    configure=_configure_update,
)
def _update(args: argparse.Namespace, ctx: Context) -> int:
    from milon_app.chain.bindings import Param

    capacity = None if args.capacity is None else parse_capacity(args.capacity)
    m, fed_id, sender, before = _member_now(ctx, args)
    if capacity is None:
        capacity = _benchmark(ctx, args.benchmark_seconds, "--measure")
    m.update_member(sender, fed_id, capacity, before.peer_info)  # the peer info stays
    params = m.params()
    data = {
        "federation": fed_id,
        "address": sender.address,
        "previous_capacity": before.capacity,
        "capacity": m.member(fed_id, sender.address).capacity,
        "peer_info": before.peer_info,
        "max_share_bps": params[Param.MAX_SHARE_BPS],
        "max_share_of_equal_bps": params[Param.MAX_SHARE_OF_EQUAL_BPS],
    }
    ctx.emit(data, _update_text)
    return 0


def _update_text(d: dict[str, Any]) -> str:
    """The change, and what still bounds it: the split's caps and per-model declarations."""
    return (
        f"capacity {d['previous_capacity']} -> {d['capacity']} in federation {d['federation']}\n"
        f"a round still gives one member at most {d['max_share_bps'] / 100:g}% of its epochs "
        f"and {d['max_share_of_equal_bps'] / 100:g}% of an equal share (`milon gov params`), "
        "and a job whose model your node benchmarked splits by that measurement instead"
    )


def _configure_member_op(p: argparse.ArgumentParser) -> None:
    fed_id_arg(p)
    S.add_chain_args(p)


@REGISTRY.command(
    "fed",
    "leave",
    summary="stop taking work; the stake unlocks after the cooldown",
    configure=_configure_member_op,
)
def _leave(args: argparse.Namespace, ctx: Context) -> int:
    m = milon_of(ctx, args)
    fed_id = existing_fed(m, args.fed_id)
    sender = S.signer(ctx, args, m.client)
    before = m.member(fed_id, sender.address)
    if not (before.active or before.suspended):
        raise BadInputError(f"{sender.address} is not an active member of federation {fed_id}")
    m.request_leave(sender, fed_id)
    mem = m.member(fed_id, sender.address)
    pending = m.pending_work(fed_id, sender.address)
    data = {
        "federation": fed_id,
        "address": sender.address,
        "stake": S.format_amount(mem.stake),
        "withdrawable_at": mem.withdrawable_at,
        "withdrawable_at_utc": S.utc(mem.withdrawable_at),
        "pending_work": pending,  # assignments and committee seats in rounds still open
    }
    now = m.client.now()

    def human(d: dict[str, Any]) -> str:
        rounds = (
            "; your node finishes the rounds it accepted first "
            f"({pending} open assignment(s) or committee seat(s): the stake stays locked until "
            "their rounds close)"
            if pending
            else ""
        )
        return (
            f"left federation {d['federation']}: no new work from now{rounds}\n"
            f"{d['stake']} MILON can be withdrawn from {d['withdrawable_at_utc']} "
            f"({S.relative(d['withdrawable_at'], now)}, chain time) with "
            f"`milon fed withdraw {d['federation']}`"
        )

    ctx.emit(data, human)
    return 0


@REGISTRY.command(
    "fed", "withdraw", summary="take the stake back after leaving", configure=_configure_member_op
)
def _withdraw(args: argparse.Namespace, ctx: Context) -> int:
    m = milon_of(ctx, args)
    fed_id = existing_fed(m, args.fed_id)
    sender = S.signer(ctx, args, m.client)
    mem = m.member(fed_id, sender.address)
    if mem.active or mem.suspended:
        state = "an active" if mem.active else "a suspended"
        raise BadInputError(
            f"{sender.address} is still {state} member of federation {fed_id}: "
            f"run `milon fed leave {fed_id}` first"
        )
    if mem.stake == 0:
        raise BadInputError(f"{sender.address} has no stake to withdraw in federation {fed_id}")
    ready, now = mem.withdrawable_at, m.client.now()
    if now < ready:
        raise BadInputError(
            f"the stake in federation {fed_id} is locked until {S.utc(ready)} "
            f"({S.relative(ready, now)}, chain time)"
        )
    pending = m.pending_work(fed_id, sender.address)
    if pending:
        raise BadInputError(
            f"{sender.address} still has {pending} open assignment(s) or committee seat(s) in "
            f"unfinished rounds of federation {fed_id} (a leaving node finishes the rounds it "
            "accepted); withdraw once they are finalized or timed out"
        )
    m.withdraw_stake(sender, fed_id)
    data = {
        "federation": fed_id,
        "address": sender.address,
        "withdrawn": S.format_amount(mem.stake),
    }
    ctx.emit(data, lambda d: f"withdrew {d['withdrawn']} MILON from federation {d['federation']}")
    return 0


# ---------------------------------------------------------------- add-stake


def _configure_add_stake(p: argparse.ArgumentParser) -> None:
    fed_id_arg(p)
    p.add_argument("amount", metavar="AMOUNT", help="MILON to add to your stake")
    S.add_chain_args(p)


@REGISTRY.command(
    "fed",
    "add-stake",
    summary="top up your stake (a suspended member returns once it reaches the minimum)",
    configure=_configure_add_stake,
)
def _add_stake(args: argparse.Namespace, ctx: Context) -> int:
    amount = S.parse_amount(args.amount, "AMOUNT")
    if amount == 0:
        raise BadInputError("AMOUNT must be more than 0 MILON")
    m, fed_id, sender, before = _member_now(ctx, args)
    balance = m.balance(sender.address)
    if balance < amount:
        raise BadInputError(
            f"{sender.address} holds {S.format_amount(balance)} MILON, less than {args.amount}"
        )
    minimum = m.federation(fed_id).min_stake
    m.add_stake(sender, fed_id, amount)
    mem = m.member(fed_id, sender.address)
    data = {
        "federation": fed_id,
        "address": sender.address,
        "added": S.format_amount(amount),
        "stake": S.format_amount(mem.stake),
        "min_stake": S.format_amount(minimum),
        "status": member_status(mem),
        "reinstated": before.suspended and not mem.suspended,
    }

    def human(d: dict[str, Any]) -> str:
        line = f"added {d['added']} MILON: stake now {d['stake']} MILON in federation {fed_id}"
        if d["reinstated"]:
            return line + "; reinstated, your node takes work again"
        if mem.suspended:
            return line + f"; still suspended, below the minimum of {d['min_stake']} MILON"
        return line

    ctx.emit(data, human)
    return 0
