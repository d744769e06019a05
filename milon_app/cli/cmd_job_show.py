"""``milon job show``: a job, its current round's phase and deadlines, committee and verdicts.

Everything is read back from the chain: the round and its seats, and each committee
member's verdict with the reason codes of its ``VerdictSubmitted`` event
(:func:`milon_app.chain.verdicts.round_verdicts`), named as the verdict function
names them. The phase follows the contract's rules (:mod:`milon_app.session.rounds`).
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any

from milon_app.cli import chain_session as S
from milon_app.cli.cmd_job import ZERO, _blob_store, existing_job, job_row, milon_of
from milon_app.cli.context import Context
from milon_app.cli.privacy_args import privacy_text
from milon_app.cli.registry import REGISTRY

if TYPE_CHECKING:
    from milon_app.chain.bindings import Milon


def _configure_show(p: argparse.ArgumentParser) -> None:
    p.add_argument("job_id", metavar="ID", help="job id")
    S.add_chain_args(p, account="none")


@REGISTRY.command(
    "job",
    "show",
    summary="a job, its current round, its committee and how each update was judged",
    configure=_configure_show,
)
def _show(args: argparse.Namespace, ctx: Context) -> int:
    from milon_app.chain.bindings import Param

    m = milon_of(ctx, args)
    job_id = existing_job(m, args.job_id)
    data = job_row(job_id, m.job(job_id))
    data["committee_default"] = m.params()[Param.COMMITTEE_DEFAULT]
    now = m.client.now()
    data["chain_time"] = now
    r = data["current_round"]
    data["round"] = round_data(m, job_id, r, now) if r > 0 else None
    data["capacities"] = capacity_data(m, job_id) if data["status"] == "open" else []
    data["privacy"] = privacy_data(ctx, m, job_id)
    ctx.emit(data, render_show)
    return 0


def privacy_data(ctx: Context, m: Milon, job_id: int) -> dict[str, Any]:
    """The job's privacy setting, read as the window's owner dashboard reads it."""
    from milon_app.session.privacy_view import job_privacy

    return job_privacy(m, _blob_store(ctx), job_id)


def capacity_data(m: Milon, job_id: int) -> list[dict[str, Any]]:
    """The active members as the job's next split reads them: the capacity each declared for
    the job's model (``setModelCapacity``), else its general one, and its delivery record."""
    params = m.job(job_id).params
    return [
        {
            "member": c.address,
            "capacity": c.capacity,
            "measured_on": "job model" if c.per_model else "general",
            "delivery_factor_bps": m.delivery_factor_bps(params.fed_id, c.address),
        }
        for c in m.round_candidates(params.fed_id, params.model_spec_hash)
    ]


def round_data(m: Milon, job_id: int, r: int, now: int) -> dict[str, Any]:
    """Round ``r`` as `job show` prints it: phase, deadlines, committee, verdicts per update."""
    from milon_app.chain.verdicts import round_verdicts
    from milon_app.federation.policy import reason_name
    from milon_app.session.rounds import DEADLINES, round_phase

    rnd = m.round(job_id, r)
    v = round_verdicts(m, job_id, r)
    ph = round_phase(rnd, now)
    assignments = []
    for u in v.updates:
        a = m.assignment(job_id, r, u.member)
        assignments.append(
            {
                "member": u.member,
                "index": u.index,
                "epochs": u.epochs,
                "weight": a.weight,
                "state": a.state.name.lower(),
                "num_samples": u.num_samples,
                "update_hash": u.update_hash or None,
                "outcome": u.outcome,
                "votes": [
                    {
                        "validator": x.validator,
                        "accepted": x.accepted,
                        "reason": None if x.accepted else reason_name(x.reason),
                    }
                    for x in u.votes
                ],
            }
        )
    return {
        "number": r,
        "phase": ph.key,
        "phase_text": ph.text,
        "phase_deadline": ph.deadline,
        "epochs": rnd.epochs,
        "epochs_trained": rnd.epochs_trained,
        "started_at": rnd.started_at,
        "deadlines": [{"phase": name, "at": getattr(rnd, key)} for name, key in DEADLINES],
        "closed": not ph.open,  # finalized, timed out or stuck: no deadline is still to come
        "tallied": rnd.tallied,
        "base_model_hash": rnd.base_model_hash.hex(),
        "new_model_hash": rnd.new_model_hash.hex() if rnd.new_model_hash != ZERO else None,
        "committee": [
            {
                "address": s.member,
                "weight": S.format_amount(s.weight),
                "voted": s.voted,
                "confirmed": s.confirmed,
            }
            for s in v.committee
        ],
        "assignments": assignments,
    }


def _when(at: int, now: int, closed: bool) -> str:
    """A deadline against chain time; once the round closed, a later one never comes (a
    finalized round of a completed job printed "in 4m 56s")."""
    if closed and at > now:
        return "not reached: the round closed before it"
    return S.relative(at, now)


def _short(address: str) -> str:
    return f"{address[:6]}…{address[-4:]}"


def _yes(flag: bool) -> str:
    return "yes" if flag else "no"


def _votes_text(a: dict[str, Any]) -> str:
    """``2 accept; 0x12…cdef: harmful`` (accepting validators counted, rejecting ones named)."""
    yes = sum(1 for x in a["votes"] if x["accepted"])
    parts = [f"{yes} accept"] if yes else []
    parts += [f"{_short(x['validator'])}: {x['reason']}" for x in a["votes"] if not x["accepted"]]
    return "; ".join(parts)


def _committee_text(d: dict[str, Any]) -> str:
    size = d["committee_size"]
    chosen = f"committee of {size}" if size else f"default committee ({d['committee_default']})"
    cap = f"; samples per update capped at {d['max_samples']:,}" if d["max_samples"] else ""
    return f"{d['rule']}, {chosen}{cap}"


def render_show(d: dict[str, Any]) -> str:
    now = d["chain_time"]
    head = S.pairs(
        [
            ("job", f"{d['id']} in federation {d['federation']} ({d['status']})"),
            ("owner", d["owner"]),
            ("epochs", f"{d['epochs_done']}/{d['total_epochs']}, {d['epochs_per_round']} a round"),
            (
                "reward",
                f"{d['reward_per_epoch']} MILON per epoch; escrow left {d['escrow_remaining']}",
            ),
            ("aggregation", _committee_text(d)),
            ("round duration", S.duration(d["round_duration_s"])),
            ("model spec", d["model_spec_hash"]),
            ("dataset spec", d["dataset_spec_hash"]),
            ("global model", d["global_model_hash"]),
            ("final model", d["final_model_hash"] or "-"),
            ("privacy", privacy_text(d["privacy"])),
        ]
    )
    if d["capacities"]:
        head += "\n" + S.table(
            "Capacity for this job's model (the next split: capacity x delivery, capped)",
            ("member", "capacity", "measured on", "delivery"),
            (
                (
                    c["member"],
                    f"{c['capacity']:,}",
                    c["measured_on"],
                    f"{c['delivery_factor_bps'] / 10_000:.2f}x",
                )
                for c in d["capacities"]
            ),
        )
    rnd = d["round"]
    if rnd is None:
        return head + "\nno round started yet"
    phase = rnd["phase_text"]
    if rnd["phase_deadline"] is not None:
        when = rnd["phase_deadline"]
        phase += f", until {S.utc(when)} ({S.relative(when, now)})"
    lines = [(f"round {rnd['number']}", f"{rnd['epochs']} epochs"), ("phase", phase)]
    lines += [
        (f"{d['phase']} until", f"{S.utc(d['at'])} ({_when(d['at'], now, rnd['closed'])})")
        for d in rnd["deadlines"]
    ]
    committee = (
        S.table(
            f"Committee, round {rnd['number']}",
            ("validator", "weight (MILON)", "voted", "confirmed"),
            (
                (c["address"], c["weight"], _yes(c["voted"]), _yes(c["confirmed"]))
                for c in rnd["committee"]
            ),
        )
        if rnd["committee"]
        else "no committee drawn\n"
    )
    rows = (
        (a["member"], a["epochs"], a["state"], a["num_samples"] or "", a["outcome"], _votes_text(a))
        for a in rnd["assignments"]
    )
    cols = ("member", "epochs", "state", "samples", "outcome", "votes")
    updates = S.table(f"Updates, round {rnd['number']}", cols, rows)
    return f"{head}\n\n{S.pairs(lines)}\n{committee}{updates}"
