"""Chain time jumps in the simulated federation's process wait for the user's node.

The window's driver tells the child the block at which a whole pass of the
user's node found nothing to do; the child jumps time only at that block. A
user's node still fetching a round's blobs when a round opens must not find
its accept window closed by jumps it never saw (it was slashed as a no-show).
"""

from __future__ import annotations

import threading
import time
from types import SimpleNamespace

from milon_app.node import events as ev
from milon_app.session.driver import TIME_JUMP_S, Driver
from milon_app.session.sim_child import _Child

USER = "0x0000000000000000000000000000000000000001"
ACCEPT_WINDOW_S = 2 * TIME_JUMP_S  # two jumps close it


class Chain:
    """Block number and chain time, moved by steps and jumps (both drivers share it)."""

    connected = True

    def __init__(self) -> None:
        self.block, self.now = 1, 1_000
        self.lock = threading.Lock()

    def block_number(self) -> int:
        return self.block

    def mine(self, blocks: int = 1) -> None:
        with self.lock:
            self.block += blocks

    def increase_time(self, seconds: int) -> None:
        with self.lock:
            self.now += seconds
            self.block += 1


class SlowUser:
    """Sees a round open at block 2, takes a while to fetch its blobs, then accepts
    (a transaction: a block) if the window is still open."""

    address = USER

    def __init__(self, chain: Chain) -> None:
        self.chain = chain
        self.deadline = chain.now + ACCEPT_WINDOW_S
        self.outcome: str | None = None
        self.transport = SimpleNamespace(peers=lambda: [])

    def tick(self) -> bool:
        if self.outcome is None and self.chain.block >= 2:
            time.sleep(0.4)  # fetching the spec, the dataset and the model
            self.outcome = "accepted" if self.chain.now <= self.deadline else "too late"
            self.chain.mine()
        return False

    def publish(self, event: ev.Event) -> None:
        pass


class Member(SlowUser):
    """A simulated member in the child: opens the round (block 2) on its first tick."""

    def tick(self) -> bool:
        if self.chain.block == 1:
            self.chain.mine()
        return False


def test_time_waits_for_the_users_slow_pass_then_jumps():
    chain = Chain()
    user = SlowUser(chain)
    child = _Child(None, USER, tick_s=0.01, welcome=False)  # type: ignore[arg-type]
    sim = Driver(chain, Member(chain), list, interval_s=0.01, simulated=True,  # type: ignore[arg-type]
                 warp_allowed=child._warp_allowed, heartbeat=False)
    sim._waiting_jobs = lambda: True  # type: ignore[method-assign]  # the round's job is open
    reports: list[int | None] = []

    def heard(block: int | None) -> None:  # the pipe: the window's report reaches the child
        reports.append(block)
        child.user_quiet_at = block

    window = Driver(chain, user, list, interval_s=0.01, simulated=False,  # type: ignore[arg-type]
                    on_step=heard, heartbeat=False)
    sim.start()
    window.start()
    try:
        end = time.monotonic() + 10
        while (user.outcome is None or chain.now < user.deadline + TIME_JUMP_S) \
                and time.monotonic() < end:
            time.sleep(0.02)
    finally:
        window.stop()
        sim.stop()
    assert user.outcome == "accepted"
    assert chain.now > user.deadline  # time still jumps once the user's node is quiet
    assert None in reports  # the pass that sent the accept was not reported quiet


def test_a_jump_needs_a_quiet_pass_at_that_very_block():
    child = _Child(None, USER, tick_s=0.01, welcome=False)  # type: ignore[arg-type]
    assert not child._warp_allowed(5)  # nothing heard yet
    child.user_quiet_at = 4
    assert not child._warp_allowed(5)  # the user's node has not seen block 5
    child.user_quiet_at = 5
    assert child._warp_allowed(5)
    child.demo_running.set()
    assert not child._warp_allowed(5)  # the demo paces its own rounds
