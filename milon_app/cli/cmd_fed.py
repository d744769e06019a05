"""``milon fed list|show|create``: federations on chain and who is in them.

Joining, topping up, leaving and withdrawing are in :mod:`milon_app.cli.cmd_fed_member`.
"""

from __future__ import annotations

import argparse
import hashlib
from pathlib import Path
from typing import TYPE_CHECKING, Any

from milon_app.cli import chain_session as S
from milon_app.cli.context import Context
from milon_app.cli.registry import REGISTRY
from milon_app.errors import BadInputError, NotFoundError

if TYPE_CHECKING:
    from milon_app.chain.bindings import Member, Milon

REGISTRY.group(("fed",), "federations: list, inspect, create, join, top up and leave")

MAX_METADATA_BYTES = 1 << 20


def fed_id_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument("fed_id", metavar="ID", help="federation id (1, 2, ...)")


def milon_of(ctx: Context, args: argparse.Namespace) -> Milon:
    from milon_app.chain.bindings import Milon

    _client, suite = S.open_chain(ctx, args)
    return Milon(suite)


def existing_fed(m: Milon, text: str) -> int:
    """The id as an int, with a NotFoundError naming the known range instead of a revert."""
    fed_id = S.positive_int(text, "federation id")
    count = m.federation_count()
    if fed_id > count:
        known = f"1..{count}" if count else "none yet: create one with `milon fed create`"
        raise NotFoundError(f"federation {fed_id} does not exist (known: {known})")
    return fed_id


def member_status(mem: Member) -> str:
    """active, suspended, leaving (stake locked), left (withdrawn) or "" (never joined)."""
    if mem.suspended:
        return "suspended"
    if mem.active:
        return "active"
    if mem.stake:
        return "leaving"
    return "left" if mem.joined_at else ""


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
    m = milon_of(ctx, args)
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
    fed_id_arg(p)
    p.add_argument(
        "--job",
        metavar="JOB",
        help="also each member's capacity for this job's model (what the job's split reads)",
    )
    S.add_chain_args(p, account="none")


def _job_model(m: Milon, fed_id: int, text: str | None) -> tuple[int, bytes] | None:
    """(job id, its model spec hash) for ``--job``, refused unless the job is this federation's."""
    if text is None:
        return None
    job_id = S.positive_int(text, "--job")
    if job_id > m.job_count():
        raise NotFoundError(f"job {job_id} does not exist")
    params = m.job(job_id).params
    if params.fed_id != fed_id:
        raise BadInputError(f"job {job_id} belongs to federation {params.fed_id}, not {fed_id}")
    return job_id, params.model_spec_hash


@REGISTRY.command("fed", "show", summary="a federation and its members", configure=_configure_show)
def _show(args: argparse.Namespace, ctx: Context) -> int:
    m = milon_of(ctx, args)
    fed_id = existing_fed(m, args.fed_id)
    data = _fed_row(fed_id, m.federation(fed_id))
    job = _job_model(m, fed_id, args.job)
    data["job"] = job[0] if job else None
    members = []
    for addr in m.members(fed_id):
        mem = m.member(fed_id, addr)
        members.append(
            {
                "address": addr,
                "stake": S.format_amount(mem.stake),
                "capacity": mem.capacity,
                # declared for --job's model (None: none, the general capacity applies)
                "job_capacity": (m.model_capacity(fed_id, addr, job[1]) or None) if job else None,
                "peer_info": mem.peer_info,
                "active": mem.active,
                "suspended": mem.suspended,
                "status": member_status(mem),
                "joined_at": mem.joined_at,
                "leave_requested_at": mem.leave_requested_at or None,
                "withdrawable_at": mem.withdrawable_at or None,
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
        per_job = d["job"] is not None
        rows = (
            (
                r["address"],
                r["stake"],
                r["capacity"],
                *([r["job_capacity"] or "general"] if per_job else []),
                r["peer_info"],
                r["status"],
                S.utc(r["joined_at"]) if r["joined_at"] else "",
                S.utc(r["withdrawable_at"]) if r["withdrawable_at"] else "",
            )
            for r in d["member_list"]
        )
        cols = (
            "address",
            "stake (MILON)",
            "capacity",
            *([f"capacity for job {d['job']}"] if per_job else []),
            "peer info",
            "status",
            "joined",
            "withdrawable from",
        )
        suspended = [r["address"] for r in d["member_list"] if r["suspended"]]
        note = (
            f"\n{len(suspended)} suspended: slashed below the minimum stake, no work until "
            f"topped up (`milon fed add-stake {d['id']} AMOUNT`)"
            if suspended
            else ""
        )
        return head + "\n" + S.table("Members", cols, rows) + note

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
