"""A trainer worker that collects the members' training and runs it batched.

Every simulated member's contributor role submits its training exactly as on a real node
(:meth:`TrainerWorker.submit`) and polls the future on later ticks. Here ``submit`` only
queues the request; the simulation driver calls :meth:`BatchedWorker.flush` once per pass,
which trains all queued members together (:func:`milon_app.sim.batched.train_group`) and
resolves their futures. One worker is shared by every member of the simulation.
"""

from __future__ import annotations

import threading
from collections import defaultdict
from concurrent.futures import Future
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from milon_app.compute.model_spec import ModelSpec
from milon_app.compute.trainer import StateLike, TrainResult
from milon_app.compute.worker import TrainerWorker
from milon_app.sim.batched import Member, train_group

if TYPE_CHECKING:
    import torch


@dataclass
class _Request:
    spec: ModelSpec
    member: Member
    epochs: int
    future: Future[TrainResult]


class BatchedWorker(TrainerWorker):
    """Queues training; :meth:`flush` trains the queue in groups, one vectorised run each."""

    def __init__(self, threads: int | None = None) -> None:
        super().__init__()
        self.threads = threads
        self._queue: list[_Request] = []
        self._qlock = threading.Lock()
        self.trained = 0  # members trained so far (for reports)
        self.train_s = 0.0  # seconds spent training

    def submit(
        self,
        spec: ModelSpec,
        global_state: StateLike,
        data: tuple[torch.Tensor, torch.Tensor],
        *,
        epochs: int,
        seed: int,
        device: str | torch.device = "cpu",
        cancel: threading.Event | None = None,
        **kwargs: Any,
    ) -> Future[TrainResult]:
        """Queue one member's training (CPU only); progress callbacks are not called."""
        future: Future[TrainResult] = Future()
        with self._qlock:
            self._queue.append(_Request(spec, Member(global_state, data, seed), epochs, future))
        return future

    @property
    def pending(self) -> int:
        with self._qlock:
            return len(self._queue)

    def flush(self) -> int:
        """Train everything queued; returns how many members were trained."""
        import time

        with self._qlock:
            queue, self._queue = self._queue, []
        groups: dict[tuple[str, int, int], list[_Request]] = defaultdict(list)
        for req in queue:
            if not req.future.set_running_or_notify_cancel():
                continue
            key = (req.spec.to_json(), int(req.member.data[0].shape[0]), req.epochs)
            groups[key].append(req)
        t0 = time.perf_counter()
        for reqs in groups.values():
            spec, epochs = reqs[0].spec, reqs[0].epochs
            try:
                results = train_group(spec, [r.member for r in reqs], epochs, self.threads)
            except Exception as exc:  # a bad group fails its members' futures, not the run
                results = [exc] * len(reqs)
            for req, res in zip(reqs, results, strict=True):
                if isinstance(res, Exception):
                    req.future.set_exception(res)
                else:
                    req.future.set_result(res)
        self.trained += sum(len(r) for r in groups.values())
        self.train_s += time.perf_counter() - t0
        return sum(len(r) for r in groups.values())

    def cancel_all(self) -> None:
        with self._qlock:
            queue, self._queue = self._queue, []
        for req in queue:
            req.future.cancel()
        super().cancel_all()
