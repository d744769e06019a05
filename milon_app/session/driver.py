"""The thread that keeps a session's nodes moving.

It ticks the user's node (and, on the simulated network, its fellow
members) one after another, so a process never has two ticks of the same
node racing, and publishes a heartbeat for status bars. On the simulated
chain nothing produces blocks by itself, so the driver does: one empty
block a second while idle, and a jump of chain time when every node waits
for a deadline (the demo's rule, applied only to the session's own jobs).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from milon_app.chain.bindings import JobStatus
from milon_app.errors import MilonError
from milon_app.node import events as ev

if TYPE_CHECKING:
    from milon_app.chain.client import ChainClient
    from milon_app.node.core import NodeCore

log = logging.getLogger(__name__)
IDLE_BLOCK_S = 1.0  # the simulated chain's block time while nothing happens
TIME_JUMP_S = 60


class Driver:
    def __init__(
        self,
        client: ChainClient,
        user: NodeCore,
        others: Callable[[], Sequence[NodeCore]],
        *,
        interval_s: float,
        simulated: bool,
        warp_allowed: Callable[[int], bool] = lambda _block: True,
        chores: Sequence[Callable[[], None]] = (),
        heartbeat: bool = True,
        on_step: Callable[[int | None], None] | None = None,
        also_ours: Callable[[], Sequence[str]] = tuple,
    ) -> None:
        """``heartbeat``: publish the status bar's heartbeat (the window's own driver does);
        ``warp_allowed``: asked with the chain's block whether time may jump now;
        ``on_step``: told after each pass the block at which the whole pass found nothing to
        do (None: a node trained or sent a step), so the simulated federation's process warps
        time only once the user's node has seen the chain as it is; ``also_ours``: addresses
        whose jobs count as the session's though their nodes run elsewhere (the user's, seen
        from that process)."""
        self.client = client
        self.user = user
        self.others = others
        self.interval_s = interval_s
        self.simulated = simulated
        self.warp_allowed = warp_allowed
        self.chores = list(chores)  # the simulated members' own doings (the welcome job)
        self.heartbeat = heartbeat
        self.on_step = on_step
        self.also_ours = also_ours
        self.paused = False
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._last_block_at = time.monotonic()
        self.ticks = 0

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="milon-driver", daemon=True)
        self._thread.start()

    @property
    def thread(self) -> threading.Thread | None:
        """The driver's thread while it runs (after a stop whose join timed out, too)."""
        return self._thread if self._thread is not None and self._thread.is_alive() else None

    def stop(self, timeout_s: float = 60.0) -> None:
        """Ask the loop to end and wait up to ``timeout_s`` for the step in progress; release
        what the nodes hold only after :attr:`thread` is None (``util.threads.after_thread``)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=timeout_s)

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                self.step()
            except Exception as exc:  # the driver must outlive any one failure
                log.exception("driver step failed")
                self.user.publish(ev.NodeError(where="driver", message=repr(exc)))
            self._stop.wait(self.interval_s)

    def step(self) -> bool:
        """One pass over every node; returns whether any was busy training."""
        block0 = self._block()
        busy = False
        for node in [self.user, *self.others()]:
            try:
                busy = node.tick() or busy
            except MilonError as exc:
                node.publish(ev.NodeError(where="tick", message=str(exc)))
        for chore in self.chores:
            try:
                chore()
            except MilonError as exc:
                self.user.publish(ev.NodeError(where="simulated federation", message=str(exc)))
        block = self._block()
        quiet = not busy and block == block0 and block >= 0
        if self.simulated and quiet and self.warp_allowed(block):
            block = self._advance(block)
        self.ticks += 1
        if self.on_step is not None:
            self.on_step(block0 if quiet else None)
        if not self.heartbeat:
            return busy
        self.user.publish(
            ev.Heartbeat(
                block=block,
                chain_connected=self.client.connected,
                peers=len(self.user.transport.peers()),
                busy=busy,
                paused=self.paused,
            )
        )
        return busy

    def _block(self) -> int:
        try:
            return self.client.block_number()
        except MilonError:
            return -1

    def _advance(self, block: int) -> int:
        if self._waiting_jobs():
            self.client.increase_time(TIME_JUMP_S)
        elif time.monotonic() - self._last_block_at >= IDLE_BLOCK_S:
            self.client.mine(1)
        else:
            return block
        self._last_block_at = time.monotonic()
        return self._block()

    def _waiting_jobs(self) -> bool:
        """An open job of ours (owned, or in a federation one of our nodes is in)."""
        milon = self.user.milon
        nodes = [self.user, *self.others()]
        addresses = {n.address for n in nodes} | set(self.also_ours())
        for job_id in range(1, milon.job_count() + 1):
            job = milon.job(job_id)
            if job.status is not JobStatus.OPEN:
                continue
            if job.owner in addresses:
                return True
            fed = job.params.fed_id
            if any(milon.member(fed, a).active for a in addresses):
                return True
        return False
