"""A running node as the desktop app holds it: account, chain, node core, driver.

The GUI owns one :class:`Session` and finds the node through it only: every
button ends, on a worker thread, in a call on the session or on what it
hands out (``session.core``, the :class:`NodeCore` with its chain client,
transport and state; ``session.milon``; ``session.governance()``). The
session itself is Qt-free so tests (and any other front-end) drive exactly
what the window drives.
"""

from __future__ import annotations

import logging
import shutil
import tempfile
import threading
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from milon_app.config import Config
from milon_app.errors import BadInputError, ConfigError
from milon_app.node.behaviour import HONEST
from milon_app.node.bus import EventBus
from milon_app.util import heap

if TYPE_CHECKING:
    from eth_account.signers.local import LocalAccount

    from milon_app.chain.bindings import Milon
    from milon_app.chain.client import ChainClient
    from milon_app.chain.deploy import Suite
    from milon_app.chain.governance import Governance
    from milon_app.demo import DemoOptions, DemoReport, RoundRow
    from milon_app.node.core import NodeCore
    from milon_app.node.policy import AcceptPolicy
    from milon_app.node.state import StateDB
    from milon_app.node.transports import Factory
    from milon_app.session.driver import Driver
    from milon_app.session.sim_process import SimProcess
    from milon_app.session.simulation import SimOptions, SimulatedFederation

log = logging.getLogger(__name__)


class NodeView(Protocol):
    """What the tabs read of a node on this machine: its address and its database."""

    @property
    def address(self) -> str: ...

    @property
    def state(self) -> StateDB: ...


Progress = Callable[[str, float], None]
DEMO_STOP_S = 10.0  # how long stop() waits for the in-app demo to wind down its nodes
BUILTIN_DATA_MODULES = ("sklearn.datasets",)  # what loading a built-in dataset first imports


@dataclass(frozen=True)
class SessionOptions:
    sim_peers: int = 3
    transport: str = ""  # "" = config p2p.transport
    tick_s: float = 0.25
    sim_partition: str = "iid"  # the simulated members' data split: iid, dirichlet:A, shards:K
    welcome_job: bool = True  # a simulated member posts a small job once the user has joined
    # the simulated federation (chain, members, in-app demo) in a child process, so its Python
    # work never stalls the window; needs a transport between processes (not "inprocess")
    sim_process: bool = True


def desktop_roles(cfg: Config) -> tuple[str, ...]:
    """The roles of ``node.roles``, and always the owner's: jobs are created from the window."""
    return tuple(dict.fromkeys([*cfg.node.roles, "owner"]))


def network_kind(cfg: Config) -> str:
    return "simulated" if cfg.chain.rpc_url == "embedded" else "rpc"


class Session:
    def __init__(
        self,
        cfg: Config,
        data_dir: Path,
        account: LocalAccount | None,
        opts: SessionOptions | None = None,
        *,
        secret_store: str = "",
        address: str = "",
    ) -> None:
        """``account`` may come later (the window shows while scrypt unlocks the keystore):
        then ``address`` names it and :meth:`start` waits for :attr:`account` to be set."""
        self.cfg = cfg
        self.data_dir = data_dir
        self._account = account
        self.address: str = account.address if account is not None else address
        if not self.address:
            raise ConfigError("a session needs an account or at least its address")
        self.opts = opts or SessionOptions()
        self.secret_store = secret_store  # how the password is kept, for the settings screen
        self.bus = EventBus(history=20_000)
        self.kind = network_kind(cfg)
        self.client: ChainClient | None = None
        self.suite: Suite | None = None
        self.node: NodeCore | None = None
        self.sim: SimulatedFederation | SimProcess | None = None
        self.driver: Driver | None = None
        self.capacity = 0  # from the Node tab's benchmark; 0 until measured
        self.demo_running = threading.Event()
        self._demo_idle = threading.Event()  # set while no in-app demo runs
        self._demo_idle.set()
        self.stopping = threading.Event()  # set by stop(): a running demo ends at its next step
        self._policy_before: AcceptPolicy | None = None  # set while paused: what resume restores
        self._workdir: Path | None = None
        self._started = False

    @property
    def account(self) -> LocalAccount:
        if self._account is None:
            raise ConfigError("the wallet is still locked: unlock it before starting the node")
        return self._account

    @account.setter
    def account(self, account: LocalAccount) -> None:
        if account.address != self.address:
            raise ConfigError(f"the unlocked account is not {self.address}")
        self._account = account

    @property
    def unlocked(self) -> bool:
        return self._account is not None

    # -- what the tabs use ---------------------------------------------------------------------
    @property
    def core(self) -> NodeCore:
        if self.node is None:
            raise ConfigError("the node is not started yet")
        return self.node

    @property
    def milon(self) -> Milon:
        return self.core.milon

    def governance(self) -> Governance:
        from milon_app.chain.governance import Governance

        return Governance(self.core.suite)

    @property
    def dev_chain(self) -> bool:
        """Whether chain time and blocks may be advanced by hand (simulated or anvil)."""
        return self.core.suite.client.is_dev

    def local_nodes(self) -> list[NodeView]:
        """The user's node and the simulated members (whose databases the window can read)."""
        return [self.core, *(self.sim.peers if self.sim else [])]

    # -- lifecycle -----------------------------------------------------------------------------
    def start(self, progress: Progress | None = None) -> None:
        """Connect (or build the simulated network), start the node and its driver."""
        step = progress or (lambda _msg, _frac: None)
        self.stopping.clear()
        if self.account.address != self.address:
            raise ConfigError(f"the unlocked account is not {self.address}")
        try:
            if self.kind == "simulated":
                self._start_simulated(step)
            else:
                self._start_rpc(step)
            step("starting the driver", 0.95)
            self._start_driver()
            self._started = True
            step("ready", 1.0)
        except BaseException:
            self.stop()
            raise

    def transport_kind(self) -> str:
        """The peer transport this session runs (the in-app demo uses the same)."""
        return self.opts.transport or self.cfg.p2p.transport

    def _start_simulated(self, step: Progress) -> None:
        from milon_app.session.simulation import SimOptions

        self._workdir = Path(tempfile.mkdtemp(prefix="simulation-", dir=self._sim_root()))
        opts = SimOptions(
            peers=self.opts.sim_peers,
            transport=self.transport_kind(),
            partition=self.opts.sim_partition,
        )
        if self.in_child:
            self._start_sim_process(step, opts)
        else:
            self._warm_up(step)
            self._start_sim_here(step, opts)

    @staticmethod
    def _warm_up(step: Progress, frac: float = 0.05, *, builtin_data: bool = True) -> None:
        """The first training step's imports, now: no pause in the window later (the simulated
        network's members train on the built-in datasets: scikit-learn and scipy come too)."""
        step("loading the trainer", frac)
        heap.warm_up(BUILTIN_DATA_MODULES if builtin_data else ())

    @property
    def in_child(self) -> bool:
        """Whether the simulated federation runs in a child process (see SessionOptions)."""
        return self.opts.sim_process and self.transport_kind() != "inprocess"

    def _start_sim_here(self, step: Progress, opts: SimOptions) -> None:
        from milon_app.chain.client import ChainClient
        from milon_app.session.simulation import SimulatedFederation

        assert self._workdir is not None
        step("deploying the contracts on the embedded chain", 0.1)
        client = ChainClient.embedded()
        sim = SimulatedFederation(client, self.bus, self._workdir, opts)
        self.sim, self.client = sim, client
        self.suite = sim.deploy()
        step("funding your account", 0.4)
        sim.fund(self.address)
        step("starting your node", 0.5)
        assert sim.make is not None
        # the simulated network's node runs no per-job benchmark (every member declares one score)
        self.node = self._make_node(
            sim.make, self._workdir / "me", opts.data_part(0), benchmark=False
        )
        self.node.start()
        step("starting the simulated members", 0.7)
        sim.start_peers(self.node.transport.listen_addrs())

    def _start_sim_process(self, step: Progress, opts: SimOptions) -> None:
        from milon_app import logsetup
        from milon_app.chain.client import ChainClient
        from milon_app.chain.deploy import Suite
        from milon_app.node.transports import transport_factory
        from milon_app.session.sim_process import SimProcess

        assert self._workdir is not None
        step("deploying the contracts on the simulated chain", 0.1)
        args = {"verbose": logsetup.verbosity(), "tick_s": self.opts.tick_s,
                "welcome_job": self.opts.welcome_job}  # fmt: skip
        sim = SimProcess(self.bus, self._workdir, opts, self.address, args)
        self.sim = sim
        sim.launch()  # it imports and deploys while this process loads the trainer
        self._warm_up(step, 0.2)
        sim.wait_ready()
        step("connecting to the simulated chain", 0.4)
        assert sim.manifest is not None
        self.client = ChainClient.connect(sim.rpc_url)
        sim.chain_moved = self.client.note_external_write
        self.suite = Suite.attach(self.client, sim.manifest)
        step("starting your node", 0.5)
        make = transport_factory(opts.transport, self.suite, self.bus)
        self.node = self._make_node(make, self._workdir / "me", opts.data_part(0), benchmark=False)
        self.node.start()
        step("starting the simulated members", 0.7)
        sim.start_peers(self.node.transport.listen_addrs())

    def _sim_root(self) -> Path:
        root = self.data_dir / "simulation"
        root.mkdir(parents=True, exist_ok=True)
        return root

    def _start_rpc(self, step: Progress) -> None:
        from milon_app.chain.deploy import Suite
        from milon_app.chain.from_config import connect_from_settings
        from milon_app.chain.manifest import Manifest
        from milon_app.daemon.runner import local_data_from_config
        from milon_app.node.transports import config_transport_factory

        c = self.cfg
        if not c.chain.manifest:
            raise ConfigError("chain.manifest is empty: give the deployment manifest's path")
        self._warm_up(step, builtin_data=bool(c.node.dataset))
        step(f"connecting to {c.chain.rpc_url}", 0.2)
        self.client = connect_from_settings(c.chain)
        self.suite = Suite.attach(self.client, Manifest.load(Path(c.chain.manifest)))
        step("starting your node", 0.5)
        make = config_transport_factory(c, self.suite, self.bus)
        data = local_data_from_config(c)[0] if c.node.dataset else None
        root = Path(c.node.data_dir) if c.node.data_dir else self.data_dir / "node"
        self.node = self._make_node(make, root, data, benchmark=True)
        self.node.start()

    def _make_node(self, make: Factory, root: Path, data: Any, *, benchmark: bool) -> NodeCore:
        from milon_app.compute.datasets import DatasetSpec
        from milon_app.node.build import build_node, options_from_config
        from milon_app.node.local_data import eval_split

        assert self.suite is not None
        c = self.cfg

        def held_out(ctx: Any) -> Any:
            if not isinstance(ctx.dataset, DatasetSpec) or ctx.dataset.kind != "builtin":
                return None
            return eval_split(ctx.dataset, ctx.spec)

        opts = replace(
            options_from_config(c, roles=desktop_roles(c), data=data),
            behaviour=HONEST,  # node.attack is for daemons in robustness tests
            job_benchmark_s=c.compute.job_benchmark_s if benchmark else 0.0,
            eval_source=held_out,
        )
        return build_node(
            self.account, self.suite, self.bus, root, make, opts,
            bootstrap=c.p2p.bootstrap, state_file="node.db",
        )  # fmt: skip

    def _start_driver(self) -> None:
        from milon_app.session.driver import Driver
        from milon_app.session.sim_process import SimProcess

        assert self.client is not None
        sim = self.sim
        if isinstance(sim, SimProcess):  # the child mines, warps time and ticks the members
            self.driver = Driver(
                self.client, self.core, list, interval_s=self.opts.tick_s, simulated=False,
                on_step=sim.user_quiet,
            )  # fmt: skip
        else:
            self.driver = Driver(
                self.client,
                self.core,
                lambda: list(sim.peers) if sim else [],
                interval_s=self.opts.tick_s if sim else self.cfg.node.poll_interval_s,
                simulated=sim is not None,
                warp_allowed=lambda _block: not self.demo_running.is_set(),
                chores=[sim.welcome_job(self.address).step]
                if sim and sim.peers and self.opts.welcome_job
                else [],
            )
        self.driver.start()

    def stop(self) -> None:
        """Stop the in-app demo (at its next step), the driver, the nodes; the nodes' state
        and the simulation's folder are released once the driver's thread has ended."""
        from milon_app.util.threads import after_thread

        self.stopping.set()
        if not self._demo_idle.wait(DEMO_STOP_S):
            log.warning("the in-app demo did not stop within %s s", DEMO_STOP_S)
        driver_thread = None
        if self.driver is not None:
            self.driver.stop()
            driver_thread = self.driver.thread
            self.driver = None
        sim, node, workdir = self.sim, self.node, self._workdir
        self.node, self._workdir = None, None

        def release() -> None:
            if sim is not None:
                sim.stop()
            if node is not None:
                node.close("app closed")
            if workdir is not None:
                shutil.rmtree(workdir, ignore_errors=True)

        after_thread(driver_thread, release)
        self._started = False

    # -- pause: take no new work, finish what was accepted -------------------------------------
    @property
    def paused(self) -> bool:
        return self._policy_before is not None

    def set_paused(self, paused: bool) -> None:
        node = self.core
        if paused and self._policy_before is None:
            self._policy_before = node.policy
            node.policy = replace(node.policy, mode="never")
        elif not paused and self._policy_before is not None:
            node.policy, self._policy_before = self._policy_before, None
        if self.driver is not None:
            self.driver.paused = paused  # for the heartbeat

    def set_accept_mode(self, mode: str, max_epochs: int | None = None) -> None:
        """Applies now, or on resume when paused (the pause keeps declining meanwhile)."""
        base = self._policy_before or self.core.policy
        policy = replace(base, mode=mode, max_epochs=max_epochs or base.max_epochs)
        if self._policy_before is not None:
            self._policy_before = policy
        else:
            self.core.policy = policy

    # -- the in-app demo -----------------------------------------------------------------------
    def run_demo(
        self, opts: DemoOptions, on_round: Callable[[RoundRow, int], None] | None = None
    ) -> DemoReport:
        """``milon demo`` on this session's chain, so every tab shows it live."""
        if self.sim is None or self.suite is None:
            raise BadInputError("the in-app demo runs on the simulated network only")
        if self.demo_running.is_set():
            raise BadInputError("a demo is already running")
        if self.stopping.is_set():
            raise BadInputError("the session is stopping")
        self.demo_running.set()
        self._demo_idle.clear()
        try:
            return self.sim.run_demo(opts, on_round, self.stopping)
        finally:
            self.demo_running.clear()
            self._demo_idle.set()
