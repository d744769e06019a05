"""``milon job wait``: block until a job ends, for scripts and walk-throughs.

A script that creates a job has nothing to wait on but the chain: polling ``job show``
in a shell loop means parsing its output. This command polls the job (one read a
``--poll`` interval), draws the epochs done on stderr, and ends with the job's row:
exit 0 once it completed, 11 (training) if it was cancelled, 13 past ``--timeout``.
"""

from __future__ import annotations

import argparse
import sys
import time
from typing import TYPE_CHECKING, Any

from milon_app.cli import chain_session as S
from milon_app.cli.cmd_job import existing_job, job_row, milon_of
from milon_app.cli.context import Context
from milon_app.cli.progress import stderr_progress
from milon_app.cli.registry import REGISTRY
from milon_app.errors import BadInputError, TrainingError, WaitTimeoutError

if TYPE_CHECKING:
    from milon_app.chain.bindings import Milon

MAX_POLL_S = 60.0


def _configure_wait(p: argparse.ArgumentParser) -> None:
    p.add_argument("job_id", metavar="ID", help="job id")
    p.add_argument(
        "--timeout", type=float, default=0.0, metavar="SECONDS",
        help="give up after this long, exit 13 (default 0: wait until the job ends)",
    )  # fmt: skip
    p.add_argument(
        "--poll", type=float, default=1.0, metavar="SECONDS",
        help="seconds between reads of the job (default 1)",
    )  # fmt: skip
    S.add_chain_args(p, account="none")


@REGISTRY.command(
    "job", "wait",
    summary="wait until a job completes (exit 0) or is cancelled (exit 11); --timeout: exit 13",
    configure=_configure_wait,
)  # fmt: skip
def _wait(args: argparse.Namespace, ctx: Context) -> int:
    if not 0 <= args.timeout <= 10 * 365 * 86_400:
        raise BadInputError(f"--timeout must be 0 (none) up to ten years, got {args.timeout:g}")
    if not 0.05 <= args.poll <= MAX_POLL_S:
        raise BadInputError(f"--poll must be 0.05..{MAX_POLL_S:g} seconds, got {args.poll:g}")
    m = milon_of(ctx, args)
    job_id = existing_job(m, args.job_id)
    start = time.monotonic()
    row = _poll_until_ended(m, job_id, args, start, ctx)
    row["waited_s"] = round(time.monotonic() - start, 1)
    if row["status"] == "cancelled":
        raise TrainingError(
            f"job {job_id} was cancelled with {row['epochs_done']}/{row['total_epochs']} epochs "
            f"done ({row['escrow_remaining']} MILON of escrow returned to its owner)"
        )
    ctx.emit(row, _human)
    return 0


def _poll_until_ended(
    m: Milon, job_id: int, args: argparse.Namespace, start: float, ctx: Context
) -> dict[str, Any]:
    """The job's row once it is no longer open; WaitTimeoutError past ``--timeout``."""
    quiet = ctx.json_output and not sys.stderr.isatty()
    with stderr_progress(disable=quiet) as bar:
        task = bar.add_task(f"job {job_id}", total=None)
        while True:
            row = job_row(job_id, m.job(job_id))
            bar.update(
                task, total=row["total_epochs"], completed=row["epochs_done"],
                description=f"job {job_id}, round {row['current_round']}",
            )  # fmt: skip
            if row["status"] != "open":
                return row
            waited = time.monotonic() - start
            if args.timeout and waited >= args.timeout:
                raise WaitTimeoutError(
                    f"job {job_id} is still open after {waited:.0f} s (--timeout "
                    f"{args.timeout:g}): {row['epochs_done']}/{row['total_epochs']} epochs done, "
                    f"round {row['current_round']}; `milon job show {job_id}` says why"
                )
            time.sleep(args.poll)


def _human(row: dict[str, Any]) -> str:
    final = row["final_model_hash"] or "none"
    return (
        f"job {row['id']} {row['status']}: {row['epochs_done']}/{row['total_epochs']} epochs, "
        f"final model {final} (waited {row['waited_s']:g} s)"
    )
