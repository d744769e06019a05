"""What a node's roles are given instead of the whole node: :class:`RoleServices`.

A role (contributor, committee, keeper, owner, the job capacity) needs the chain bindings,
the wallet account, the state DB, the blob store, the transport, the trainer worker, a way to
publish events and a few lookups (which peers serve a job's blobs, the node's training and
validation data). :class:`NodeCore` builds one :class:`RoleServices` and hands it to each
role; a test can build one by hand and run a role alone, without a node.

:class:`RoleSettings` are how the roles behave (accept policy, device, threads, attack
behaviour, batching). Front-ends change them while the node runs (the desktop app's device
and policy choices), so the roles read them through ``settings()`` at each use rather than
keep a copy.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from milon_app.errors import BadInputError
from milon_app.node.behaviour import HONEST, Behaviour
from milon_app.node.policy import AcceptPolicy

if TYPE_CHECKING:
    import torch
    from eth_account.signers.local import LocalAccount

    from milon_app.chain.bindings import Milon
    from milon_app.compute.worker import TrainerWorker
    from milon_app.node import events as ev
    from milon_app.node.jobs import JobContext
    from milon_app.node.state import StateDB
    from milon_app.p2p.transport import Transport
    from milon_app.store.blobs import BlobStore

    Tensors = tuple[torch.Tensor, torch.Tensor]


@dataclass(frozen=True)
class RoleSettings:
    """How the roles behave: what they accept, where and how they train."""

    policy: AcceptPolicy = field(default_factory=AcceptPolicy)
    device: str = "cpu"  # a torch device, already chosen ("auto" is resolved by the node)
    threads: int | None = None
    behaviour: Behaviour = HONEST
    # Hand commits and reveals to the job owner's batcher (a member, falling back to its own
    # transaction), and batch the members' entries (an owner); False: neither.
    batching: bool = True


def _same_peers(addresses: Iterable[str]) -> list[str]:
    return list(addresses)


def _no_providers(ctx: JobContext) -> list[str]:
    return []


def _no_training_data(ctx: JobContext, r: int) -> Tensors:
    raise BadInputError("this node has no local training data configured")


def _no_validation_data(ctx: JobContext) -> Tensors | None:
    return None


def _default_settings() -> RoleSettings:
    return RoleSettings()


@dataclass(frozen=True)
class RoleServices:
    """The chain, storage and network a role acts through, and the lookups it needs."""

    milon: Milon
    account: LocalAccount
    state: StateDB
    store: BlobStore
    transport: Transport
    worker: TrainerWorker
    publish: Callable[[ev.Event], None]
    settings: Callable[[], RoleSettings] = _default_settings
    # chain addresses -> transport peers (members known to the transport)
    peers_of: Callable[[Iterable[str]], list[str]] = _same_peers
    # where a job's blobs live (its owner and members), never this node
    providers_for: Callable[[JobContext], list[str]] = _no_providers
    # what this node trains on in a round, and judges updates on
    training_data: Callable[[JobContext, int], Tensors] = _no_training_data
    validation_data: Callable[[JobContext], Tensors | None] = _no_validation_data

    @property
    def address(self) -> str:
        return str(self.account.address)
