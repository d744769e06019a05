"""Garbage collection on the GUI thread only.

CPython's cyclic collector runs in whichever thread happens to allocate when a
threshold is crossed: in MILON that is usually a worker (the TaskRunner's chain
reads, the session's driver, libp2p's trio thread). A Qt object caught in a
reference cycle is then destroyed on that thread while the GUI thread uses Qt,
which Qt does not allow: it can crash or deadlock inside C++, where no Python
timeout reaches. So while the window runs, automatic collection is off and a
timer on the GUI thread collects each generation once its threshold is crossed
(the pattern pyqtgraph ships as ``GarbageCollector``).
"""

from __future__ import annotations

import gc

from PySide6.QtCore import QObject, QTimer

INTERVAL_MS = 500  # how stale cyclic garbage may get; a collection of gen 0 takes ~1 ms


class GuiThreadCollector(QObject):
    """Collects on a GUI-thread timer; :meth:`stop` restores automatic collection."""

    def __init__(self, interval_ms: int = INTERVAL_MS, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.thresholds = gc.get_threshold()
        self._was_enabled = gc.isenabled()
        gc.disable()
        self._timer = QTimer(self)
        self._timer.timeout.connect(self.check)
        self._timer.start(interval_ms)
        self.collections = 0

    def check(self) -> None:
        """Collect the youngest generations whose counts passed their thresholds."""
        counts = gc.get_count()
        generation = -1
        for gen, (count, threshold) in enumerate(zip(counts, self.thresholds, strict=True)):
            if threshold <= 0 or count <= threshold:
                break
            generation = gen
        if generation >= 0:
            gc.collect(generation)
            self.collections += 1

    def stop(self) -> None:
        self._timer.stop()
        if self._was_enabled:
            gc.enable()
