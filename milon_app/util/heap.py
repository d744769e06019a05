"""Keep the window's interpreter free of long pauses that are not its own work.

Two one-time costs used to freeze the event loop for hundreds of milliseconds
while the user's node first trained: torch's optimizers import ``torch._dynamo``
(and sympy) on first use, and the allocations of that import trigger full
garbage collections, each walking every object the app holds (torch, web3, Qt:
~350,000) with the interpreter lock held. :func:`warm_up` does the import early,
with the collector paused, then moves everything alive to the permanent
generation (``gc.freeze``) so later full collections walk only what is new.
Loading torch's shared library itself (~0.3 s with the lock held) cannot be
split; warming up at node start puts it before any training.
"""

from __future__ import annotations

import gc
import logging
import time

log = logging.getLogger(__name__)


def warm_up() -> float:
    """Import what the first training step would (torch, an optimizer's dynamo guard), with
    garbage collection paused; then freeze the heap, the first time only (a second session in
    the same process, as in tests, would freeze the first one's uncollected cycles for good).
    Returns the seconds it took."""
    t0 = time.perf_counter()
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        import torch

        layer = torch.nn.Linear(1, 1)
        torch.optim.SGD(layer.parameters(), lr=0.1)  # imports torch._dynamo the first time
    finally:
        if was_enabled:
            gc.enable()
    if gc.get_freeze_count() == 0:  # once a process: garbage frozen later would never be freed
        gc.freeze()
    spent = time.perf_counter() - t0
    log.debug("warmed up torch in %.2f s; %d objects frozen", spent, gc.get_freeze_count())
    return spent
