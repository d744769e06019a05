"""One way to assemble a :class:`NodeCore`: the desktop session, the daemon, the app's
simulated federation, the demo and the tests all call :func:`build_node`.

What differs between them is data, not code: a :class:`NodeOptions` (roles, policy,
local data, device, behaviour, ...), the node's folder, and the transport factory
(:mod:`milon_app.node.transports`). :func:`options_from_config` reads the options a
configured node (daemon, desktop app) runs with.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from milon_app.node.behaviour import HONEST, Behaviour

if TYPE_CHECKING:
    from eth_account.signers.local import LocalAccount

    from milon_app.chain.deploy import Suite
    from milon_app.compute.worker import TrainerWorker
    from milon_app.config import Config
    from milon_app.node.bus import EventBus
    from milon_app.node.core import LocalData, NodeCore
    from milon_app.node.policy import AcceptPolicy
    from milon_app.node.transports import Factory

DEFAULT_ROLES = ("contributor", "validator", "keeper")


@dataclass(frozen=True)
class NodeOptions:
    """How one node behaves; everything not given keeps NodeCore's default."""

    roles: tuple[str, ...] = DEFAULT_ROLES
    policy: AcceptPolicy | None = None
    data: LocalData | None = None
    device: str = "auto"
    threads: int | None = None
    behaviour: Behaviour = HONEST
    compile_model: bool = False  # torch.compile in the trainer (compute.compile)
    job_benchmark_s: float = 0.0  # per-job-model capacity benchmark; 0: off
    eval_data: Any = None  # the owner's held-out (x, y) for every job it owns
    eval_source: Callable[[Any], Any] | None = None  # per job, when jobs differ in dataset
    worker: TrainerWorker | None = None  # a trainer shared by many nodes (the simulation's)
    batching: bool = True  # batched commits and reveals through the job owner (node.batching)


def options_from_config(
    cfg: Config, *, roles: Iterable[str] | None = None, data: LocalData | None = None
) -> NodeOptions:
    """A configured node's options (``roles`` overrides ``node.roles``)."""
    from milon_app.node.policy import AcceptPolicy

    c = cfg
    return NodeOptions(
        roles=tuple(roles if roles is not None else c.node.roles),
        policy=AcceptPolicy(
            mode=c.node.accept_mode,
            max_epochs=c.node.max_epochs,
            hours=c.node.hours(),
            max_epsilon=c.privacy.max_epsilon,
        ),
        data=data,
        device=c.compute.device,
        threads=c.compute.max_threads or None,
        behaviour=Behaviour(c.node.attack) if c.node.attack else HONEST,
        compile_model=c.compute.compile,
        job_benchmark_s=c.compute.job_benchmark_s,
        batching=c.node.batching,
    )


def build_node(
    account: LocalAccount,
    suite: Suite,
    bus: EventBus,
    root: Path,
    make: Factory,
    opts: NodeOptions | None = None,
    *,
    bootstrap: Sequence[str] = (),
    state_file: str = "state.db",
) -> NodeCore:
    """A node whose blobs and state live under ``root``, on a transport from ``make``."""
    from milon_app.compute.worker import TrainerWorker
    from milon_app.node.core import NodeCore
    from milon_app.node.state import StateDB
    from milon_app.store.blobs import BlobStore

    o = opts or NodeOptions()
    store = BlobStore(root / "blobs")
    transport, peer_of = make(account, store, list(bootstrap))
    node = NodeCore(
        account=account,
        suite=suite,
        transport=transport,
        store=store,
        state=StateDB(root / state_file),
        bus=bus,
        roles=o.roles,
        policy=o.policy,
        data=o.data,
        device=o.device,
        threads=o.threads,
        behaviour=o.behaviour,
        worker=o.worker or TrainerWorker(compile_model=o.compile_model),
        peer_of=peer_of,
        batching=o.batching,
    )
    node.contributor.capacity.duration_s = o.job_benchmark_s
    node.owner.eval_data = o.eval_data
    if o.eval_source is not None:
        node.owner.eval_source = o.eval_source
    return node
