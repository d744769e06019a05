"""``milon fed list|show|create|join|leave|withdraw``: federations and membership on chain."""

from __future__ import annotations

import argparse
import hashlib
from pathlib import Path
from typing import TYPE_CHECKING, Any

from milon_app.cli import session as S
from milon_app.cli.context import Context
from milon_app.cli.registry import REGISTRY
from milon_app.errors import BadInputError, NotFoundError

if TYPE_CHECKING:
    from milon_app.chain.bindings import Milon

REGISTRY.group(("fed",), "federations: list, inspect, create, join and leave")

MAX_METADATA_BYTES = 1 << 20
MAX_PEER_INFO = 512  # FederationRegistry.MAX_PEER_INFO


def _fed_id(p: argparse.ArgumentParser) -> None:
    p.add_argument("fed_id", metavar="ID", help="federation id (1, 2, ...)")


def _milon(ctx: Context, args: argparse.Namespace) -> Milon:
    from milon_app.chain.bindings import Milon

    _client, suite = S.open_chain(ctx, args)
    return Milon(suite)


def _existing(m: Milon, text: str) -> int:
    """The id as an int, with a NotFoundError naming the known range instead of a revert."""
    fed_id = S.positive_int(text, "federation id")
    count = m.federation_count()
    if fed_id > count:
        known = f"1..{count}" if count else "none yet: create one with `milon fed create`"
        raise NotFoundError(f"federation {fed_id} does not exist (known: {known})")
    return fed_id


def _fed_row(fed_id: int, f: Any) -> dict[str, Any]:
    return {
        "id": fed_id,
        "name": f.name,
        "members": f.member_count,
        "total_capacity": f.total_capacity,
        "min_stake": S.format_amount(f.min_stake),
        "admission": f.admission.name.lower(),
        "creator": f.creator,
        "metadata_hash": f.metadata_hash.hex(),
    }


# ---------------------------------------------------------------- list / show


def _configure_list(p: argparse.ArgumentParser) -> None:
    S.add_chain_args(p, account="none")


@REGISTRY.command("fed", "list", summary="list the federations", configure=_configure_list)
def _list(args: argparse.Namespace, ctx: Context) -> int:
    m = _milon(ctx, args)
    rows = [_fed_row(i, m.federation(i)) for i in range(1, m.federation_count() + 1)]

    def human(data: list[dict[str, Any]]) -> str:
        if not data:
            return "no federations yet: create one with `milon fed create NAME --min-stake N`"
        cols = ("id", "name", "members", "total capacity", "min stake (MILON)", "admission")
        keys = ("id", "name", "members", "total_capacity", "min_stake", "admission")
        return S.table("Federations", cols, ([r[k] for k in keys] for r in data))

    ctx.emit(rows, human)
    return 0


def _configure_show(p: argparse.ArgumentParser) -> None:
    _fed_id(p)
    S.add_chain_args(p, account="none")


@REGISTRY.command("fed", "show", summary="a federation and its members", configure=_configure_show)
def _show(args: argparse.Namespace, ctx: Context) -> int:
    m = _milon(ctx, args)
    fed_id = _existing(m, args.fed_id)
    data = _fed_row(fed_id, m.federation(fed_id))
    members = []
    for addr in m.members(fed_id):
        mem = m.member(fed_id, addr)
        members.append(
            {
                "address": addr,
                "stake": S.format_amount(mem.stake),
                "capacity": mem.capacity,
                "peer_info": mem.peer_info,
                "active": mem.active,
                "joined_at": mem.joined_at,
                "leave_requested_at": mem.leave_requested_at or None,
            }
        )
    data["member_list"] = members

    def human(d: dict[str, Any]) -> str:
        head = S.pairs(
            [
                ("federation", f"{d['id']}  {d['name']}"),
                ("admission", d["admission"]),
                ("min stake", f"{d['min_stake']} MILON"),
                ("members", f"{d['members']} active, total capacity {d['total_capacity']}"),
                ("creator", d["creator"]),
            ]
        )
        rows = (
            (
                r["address"],
                r["stake"],
                r["capacity"],
                r["peer_info"],
                "yes" if r["active"] else "left",
                S.utc(r["joined_at"]) if r["joined_at"] else "",
            )
            for r in d["member_list"]
        )
        cols = ("address", "stake (MILON)", "capacity", "peer info", "active", "joined")
        return head + "\n" + S.table("Members", cols, rows)

    ctx.emit(data, human)
    return 0


# ---------------------------------------------------------------- create


def _configure_create(p: argparse.ArgumentParser) -> None:
    p.add_argument("name", metavar="NAME", help="federation name")
    p.add_argument(
        "--min-stake", required=True, metavar="AMOUNT", help="minimum stake in MILON (e.g. 10.5)"
    )
    p.add_argument(
        "--admission",
        choices=("open", "governance"),
        default="open",
        help="open: anyone may join; governance: members need an admit proposal first",
    )
    p.add_argument(
        "--metadata",
        type=Path,
        metavar="FILE",
        help="a file describing the federation; its sha256 goes on chain",
    )
    S.add_chain_args(p)


@REGISTRY.command(
    "fed",
    "create",
    summary="create a federation (you become its creator)",
    configure=_configure_create,
)
def _create(args: argparse.Namespace, ctx: Context) -> int:
    from milon_app.chain.bindings import Admission, Milon

    name = args.name.strip()
    if not name:
        raise BadInputError("federation name must not be empty")
    min_stake = S.parse_amount(args.min_stake, "--min-stake")
    metadata = _metadata_hash(args.metadata)
    client, suite = S.open_chain(ctx, args)
    m = Milon(suite)
    floor = int(client.call(suite.registry.functions.minStakeFloor()))
    if min_stake < floor:
        raise BadInputError(
            f"--min-stake {args.min_stake} is below the protocol floor of "
            f"{S.format_amount(floor)} MILON"
        )
    sender = S.signer(ctx, args, client)
    admission = Admission.GOVERNANCE if args.admission == "governance" else Admission.OPEN
    fed_id = m.create_federation(sender, name, metadata, min_stake, admission)
    data = _fed_row(fed_id, m.federation(fed_id))

    def human(d: dict[str, Any]) -> str:
        note = (
            "\nmembers must be admitted by governance first: `milon gov propose admit "
            f"{d['id']} ADDRESS`"
            if d["admission"] == "governance"
            else ""
        )
        return (
            f"created federation {d['id']} {d['name']!r} (min stake {d['min_stake']} MILON)" + note
        )

    ctx.emit(data, human)
    return 0


def _metadata_hash(path: Path | None) -> bytes:
    if path is None:
        return b"\0" * 32
    try:
        data = path.expanduser().read_bytes()
    except FileNotFoundError:
        raise NotFoundError(f"metadata file {path} does not exist") from None
    except IsADirectoryError:
        raise BadInputError(f"metadata file {path} is a directory") from None
    if len(data) > MAX_METADATA_BYTES:
        raise BadInputError(f"metadata file {path} is {len(data)} bytes, over 1 MiB")
    return hashlib.sha256(data).digest()


# ---------------------------------------------------------------- join / leave / withdraw


def _configure_join(p: argparse.ArgumentParser) -> None:
    _fed_id(p)
    p.add_argument("--stake", required=True, metavar="AMOUNT", help="stake in MILON")
    p.add_argument(
        "--capacity",
        metavar="N",
        help="capacity score (default: measured now with the compute benchmark)",
    )
    p.add_argument(
        "--peer-info", default="", metavar="STR", help="libp2p multiaddr(s) to reach you"
    )
    p.add_argument(
        "--benchmark-seconds",
        type=float,
        default=2.5,
        metavar="S",
        help="benchmark length when --capacity is not given (default 2.5)",
    )
    S.add_chain_args(p)


@REGISTRY.command(
    "fed", "join", summary="stake MILON and join a federation", configure=_configure_join
)
def _join(args: argparse.Namespace, ctx: Context) -> int:
    stake = S.parse_amount(args.stake, "--stake")
    if stake == 0:
        raise BadInputError("--stake must be more than 0")
    capacity = None
    if args.capacity is not None:
        capacity = S.positive_int(args.capacity, "--capacity", maximum=2**64 - 1)
    if len(args.peer_info.encode()) > MAX_PEER_INFO:
        raise BadInputError(
            f"--peer-info is {len(args.peer_info.encode())} bytes, over {MAX_PEER_INFO}"
        )
    m = _milon(ctx, args)
    fed_id = _existing(m, args.fed_id)
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


def _benchmark(ctx: Context, seconds: float) -> int:
    import torch
    from rich.console import Console
    from rich.progress import BarColumn, Progress, TextColumn

    from milon_app.compute.benchmark import measure_capacity

    ctx.info(f"no --capacity given: measuring training capacity ({seconds:g} s, digits MLP)…")
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
    ctx.info(f"capacity {result.score} ({result.samples_per_s:,.0f} samples/s on {result.device})")
    return result.score


def _configure_member_op(p: argparse.ArgumentParser) -> None:
    _fed_id(p)
    S.add_chain_args(p)


@REGISTRY.command(
    "fed",
    "leave",
    summary="stop taking work; the stake unlocks after the cooldown",
    configure=_configure_member_op,
)
def _leave(args: argparse.Namespace, ctx: Context) -> int:
    m = _milon(ctx, args)
    fed_id = _existing(m, args.fed_id)
    sender = S.signer(ctx, args, m.client)
    if not m.member(fed_id, sender.address).active:
        raise BadInputError(f"{sender.address} is not an active member of federation {fed_id}")
    m.request_leave(sender, fed_id)
    mem = m.member(fed_id, sender.address)
    cooldown = int(m.client.call(m.suite.registry.functions.leaveCooldown()))
    ready = mem.leave_requested_at + cooldown
    data = {
        "federation": fed_id,
        "address": sender.address,
        "stake": S.format_amount(mem.stake),
        "withdrawable_at": ready,
        "withdrawable_at_utc": S.utc(ready),
    }
    now = m.client.now()
    ctx.emit(
        data,
        lambda d: (
            f"left federation {d['federation']}; {d['stake']} MILON can be withdrawn "
            f"from {d['withdrawable_at_utc']} ({S.relative(ready, now)}, chain time) with "
            f"`milon fed withdraw {d['federation']}`"
        ),
    )
    return 0


@REGISTRY.command(
    "fed", "withdraw", summary="take the stake back after leaving", configure=_configure_member_op
)
def _withdraw(args: argparse.Namespace, ctx: Context) -> int:
    m = _milon(ctx, args)
    fed_id = _existing(m, args.fed_id)
    sender = S.signer(ctx, args, m.client)
    mem = m.member(fed_id, sender.address)
    if mem.active:
        raise BadInputError(
            f"{sender.address} is still an active member of federation {fed_id}: "
            f"run `milon fed leave {fed_id}` first"
        )
    if mem.stake == 0:
        raise BadInputError(f"{sender.address} has no stake to withdraw in federation {fed_id}")
    cooldown = int(m.client.call(m.suite.registry.functions.leaveCooldown()))
    ready, now = mem.leave_requested_at + cooldown, m.client.now()
    if now < ready:
        raise BadInputError(
            f"the stake in federation {fed_id} is locked until {S.utc(ready)} "
            f"({S.relative(ready, now)}, chain time)"
        )
    pending = m.pending_work(fed_id, sender.address)
    if pending:
        raise BadInputError(
            f"{sender.address} still has work in {pending} unfinished round(s) of federation "
            f"{fed_id}; withdraw once they are finalized or timed out"
        )
    m.withdraw_stake(sender, fed_id)
    data = {
        "federation": fed_id,
        "address": sender.address,
        "withdrawn": S.format_amount(mem.stake),
    }
    ctx.emit(data, lambda d: f"withdrew {d['withdrawn']} MILON from federation {d['federation']}")
    return 0
