"""``milon sim``: many members through real rounds on real contracts, cheaply.

What is real: the contracts (on the embedded chain or a devnet), every member's node core
with its own account, state DB and blob store, its contributor and committee roles (it
accepts, trains, commits, reveals; the committee fetches every revealed update over the
in-process transport, judges it and votes; the accepted set is aggregated and confirmed
on chain), the owner's and keeper's roles. What makes it cheap: a tiny model
(64 -> 32 -> 10 on digits), batched training of all members at once
(:mod:`milon_app.sim.batched`), the in-process transport, and a driver that does the reads
every member would repeat once (:mod:`milon_app.sim.driver`).
"""

from __future__ import annotations

import contextlib
import gc
import resource
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from milon_app.chain.bindings import DEPLOYED_COMMITTEE
from milon_app.chain.client import EMBEDDED
from milon_app.errors import BadInputError
from milon_app.sim.driver import RoundStats, SimDriver

MAX_MEMBERS = 4_096
ANVIL = "anvil"
# Older blocks whose state the simulation's anvil keeps on disk: a 1,000-member chain's state
# is megabytes a block, and nothing here reads state further back than the latest block.
ANVIL_HISTORY_STATES = 256
# Every member's state DB and blob store live here when it exists (a RAM disk): the stores
# fsync each blob and pin, which for N members and K judges is N x K syncs per round.
MEMORY_DIR = "/dev/shm"  # noqa: S108 (only as the parent of a private mkdtemp folder)
Progress = Callable[[str, int, int], None]


@dataclass(frozen=True)
class SimOptions:
    members: int = 16
    committee: int = 7
    rounds: int = 1
    samples: int = 32  # training samples per member
    epochs: int = 2  # local epochs per member per round
    rpc: str = EMBEDDED  # "embedded", "anvil" (started here, stopped after), or a devnet URL
    seed: int = 0
    workdir: Path | None = None

    def check(self) -> None:
        low, _, high = DEPLOYED_COMMITTEE
        if not 2 <= self.members <= MAX_MEMBERS:
            raise BadInputError(f"--members must be in 2..{MAX_MEMBERS}, got {self.members}")
        if not low <= self.committee <= high:
            raise BadInputError(f"--committee must be in {low}..{high}, got {self.committee}")
        if not 1 <= self.rounds <= 100:
            raise BadInputError(f"--rounds must be in 1..100, got {self.rounds}")
        if not 2 <= self.samples <= 10_000:
            raise BadInputError(f"--samples must be in 2..10000, got {self.samples}")
        if not 1 <= self.epochs <= 100:
            raise BadInputError(f"--epochs must be in 1..100, got {self.epochs}")


@dataclass
class SimReport:
    members: int
    committee: int
    cohorts: list[int]  # members per cohort (one federation and job each)
    chain: str
    rounds: list[dict[str, Any]] = field(default_factory=list)
    setup_seconds: float = 0.0
    peak_rss_mib: float = 0.0
    trained_members: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {
            "members": self.members,
            "committee": self.committee,
            "cohorts": self.cohorts,
            "chain": self.chain,
            "setup_seconds": round(self.setup_seconds, 3),
            "rounds": self.rounds,
            "peak_rss_mib": round(self.peak_rss_mib, 1),
            "trained_members": self.trained_members,
        }


def peak_rss_mib() -> float:
    """This process's peak resident memory (ru_maxrss: KiB on Linux, bytes on macOS)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1024 * 1024) if sys.platform == "darwin" else peak / 1024


def round_dict(s: RoundStats, members: int) -> dict[str, Any]:
    return {
        "round": s.round,
        "wall_seconds": round(s.wall_seconds, 3),
        "gas": s.gas,
        "gas_per_member": s.gas // max(members, 1),
        "round_members": s.members,
        "accepted": s.accepted,
        "accuracy": s.accuracy,
        "timed_out_cohorts": s.timed_out,
        "passes": s.passes,
        "start_round_gas": s.start_round_gas,
        "seconds_by_phase": s.seconds_by_phase,
    }


def run_sim(opts: SimOptions, progress: Progress | None = None) -> SimReport:
    opts.check()
    with contextlib.ExitStack() as stack:
        rpc = opts.rpc
        if rpc == ANVIL:
            from milon_app.chain.devnet import Anvil

            rpc = stack.enter_context(Anvil(history_states=ANVIL_HISTORY_STATES)).url
        memory = MEMORY_DIR if Path(MEMORY_DIR).is_dir() else None
        work = opts.workdir or Path(
            stack.enter_context(tempfile.TemporaryDirectory(prefix="milon-sim-", dir=memory))
        )
        return _run(opts, rpc, work, progress)
    raise AssertionError("unreachable")  # for mypy: the with block returns


def _run(opts: SimOptions, rpc: str, work: Path, progress: Progress | None) -> SimReport:
    import torch

    t0 = time.monotonic()
    torch.manual_seed(opts.seed)
    # One thread: the model is tiny, and on a shared 2-core machine torch's second thread
    # spin-waits against other work (a 64->32->10 forward pass measured 25x slower).
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return _federation_run(opts, rpc, work, progress, t0)
    finally:
        torch.set_num_threads(threads)


def _federation_run(
    opts: SimOptions, rpc: str, work: Path, progress: Progress | None, t0: float
) -> SimReport:

    from milon_app.compute.datasets import DatasetSpec
    from milon_app.node.core import TensorData
    from milon_app.node.owner import JobRequest
    from milon_app.sim.chain import open_chain
    from milon_app.sim.federation import REWARD_PER_EPOCH, build_federation
    from milon_app.sim.worker import BatchedWorker
    from milon_app.sim.workload import sim_data, sim_model

    spec, dataset = sim_model(), DatasetSpec(kind="builtin", name="digits")
    data, held, members = sim_data(opts.members, opts.samples, opts.seed)
    client = open_chain(rpc)
    worker = BatchedWorker(threads=1)
    sim = build_federation(
        client, work,
        members=opts.members,
        data=[TensorData(x, y) for x, y in members],
        worker=worker,
        eval_data=(data.x_test, data.y_test),
        progress=progress,
    )  # fmt: skip
    sizes = [len(c.members) for c in sim.cohorts]
    report = SimReport(opts.members, opts.committee, sizes, opts.rpc)
    try:
        for c in sim.cohorts:
            per_round = len(c.members) * opts.epochs
            c.job_id = sim.owner.owner.create_job(
                JobRequest(
                    fed_id=c.fed_id,
                    spec=spec,
                    dataset=dataset,
                    total_epochs=opts.rounds * per_round,
                    epochs_per_round=per_round,
                    reward_per_epoch=REWARD_PER_EPOCH,
                    committee_size=opts.committee,
                    seed=opts.seed,
                    validation=held,
                )
            )
        report.setup_seconds = time.monotonic() - t0
        # Thousands of nodes are long-lived objects: keep them out of the collector's full
        # passes, which otherwise rescan all of them while web3 allocates per call (256
        # members, anvil: 87/105 s a round frozen, 95/125 s not, one run each).
        gc.collect()
        gc.freeze()
        driver = SimDriver(sim)
        for r in range(1, opts.rounds + 1):
            stats = driver.run_round(r, progress)
            report.rounds.append(round_dict(stats, opts.members))
    finally:
        gc.unfreeze()
        sim.close()
    report.trained_members = worker.trained
    report.peak_rss_mib = peak_rss_mib()
    return report
