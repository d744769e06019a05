"""Training off the caller's thread: one worker thread per device, results as futures.

The GUI and the network loop submit work and get a ``Future`` back; they never
wait on training. One job runs per device at a time (two jobs on one GPU would
only slow each other down); the rest queue in submission order. A running job
stops at its next step once its cancel event is set.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TYPE_CHECKING, Any, TypeVar

from milon_app.compute.hardware import select_device
from milon_app.compute.model_spec import ModelSpec
from milon_app.compute.trainer import StateLike, TrainResult, train

if TYPE_CHECKING:
    import torch

T = TypeVar("T")


class TrainerWorker:
    """Owns the training threads; ``shutdown`` stops them (after cancelling if asked).

    ``compile_model`` is the machine's ``compute.compile`` setting, the default of every
    job trained here (a local speed choice; the job's spec does not carry it)."""

    def __init__(self, *, compile_model: bool = False) -> None:
        self.compile_model = compile_model
        self._lock = threading.Lock()
        self._executors: dict[str, ThreadPoolExecutor] = {}
        self._events: set[threading.Event] = set()

    def _executor(self, device_key: str) -> ThreadPoolExecutor:
        with self._lock:
            ex = self._executors.get(device_key)
            if ex is None:
                ex = ThreadPoolExecutor(
                    max_workers=1, thread_name_prefix=f"milon-train-{device_key}"
                )
                self._executors[device_key] = ex
            return ex

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
        """Queue a :func:`~milon_app.compute.trainer.train` call; raises HardwareError now
        (not in the future) when ``device`` is unusable."""
        dev = select_device(device)
        kwargs.setdefault("compile_model", self.compile_model)
        event = cancel if cancel is not None else threading.Event()
        with self._lock:
            self._events.add(event)

        def run() -> TrainResult:
            try:
                return train(
                    spec,
                    global_state,
                    data,
                    epochs=epochs,
                    seed=seed,
                    device=dev,
                    cancel=event,
                    **kwargs,
                )
            finally:
                with self._lock:
                    self._events.discard(event)

        return self._executor(str(dev)).submit(run)

    def call(self, device: str | torch.device, fn: Callable[[], T]) -> Future[T]:
        """Queue other work that needs the device to itself (a capacity benchmark) behind
        the training queued on it; raises HardwareError now when ``device`` is unusable."""
        return self._executor(str(select_device(device))).submit(fn)

    def cancel_all(self) -> None:
        with self._lock:
            for event in self._events:
                event.set()

    def shutdown(self, *, cancel: bool = True, wait: bool = True) -> None:
        if cancel:
            self.cancel_all()
        with self._lock:
            executors = list(self._executors.values())
            self._executors.clear()
        for ex in executors:
            ex.shutdown(wait=wait, cancel_futures=cancel)


_default: TrainerWorker | None = None
_default_lock = threading.Lock()


def default_worker() -> TrainerWorker:
    global _default
    with _default_lock:
        if _default is None:
            _default = TrainerWorker()
        return _default


def submit_training(
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
    """Train on the process-wide worker; pass ``cancel`` to be able to stop a running job."""
    return default_worker().submit(
        spec, global_state, data, epochs=epochs, seed=seed, device=device, cancel=cancel, **kwargs
    )
