"""Capacity per job model: measure this node on each job's own model, declare it on chain.

A capacity score only means something for the model and batch size it was measured with (a
GPU can lose to a CPU on a tiny MLP at batch 32 and win a hundredfold on a CNN at batch
512). So when the contributor first meets a job it benchmarks the job's model spec (which
fixes the batch size) on the node's device and thread count, for ``duration_s`` seconds,
queued on the device's worker thread (never on the tick thread, and never beside training on
the same device), keeps the score in the state DB keyed by (spec hash, device, threads), and
declares it for the job's model (``setModelCapacity``, keyed by the job's modelSpecHash) when
the chain holds another value. Jobs with the same spec share the measurement and the
declaration; the job's split reads it from the next round on.
"""

from __future__ import annotations

import time
from concurrent.futures import Future
from typing import TYPE_CHECKING

from milon_app.chain.errors import ContractRevert
from milon_app.node import events as ev
from milon_app.util.futures import poll_once

if TYPE_CHECKING:
    from milon_app.compute.benchmark import CapacityResult
    from milon_app.node.jobs import JobContext
    from milon_app.node.services import RoleServices

DEFAULT_DURATION_S = 1.0  # what a node's config gives (compute.job_benchmark_s)

Measurement = tuple[str, str, int]  # (spec hash, device, threads): what a score is valid for


class JobCapacity:
    """The contributor's capacity per job model; ``duration_s`` 0 turns it off (every job is
    then split by the general capacity declared at join)."""

    def __init__(self, services: RoleServices, duration_s: float = 0.0) -> None:
        self.services = services
        self.duration_s = duration_s
        self._running: dict[Measurement, Future[CapacityResult]] = {}
        self._settled: set[tuple[int, bytes]] = set()  # (federation, model) done this session

    def threads(self) -> int:
        """The CPU threads a measurement runs with: the node's setting, else torch's."""
        import torch

        return self.services.settings().threads or torch.get_num_threads()

    def step(self, ctx: JobContext) -> None:
        """Measure (once, in the background) and declare this job's model capacity; returns
        at once while the benchmark runs."""
        if self.duration_s <= 0:
            return
        svc = self.services
        fed, key = ctx.job.params.fed_id, ctx.job.params.model_spec_hash
        if (fed, key) in self._settled:
            return
        where = (ctx.spec.spec_hash(), svc.settings().device, self.threads())
        score = svc.state.capacity(*where)
        cached = score is not None
        if score is None:
            score = self._measured(ctx, where)
            if score is None:
                return
        try:
            sent = svc.milon.model_capacity(fed, svc.address, key) != score
            if sent:
                svc.milon.set_model_capacity(svc.account, fed, key, score)
        except ContractRevert as exc:  # no longer an active member, or an older deployment
            self._settle(ctx, f"declaring the capacity for the job's model: {exc}")
            return
        self._settled.add((fed, key))
        svc.publish(
            ev.JobCapacityMeasured(
                job_id=ctx.job_id,
                fed_id=fed,
                model_spec_hash=key.hex(),
                device=where[1],
                threads=where[2],
                score=score,
                declared=sent,
                cached=cached,
            )
        )

    def _measured(self, ctx: JobContext, where: Measurement) -> int | None:
        """The benchmark's score once it finished (kept in the state DB), starting it if
        needed; None while it runs or when it failed."""
        svc = self.services
        spec, seconds, threads = ctx.spec, self.duration_s, svc.settings().threads

        def run() -> CapacityResult:
            from milon_app.compute.benchmark import measure_capacity

            return measure_capacity(where[1], spec, duration_s=seconds, threads=threads)

        future = poll_once(self._running, where, lambda: svc.worker.call(where[1], run))
        if future is None:
            return None
        try:
            result = future.result()
        except Exception as exc:  # a model the device cannot run: the general capacity applies
            self._settle(ctx, f"benchmarking the job's model: {exc!r}")
            return None
        svc.state.record_capacity(*where, result.score, result.samples_per_s, time.time())
        return result.score

    def _settle(self, ctx: JobContext, message: str) -> None:
        """Give up on this job's model for the session, and say why."""
        self._settled.add((ctx.job.params.fed_id, ctx.job.params.model_spec_hash))
        self.services.publish(ev.NodeError(where=f"capacity for job {ctx.job_id}", message=message))

    def cancel_all(self) -> None:
        for future in self._running.values():
            future.cancel()
        self._running.clear()
