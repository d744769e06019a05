"""This machine's simulated federation, run in a child process and seen from the window's.

:class:`SimProcess` starts :mod:`milon_app.session.sim_child` (spawned, so no
Qt or thread state is forked), waits for its chain to be served and its
members to start, and publishes every event they send on the session's bus:
the tabs cannot tell the members from ones in the same process. The window
reads the members' node databases read-only, the way it reads its own. The
in-app demo runs there too (:meth:`run_demo` blocks a worker thread, not the
window, and relays each round as it settles).
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
import queue
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from milon_app.errors import MilonError

if TYPE_CHECKING:
    from multiprocessing.connection import Connection
    from multiprocessing.process import BaseProcess

    from eth_account.signers.local import LocalAccount

    from milon_app.chain.manifest import Manifest
    from milon_app.demo import DemoOptions, DemoReport, RoundRow
    from milon_app.node.bus import EventBus
    from milon_app.node.state import StateDB
    from milon_app.session.simulation import SimOptions

log = logging.getLogger(__name__)
START_S = 180.0  # deploying the suite and starting the members (2 slow cores: ~20 s)
STOP_S = 20.0  # the child stops its demo, members and chain; then it is terminated by PID


class SimProcessError(MilonError):
    """The simulated federation's process failed to start or ended on its own."""


@dataclass(frozen=True)
class SimPeer:
    """A simulated member as the window knows it: its address and its node's database."""

    address: str
    state: StateDB


class SimProcess:
    """The child process and the window's end of its pipe."""

    def __init__(
        self, bus: EventBus, workdir: Path, opts: SimOptions, user: str, args: dict[str, Any]
    ) -> None:
        """``args`` go to :func:`sim_child.child_main` (verbose, tick_s, welcome_job)."""
        self.bus = bus
        self.workdir = workdir
        self.opts = opts
        self.user = user
        self.args = args
        self.rpc_url = ""
        self.manifest: Manifest | None = None
        self.founder: LocalAccount | None = None
        self.spare_accounts: list[LocalAccount] = []
        self.fed_id = 0
        self.peers: list[SimPeer] = []
        self._conn: Connection | None = None
        self._proc: BaseProcess | None = None
        self._replies: queue.Queue[tuple[Any, ...]] = queue.Queue()
        self._demo: queue.Queue[tuple[Any, ...]] = queue.Queue()
        self._send_lock = threading.Lock()
        self._demo_lock = threading.Lock()
        self._stopping = threading.Event()
        self._last_quiet: int | None = None  # the last block the child heard the user was quiet at
        self._reader: threading.Thread | None = None
        self._gone: SimProcessError | None = None  # set once the child's end of the pipe closed
        # called before an event from there is published: the window's chain client drops its
        # cached head, so a tab that reads the chain on the event sees the block it came from
        self.chain_moved: Callable[[], None] = lambda: None

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    def alive(self) -> bool:
        return self._proc is not None and self._proc.is_alive()

    # -- start ---------------------------------------------------------------------------------
    def start(self, timeout_s: float = START_S) -> None:
        """Spawn the child; return once its chain is deployed, served and the user funded."""
        self.launch()
        self.wait_ready(timeout_s)

    def launch(self) -> None:
        """Spawn the child and return at once (it imports and deploys meanwhile)."""
        from milon_app.session.sim_child import child_main

        ctx = multiprocessing.get_context("spawn")
        here, there = ctx.Pipe(duplex=True)
        self._conn = here
        self._proc = ctx.Process(
            target=child_main,
            args=(there, str(self.workdir), self.opts, self.user, self.args),
            name="milon-simulation",
            daemon=True,
        )
        self._proc.start()
        there.close()
        self._reader = threading.Thread(target=self._read, name="milon-sim-reader", daemon=True)
        self._reader.start()

    def wait_ready(self, timeout_s: float = START_S) -> None:
        """Wait for the child's chain: deployed, served on loopback, the user funded."""
        from eth_account import Account

        info = self._reply("ready", timeout_s)
        self.rpc_url, self.manifest = str(info["rpc_url"]), info["manifest"]
        self.founder = Account.from_key(info["founder"])
        self.spare_accounts = [Account.from_key(k) for k in info["spare"]]

    def start_peers(self, bootstrap: list[str], timeout_s: float = START_S) -> list[SimPeer]:
        """Found the federation and bring the members in, dialling the user's node."""
        from milon_app.node.state import StateDB

        self._send("bootstrap", bootstrap)
        info = self._reply("peers", timeout_s)
        self.fed_id = int(info["fed_id"])
        self.peers = [SimPeer(a, StateDB.reader(Path(p))) for a, p in info["peers"]]
        return self.peers

    def _reply(self, kind: str, timeout_s: float) -> dict[str, Any]:
        try:
            message = self._replies.get(timeout=timeout_s)
        except queue.Empty:
            raise SimProcessError(
                f"the simulated federation did not answer within {timeout_s:.0f} s"
            ) from None
        if message[0] == "failed":
            error = message[1]
            raise error if isinstance(error, MilonError) else SimProcessError(str(error))
        if message[0] != kind:
            raise SimProcessError(f"the simulated federation said {message[0]!r}, not {kind!r}")
        return dict(message[1])

    # -- running -------------------------------------------------------------------------------
    def user_quiet(self, block: int | None) -> None:
        """The window's driver says at which block a whole pass of the user's node found
        nothing to do (None: it trained or sent a step). The child jumps chain time only at
        that block: a deadline never passes while the user's node is still acting on a round."""
        if block == self._last_quiet:
            return
        self._last_quiet = block
        with contextlib.suppress(SimProcessError):
            self._send("user_quiet", block)

    def run_demo(
        self,
        opts: DemoOptions,
        on_round: Callable[[RoundRow, int], None] | None,
        stop: threading.Event,
    ) -> DemoReport:
        """Run the in-app demo there; ``stop`` set here ends it there at its next step."""
        with self._demo_lock:
            while not self._demo.empty():
                self._demo.get_nowait()
            if self._gone is not None:
                raise self._gone
            self._send("demo", opts)
            asked_stop = False
            while True:
                try:
                    message = self._demo.get(timeout=0.1)
                except queue.Empty:
                    if self._gone is not None:
                        raise self._gone from None
                    if stop.is_set() and not asked_stop:
                        self._send("demo_stop")
                        asked_stop = True
                    continue
                kind = message[0]
                if kind == "demo_round":
                    if on_round is not None:
                        on_round(message[1], int(message[2]))
                elif kind == "demo_done":
                    report: DemoReport = message[1]
                    return report
                else:  # demo_failed, or closed: the child ended
                    raise message[1]

    def _send(self, *message: Any) -> None:
        if self._gone is not None:
            raise self._gone
        if self._conn is None:
            raise SimProcessError("the simulated federation is not running")
        try:
            with self._send_lock:
                self._conn.send(message)
        except (OSError, EOFError, ValueError) as exc:
            raise SimProcessError(f"the simulated federation is gone: {exc}") from exc

    def _read(self) -> None:
        """Events to the bus, answers to whoever waits; the end of the pipe to both."""
        from milon_app.node import events as ev

        conn = self._conn
        assert conn is not None
        while True:
            try:
                message = conn.recv()
            except (EOFError, OSError):
                break
            kind = message[0]
            if kind == "event":
                if not isinstance(message[1], ev.TrainingProgress):  # progress writes nothing
                    self.chain_moved()
                self.bus.publish(message[1])
            elif kind.startswith("demo_"):
                self._demo.put(message)
            else:
                self._replies.put(message)
        gone = SimProcessError(f"the simulated federation's process ended ({self._exit_text()})")
        self._gone = gone
        self._replies.put(("failed", gone))
        self._demo.put(("closed", gone))
        if not self._stopping.is_set():
            log.error("%s", gone)
            self.bus.publish(ev.NodeError(where="simulated federation", message=str(gone)))

    def _exit_text(self) -> str:
        proc = self._proc
        if proc is None:
            return "never started"
        proc.join(timeout=1)
        return f"exit code {proc.exitcode}" if proc.exitcode is not None else "still running"

    # -- stop ----------------------------------------------------------------------------------
    def stop(self, timeout_s: float = STOP_S) -> None:
        """Ask the child to stop; terminate it by its PID if it has not ended in ``timeout_s``."""
        self._stopping.set()
        with contextlib.suppress(SimProcessError):
            self._send("stop")
        proc = self._proc
        if proc is not None and proc.pid is not None:  # None: its start failed
            proc.join(timeout=timeout_s)
            if proc.is_alive():
                log.warning("the simulated federation (pid %s) did not stop: terminating", proc.pid)
                proc.terminate()
                proc.join(timeout=5)
            if proc.is_alive():
                proc.kill()
                proc.join(timeout=5)
        if self._reader is not None:
            self._reader.join(timeout=5)  # the child's end closed: the reader has seen EOF
        if self._conn is not None:
            self._conn.close()
        for peer in self.peers:
            peer.state.close()
