"""``milon --daemon``: the node core with no window.

It logs one JSON line per event (a structured log that service managers and
log shippers read), answers ``milon status`` on loopback, and stops cleanly
on SIGTERM or SIGINT. All state lives in the data folder, so a restart
resumes from the last processed block without double commits.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import sys
import threading
import time
from dataclasses import dataclass, replace
from decimal import Decimal, InvalidOperation
from pathlib import Path
from types import FrameType
from typing import Any, TextIO

from milon_app.config import Config
from milon_app.errors import BadInputError, ConfigError, NotFoundError
from milon_app.units import milon_fields
from milon_app.util import heap

log = logging.getLogger(__name__)
ETHER = 10**18


def parse_milon(text: str, what: str) -> int:
    try:
        value = Decimal(text)
    except InvalidOperation:
        raise BadInputError(f"{what}: {text!r} is not a decimal MILON amount") from None
    wei = value * ETHER
    if value < 0 or wei != wei.to_integral_value():
        raise BadInputError(f"{what}: {text!r} must be >= 0 with at most 18 decimals")
    return int(wei)


@dataclass
class DaemonPaths:
    data_dir: Path

    @property
    def blobs(self) -> Path:
        return self.data_dir / "blobs"

    @property
    def state_db(self) -> Path:
        return self.data_dir / "node.db"

    @property
    def keystore(self) -> Path:
        return self.data_dir / "wallet" / "keystore.json"


class EventLogger:
    """One JSON line per event on ``out`` (stderr by default)."""

    def __init__(self, out: TextIO) -> None:
        self.out = out
        self._lock = threading.Lock()

    def __call__(self, event: Any) -> None:
        from milon_app.node.events import TrainingProgress, event_to_dict

        if (
            isinstance(event, TrainingProgress)
            and event.step % 50
            and event.step != event.steps_total
        ):
            return  # per-step progress is for live charts; the log keeps every 50th step
        record = milon_fields(event_to_dict(event))  # amounts in MILON, wei as `<name>_wei`
        line = json.dumps({"ts": round(event.ts, 3), **record}, default=str)
        with self._lock:
            self.out.write(line + "\n")
            self.out.flush()


def local_data_from_config(cfg: Config) -> Any:
    import torch

    from milon_app.compute.datasets import DatasetSpec, load_dataset
    from milon_app.compute.partition import partition_iid
    from milon_app.node.core import TensorData

    name = cfg.node.dataset
    if name.endswith(".json"):
        try:
            raw = Path(name).read_bytes()
        except OSError as exc:
            raise NotFoundError(f"node.dataset: cannot read {name}: {exc.strerror}") from None
        try:
            spec = DatasetSpec.from_json(raw)
        except BadInputError as exc:
            raise BadInputError(f"node.dataset {name}: {exc}") from None
    else:
        spec = DatasetSpec(kind="builtin", name=name)
    data = load_dataset(spec)
    x, y = data.x_train, data.y_train
    if cfg.node.partition:
        try:
            i, n = (int(v) for v in cfg.node.partition.split("/"))
        except ValueError:
            raise ConfigError(f"node.partition {cfg.node.partition!r}: expected 'i/n'") from None
        if not 0 <= i < n:
            raise ConfigError(f"node.partition {cfg.node.partition!r}: need 0 <= i < n")
        idx = torch.as_tensor(partition_iid(int(x.shape[0]), n, 0)[i])
        x, y = x[idx], y[idx]
    return TensorData(x, y), (data.x_test, data.y_test)


class Daemon:
    def __init__(self, cfg: Config, data_dir: Path, *, log_out: TextIO | None = None) -> None:
        self.cfg = cfg
        self.paths = DaemonPaths(Path(cfg.node.data_dir) if cfg.node.data_dir else data_dir)
        self.log_out = log_out or sys.stderr
        self._stop = threading.Event()
        self.node: Any = None
        self.control: Any = None
        self.watch: Any = None
        self._claimable: int | None = None  # refreshed by the chain watch, read by status
        self.started = time.time()

    def _unlock(self) -> Any:
        from milon_app.wallet import Wallet, resolve_secret_store, unlock_with_store

        cfg = self.cfg.wallet
        keystore = Path(cfg.keystore) if cfg.keystore else self.paths.keystore
        wallet = Wallet.load(keystore)
        store = resolve_secret_store(
            cfg.secret_store,
            data_dir=self.paths.data_dir,
            password_file=Path(cfg.password_file) if cfg.password_file else None,
        )
        return unlock_with_store(wallet, store)

    def build(self) -> None:
        from milon_app.chain.deploy import Suite
        from milon_app.chain.from_config import connect_from_settings
        from milon_app.chain.manifest import Manifest
        from milon_app.node.build import build_node, options_from_config
        from milon_app.node.bus import EventBus
        from milon_app.node.transports import config_transport_factory

        c = self.cfg
        if c.chain.rpc_url == "embedded":
            raise ConfigError(
                "chain.rpc_url is 'embedded': a daemon needs a chain other processes share "
                "(start `milon devnet` or give an RPC URL)"
            )
        if not c.chain.manifest:
            raise ConfigError("chain.manifest is empty: give the deployment manifest's path")
        # Local data first: a bad file is refused before the wallet, the chain or the disk
        data, eval_data = local_data_from_config(c) if c.node.dataset else (None, None)
        account = self._unlock()
        client = connect_from_settings(c.chain)  # rpc_urls failover, re-send and getLogs limits
        suite = Suite.attach(client, Manifest.load(Path(c.chain.manifest)))
        bus = EventBus()
        bus.subscribe(EventLogger(self.log_out))
        make = config_transport_factory(c, suite, bus)
        opts = replace(options_from_config(c, data=data), eval_data=eval_data)
        self.node = build_node(
            account, suite, bus, self.paths.data_dir, make, opts,
            bootstrap=c.p2p.bootstrap, state_file=self.paths.state_db.name,
        )  # fmt: skip
        heap.warm_up()  # the first training's and judging's imports now, not in a round

    def _join_federations(self) -> None:
        """Join the configured federations; a suspended or leaving membership is reported in
        the log (a join would revert) and left for the user to resolve."""
        from milon_app.node.events import NodeError
        from milon_app.node.peer_info import peer_info_text

        node = self.node
        for fed in self.cfg.federations:
            mem = node.milon.member(fed.id, node.address)
            if mem.active:
                continue
            why = membership_problem(fed.id, mem)
            if why:
                node.publish(NodeError(node=node.address, where="federations", message=why))
                continue
            stake = parse_milon(fed.stake, f"federations[{fed.id}].stake")
            capacity = fed.capacity or _benchmark_capacity(node.device, node.threads)
            peer_info = peer_info_text(node.transport.listen_addrs())
            node.join(fed.id, stake, capacity, peer_info or f"node:{node.address}")

    def _refresh_claimable(self) -> None:
        self._claimable = self.node.milon.claimable(self.node.address)

    def status(self) -> dict[str, Any]:
        """What `milon status` shows; never waits on the chain (figures come from the
        chain watch), so it answers at once while the RPC is unreachable."""
        from milon_app.p2p.addresses import bootstrap_line

        node = self.node
        client = node.suite.client
        transport = node.transport
        addrs = transport.listen_addrs()  # what others dial: never 0.0.0.0, the real port
        return {
            "state": "stopping" if self._stop.is_set() else "running",
            "chain": "connected" if client.connected else "disconnected",
            "address": node.address,
            "chain_id": client.chain_id,
            "block": client.last_block,
            "chain_connected": client.connected,
            "peer_id": transport.peer_id,
            "device": node.device,
            "listen_addrs": addrs,
            "bootstrap": addrs,  # p2p.bootstrap of another node; `bootstrap_line` for its toml
            "bootstrap_line": bootstrap_line(addrs),
            "peers": transport.peers(),
            "reach": _reach(transport),
            "jobs": node.state.jobs(),
            # MILON, with the exact wei under `<name>_wei` (None: not read from the chain yet)
            **milon_fields(
                {"rewards_credited": node.state.total_rewards(), "claimable": self._claimable}
            ),
            "uptime_s": round(time.time() - self.started, 1),
            "pid": os.getpid(),
        }

    def run(self) -> int:
        from milon_app.daemon.control import ControlServer
        from milon_app.node.chain_watch import ChainWatch

        previous = {s: signal.signal(s, self._on_signal) for s in (signal.SIGTERM, signal.SIGINT)}
        try:
            self.build()
            self.node.start()
            self.watch = ChainWatch(
                self.node.suite.client,
                interval_s=min(2.0, max(0.5, self.cfg.node.poll_interval_s * 2)),
                while_connected=self._refresh_claimable,
            ).start()
            self._join_federations()
            self.control = ControlServer(
                self.paths.data_dir, self.status, self.cfg.node.status_port
            )
            self.control.start({"address": self.node.address})
            self.node.run(self.cfg.node.poll_interval_s)
            while not self._stop.wait(0.5):
                pass
        finally:
            if self.watch is not None:
                self.watch.stop()
            if self.control is not None:
                self.control.stop()
            if self.node is not None:
                self.node.close("signal")
            for sig, handler in previous.items():
                signal.signal(sig, handler)
        return 0

    def _on_signal(self, _sig: int, _frame: FrameType | None) -> None:
        self._stop.set()


def membership_problem(fed_id: int, mem: Any) -> str:
    """Why this node cannot (re)join federation ``fed_id`` now ("" when it can)."""
    if mem.suspended:
        return (
            f"suspended in federation {fed_id}: slashed below its minimum stake; no work until "
            f"topped up with `milon fed add-stake {fed_id} AMOUNT`"
        )
    if mem.stake:
        return (
            f"left federation {fed_id} and the stake is still locked: `milon fed withdraw "
            f"{fed_id}` after the cooldown, then the daemon joins again on its next start"
        )
    return ""


def _reach(transport: Any) -> dict[str, Any]:
    """How peers reach the node (:meth:`Libp2pTransport.reach`); an in-process one: itself."""
    reach = getattr(transport, "reach", None)
    return reach().as_dict() if reach is not None else {"mode": "in-process", "text": "in-process"}


def _benchmark_capacity(device: str, threads: int | None) -> int:
    """The general capacity a join declares, measured on the device the node trains on."""
    from milon_app.compute.benchmark import measure_capacity

    return measure_capacity(device, threads=threads).score


def run_daemon(cfg_path: Path | None, data_dir: Path, default_config: Path) -> int:
    """Run until SIGTERM/SIGINT with ``cfg_path`` (else the user's settings file)."""
    from milon_app.config import load_config, unused_settings

    path = cfg_path or default_config
    cfg = load_config(path, missing_ok=cfg_path is None)
    log.info("config %s", path)
    for problem in unused_settings(cfg):
        log.warning("config %s: %s", path, problem)
    return Daemon(cfg, data_dir).run()
