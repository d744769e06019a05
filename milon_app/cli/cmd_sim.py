"""``milon sim``: many members through real rounds on real contracts (milon_app.sim)."""

from __future__ import annotations

import argparse
import logging
import sys
from typing import Any

from milon_app.cli.context import Context
from milon_app.cli.registry import REGISTRY

# Loggers that warn per node or per blob while thousands of nodes start and trade blobs.
_CHATTY = ("milon_app", "web3", "eth", "eth_tester", "urllib3", "libp2p", "torch")


def _configure(p: argparse.ArgumentParser) -> None:
    p.add_argument("--members", type=int, default=16, help="simulated members (default 16)")
    p.add_argument("--committee", type=int, default=7, help="committee size, 3..31 (default 7)")
    p.add_argument("--rounds", type=int, default=1, help="rounds to run (default 1)")
    p.add_argument(
        "--samples", type=int, default=32, help="training samples per member (default 32)"
    )
    p.add_argument(
        "--epochs", type=int, default=2, help="local epochs per member per round (default 2)"
    )
    p.add_argument(
        "--rpc",
        default="embedded",
        metavar="URL",
        help="'embedded' (default), 'anvil' (start a private anvil devnet for the run) or "
        "the URL of a devnet nobody else writes to while the simulation runs",
    )
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")


def _render(data: dict[str, Any]) -> str:
    from io import StringIO

    from rich.console import Console
    from rich.table import Table

    buf = StringIO()
    console = Console(file=buf, width=100, force_terminal=False)
    cohorts = data["cohorts"]
    lo, hi = min(cohorts), max(cohorts)
    sizes = str(lo) if lo == hi else f"{lo}-{hi}"
    table = Table(
        title=f"milon sim — {data['members']} members ({len(cohorts)} "
        f"cohort{'s' if len(cohorts) > 1 else ''} of {sizes}), committee {data['committee']}, "
        f"chain {data['chain']}"
    )
    for name in ("round", "wall s", "gas / member", "accepted", "accuracy", "passes"):
        table.add_column(name, justify="right")
    for row in data["rounds"]:
        acc = row["accuracy"]
        table.add_row(
            str(row["round"]),
            f"{row['wall_seconds']:.1f}",
            f"{row['gas_per_member']:,}",
            f"{row['accepted']}/{row['round_members']}",
            f"{acc:.1%}" if acc is not None else "-",
            str(row["passes"]),
        )
    console.print(table)
    console.print(
        f"setup {data['setup_seconds']:.1f} s   peak RSS {data['peak_rss_mib']:.0f} MiB   "
        f"members trained {data['trained_members']:,}",
        markup=False,
    )
    return buf.getvalue()


@REGISTRY.command(
    "sim",
    summary="simulate many members on the real contracts and node roles (batched training)",
    configure=_configure,
)
def _sim(args: argparse.Namespace, ctx: Context) -> int:
    from milon_app.sim.run import SimOptions

    opts = SimOptions(
        members=args.members,
        committee=args.committee,
        rounds=args.rounds,
        samples=args.samples,
        epochs=args.epochs,
        rpc=args.rpc,
        seed=args.seed,
    )
    opts.check()
    quiet = () if getattr(args, "verbose", 0) else _CHATTY  # the global -v keeps them
    levels = {name: logging.getLogger(name).level for name in quiet}
    for name in quiet:
        logging.getLogger(name).setLevel(logging.ERROR)
    try:
        report = _run(opts, ctx)
    finally:  # the process may go on (tests, the app): leave the loggers as they were
        for name, level in levels.items():
            logging.getLogger(name).setLevel(level)
    ctx.emit(report.as_dict(), _render)
    return 0


def _run(opts: Any, ctx: Context) -> Any:
    """``run_sim`` behind a progress bar on stderr."""
    from milon_app.cli.progress import stderr_progress
    from milon_app.sim.run import run_sim

    with stderr_progress(disable=ctx.json_output and not sys.stderr.isatty()) as bar:
        task = bar.add_task("starting", total=opts.members)

        def progress(stage: str, done: int, total: int) -> None:
            bar.update(task, description=stage, completed=done, total=total)

        return run_sim(opts, progress)
