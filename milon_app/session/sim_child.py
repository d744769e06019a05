"""The child process that runs this machine's simulated federation and the in-app demo.

The embedded EVM, the simulated members and the demo's nodes are Python work
that holds the interpreter lock for long stretches (py-evm executes every
transaction in Python); in the window's process that froze the event loop for
hundreds of milliseconds. Here they get an interpreter of their own: the chain
is served on loopback JSON-RPC (:mod:`milon_app.chain.rpc_server`), the
members reach the user's node over libp2p, and every event they publish is
sent to the window, which publishes it on its own bus, so the tabs see exactly
what they saw when everything ran in one process.

Messages (tuples over a :mod:`multiprocessing` pipe), parent to child:
``("bootstrap", addrs)``, ``("user_quiet", block or None)``, ``("demo", DemoOptions)``,
``("demo_stop",)``, ``("stop",)``; child to parent: ``("ready", info)``,
``("peers", info)``, ``("event", Event)``, ``("demo_round", row, total)``,
``("demo_done", report)``, ``("demo_failed", exc)``, ``("failed", text)``.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from multiprocessing.connection import Connection

    from milon_app.demo import DemoOptions
    from milon_app.node.events import Event
    from milon_app.session.driver import Driver
    from milon_app.session.simulation import SimOptions, SimulatedFederation

log = logging.getLogger(__name__)


class _Child:
    """What the child holds: the served chain, the simulated members, a driver, the demo."""

    def __init__(self, conn: Connection, user: str, *, tick_s: float, welcome: bool) -> None:
        self.conn = conn
        self.user = user
        self.tick_s = tick_s
        self.welcome = welcome  # a simulated member posts the welcome job
        self._send_lock = threading.Lock()
        self.user_quiet_at: int | None = None  # the block the window's node last passed quietly
        self.demo_running = threading.Event()
        self.demo_stop = threading.Event()
        self.sim: SimulatedFederation | None = None
        self.driver: Driver | None = None
        self.server: Any = None

    def send(self, *message: Any) -> None:
        with self._send_lock:
            self.conn.send(message)

    def forward(self, event: Event) -> None:
        with contextlib.suppress(OSError, EOFError):  # the window is gone: stop is on its way
            self.send("event", event)

    # -- start ---------------------------------------------------------------------------------
    def start_chain(self, workdir: Path, opts: SimOptions) -> None:
        from milon_app.chain.client import ChainClient
        from milon_app.chain.rpc_server import EmbeddedRpcServer
        from milon_app.node.bus import EventBus
        from milon_app.session.simulation import SimulatedFederation

        client = ChainClient.embedded()
        self.server = EmbeddedRpcServer(client)
        self.server.start()
        bus = EventBus(history=100)
        bus.subscribe(self.forward)
        self.sim = SimulatedFederation(client, bus, workdir, opts)
        suite = self.sim.deploy()
        self.sim.fund(self.user)
        self.send("ready", {
            "rpc_url": self.server.url,
            "manifest": suite.manifest,
            "founder": self.sim.founder.key.hex(),  # THROWAWAY eth-tester dev keys
            "spare": [a.key.hex() for a in self.sim.spare_accounts],
        })  # fmt: skip

    def start_peers(self, bootstrap: list[str]) -> None:
        from milon_app.session.driver import Driver

        sim = self.sim
        assert sim is not None
        peers = sim.start_peers(bootstrap)
        self.send("peers", {
            "fed_id": sim.fed_id,
            "peers": [(p.address, str(p.state.path)) for p in peers],
        })  # fmt: skip
        self.driver = Driver(
            sim.client,
            peers[0],
            lambda: peers[1:],
            interval_s=self.tick_s,
            simulated=True,
            warp_allowed=self._warp_allowed,
            chores=[sim.welcome_job(self.user).step] if self.welcome else [],
            heartbeat=False,
            also_ours=lambda: [self.user],
        )
        self.driver.start()

    def _warp_allowed(self, block: int) -> bool:
        """Chain time jumps only while the demo does not run and once the user's node, in the
        window's process, has passed over this very block with nothing to do: a node still
        fetching a round's blobs or training is never made late by a jump it could not see."""
        return not self.demo_running.is_set() and self.user_quiet_at == block

    # -- the in-app demo -----------------------------------------------------------------------
    def start_demo(self, opts: DemoOptions) -> None:
        if self.demo_running.is_set():
            self.send("demo_failed", _bad("a demo is already running"))
            return
        self.demo_running.set()
        self.demo_stop.clear()
        threading.Thread(
            target=self._demo, args=(opts,), name="milon-sim-demo", daemon=True
        ).start()

    def _demo(self, opts: DemoOptions) -> None:
        sim = self.sim
        try:
            if sim is None:
                raise _bad("the simulated federation is not running")
            report = sim.run_demo(
                opts, lambda row, total: self.send("demo_round", row, total), self.demo_stop
            )
            self.send("demo_done", report)
        except Exception as exc:
            log.debug("the in-app demo failed", exc_info=True)
            self.send("demo_failed", _portable(exc))
        finally:
            self.demo_running.clear()

    # -- stop ----------------------------------------------------------------------------------
    def stop(self) -> None:
        self.demo_stop.set()
        end = time.monotonic() + DEMO_STOP_S
        while self.demo_running.is_set() and time.monotonic() < end:
            time.sleep(0.05)
        if self.driver is not None:
            self.driver.stop()
        if self.sim is not None:
            self.sim.stop()
        if self.server is not None:
            self.server.stop()


DEMO_STOP_S = 10.0


def child_main(
    conn: Connection, workdir: str, opts: SimOptions, user: str, args: dict[str, Any]
) -> None:
    """The child's entry point (spawned by :class:`milon_app.session.sim_process.SimProcess`);
    ``args``: ``verbose``, ``tick_s``, ``welcome_job``."""
    from milon_app import logsetup

    logsetup.configure(int(args.get("verbose", 0)))
    child = _Child(
        conn, user, tick_s=float(args.get("tick_s", 0.25)),
        welcome=bool(args.get("welcome_job", True)),
    )  # fmt: skip
    try:
        child.start_chain(Path(workdir), opts)
        _serve(child)
    except Exception as exc:
        log.debug("the simulated federation failed", exc_info=True)
        with contextlib.suppress(OSError, EOFError):
            child.send("failed", _portable(exc))
    finally:
        child.stop()
        conn.close()


def _serve(child: _Child) -> None:
    """Answer the window's messages until it says stop (or its end of the pipe closes)."""
    while True:
        try:
            message = child.conn.recv()
        except (EOFError, OSError):
            return
        kind = message[0]
        if kind == "stop":
            return
        if kind == "bootstrap":
            child.start_peers(list(message[1]))
        elif kind == "user_quiet":
            child.user_quiet_at = None if message[1] is None else int(message[1])
        elif kind == "demo":
            child.start_demo(message[1])
        elif kind == "demo_stop":
            child.demo_stop.set()


def _bad(text: str) -> Exception:
    from milon_app.errors import BadInputError

    return BadInputError(text)


def _portable(exc: BaseException) -> Exception:
    """MILON's errors cross the pipe as they are (they pickle: one message); others as text."""
    from milon_app.errors import MilonError

    if isinstance(exc, MilonError) and len(exc.args) <= 1:
        return exc
    return MilonError(f"{type(exc).__name__}: {exc}")
