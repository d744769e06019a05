"""``milon job cancel``: the owner ends an open job and takes the escrow left back.

The contract allows it only to the job's owner, only while the job is open and only
between rounds. Each of those is checked from the chain before anything is signed, so
the user reads which one failed (and a script gets its exit code) instead of a bare
revert; a revert that still happens (a keeper opened a round in between) is named the
same way.
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any

from milon_app.cli import chain_session as S
from milon_app.cli.cmd_job import existing_job, job_row, milon_of
from milon_app.cli.context import Context
from milon_app.cli.registry import REGISTRY
from milon_app.errors import BadInputError

if TYPE_CHECKING:
    from milon_app.chain.bindings import Job


def _configure_cancel(p: argparse.ArgumentParser) -> None:
    p.add_argument("job_id", metavar="ID", help="job id")
    S.add_chain_args(p)


def refusal(job_id: int, job: Job, sender: str, round_open: bool) -> str | None:
    """Why ``sender`` cannot cancel the job now (None: it can), in the contract's order."""
    status = job.status.name.lower()
    if job.owner.lower() != sender.lower():
        return f"job {job_id} belongs to {job.owner}, not {sender}: only its owner can cancel it"
    if status != "open":
        return f"job {job_id} is already {status}: only an open job can be cancelled"
    if round_open:
        return (
            f"job {job_id} has round {job.current_round} in progress: cancel once it has "
            f"finalized or timed out (`milon job show {job_id}` gives its deadlines)"
        )
    return None


@REGISTRY.command(
    "job", "cancel",
    summary="cancel an open job you own (between rounds) and get the escrow left back",
    configure=_configure_cancel,
)  # fmt: skip
def _cancel(args: argparse.Namespace, ctx: Context) -> int:
    from milon_app.chain.errors import ContractRevert

    m = milon_of(ctx, args)
    job_id = existing_job(m, args.job_id)
    sender = S.signer(ctx, args, m.client)
    job = m.job(job_id)
    r = job.current_round
    why = refusal(job_id, job, sender.address, r > 0 and not m.round(job_id, r).closed)
    if why is not None:
        raise BadInputError(why)
    refund = job.escrow_remaining
    try:
        m.cancel_job(sender, job_id)
    except ContractRevert as exc:  # the job moved between the read and the transaction
        job = m.job(job_id)
        why = refusal(job_id, job, sender.address, exc.error_name == "RoundInProgress")
        raise BadInputError(why or str(exc)) from None
    data = job_row(job_id, m.job(job_id))
    data["refund"] = S.format_amount(refund)
    ctx.emit(data, _human)
    return 0


def _human(d: dict[str, Any]) -> str:
    return (
        f"job {d['id']} cancelled with {d['epochs_done']}/{d['total_epochs']} epochs done: "
        f"{d['refund']} MILON of escrow returned to {d['owner']}"
    )
