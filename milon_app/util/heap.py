"""Keep the window's interpreter free of long pauses that are not its own work.

Two one-time costs used to freeze the event loop for hundreds of milliseconds
while the user's node first trained: torch's optimizers import ``torch._dynamo``
(and sympy) on first use, loading a built-in dataset imports scikit-learn and
scipy (~900 modules), and the allocations of those imports trigger full garbage
collections, each walking every object the app holds (torch, web3, Qt: ~350,000;
~100 ms) with the interpreter lock held. :func:`warm_up` does the import early,
with the collector paused, then moves everything alive to the permanent
generation (``gc.freeze``) so later full collections walk only what is new.
Loading torch's shared library itself (~0.3 s with the lock held) cannot be
split; warming up at node start puts it before any training.
"""

from __future__ import annotations

import gc
import importlib
import logging
import time

log = logging.getLogger(__name__)
_state = {"frozen": False}  # warm_up froze the heap in this process already


def warm_up(modules: tuple[str, ...] = ()) -> float:
    """Import what the first training step would (torch, an optimizer's dynamo guard,
    safetensors, and ``modules``), with garbage collection paused; then freeze the heap, the
    first time only (a second session in the same process, as in tests, would freeze the
    first one's uncollected cycles for good). Returns the seconds it took."""
    t0 = time.perf_counter()
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        import torch

        layer = torch.nn.Linear(1, 1)
        torch.optim.SGD(layer.parameters(), lr=0.1)  # imports torch._dynamo the first time
        # e.g. the built-in datasets' loader: scikit-learn and scipy, ~900 modules
        for name in ("safetensors.torch", *modules):
            importlib.import_module(name)
    finally:
        if was_enabled:
            gc.enable()
    if not _state["frozen"]:  # once a process: garbage frozen later would never be freed
        gc.freeze()
        _state["frozen"] = True
    spent = time.perf_counter() - t0
    log.debug("warmed up torch in %.2f s", spent)
    return spent


def settle() -> None:
    """Collect the young generations (a millisecond or two), then freeze what survived, so the
    next full collection walks only objects created since (a window that has shown a few
    rounds holds ~40,000 more: events, chart series; a full pass over them took ~50 ms).
    What is frozen is still freed by reference counting; only a cycle that becomes garbage
    later stays. (Not ``gc.get_freeze_count()``: it walks the whole frozen list.)"""
    gc.collect(1)
    gc.freeze()
