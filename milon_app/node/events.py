"""The typed event catalogue: everything the core tells its front-ends.

Front-ends match on classes, never on strings: the GUI bridge re-emits these
as Qt signals, the daemon writes one structured log line per event, tests
wait for them. Every event is a frozen dataclass and serialises to JSON via
:func:`event_to_dict`.
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Event:
    node: str = ""  # address of the node that published it ("" for process-wide)
    ts: float = field(default_factory=time.time, compare=False)

    @property
    def kind(self) -> str:
        return type(self).__name__


# -- lifecycle -----------------------------------------------------------------------------
@dataclass(frozen=True)
class NodeStarted(Event):
    chain_id: int = 0
    block: int = 0


@dataclass(frozen=True)
class NodeStopped(Event):
    reason: str = ""


@dataclass(frozen=True)
class ChainStatus(Event):
    connected: bool = True
    block: int = 0
    detail: str = ""


@dataclass(frozen=True)
class Heartbeat(Event):
    """Once per driver tick: what a status bar shows."""

    block: int = 0
    chain_connected: bool = True
    peers: int = 0
    busy: bool = False
    paused: bool = False


@dataclass(frozen=True)
class NodeError(Event):
    where: str = ""
    message: str = ""


# -- federation and jobs -------------------------------------------------------------------
@dataclass(frozen=True)
class FederationJoined(Event):
    fed_id: int = 0
    stake: int = 0
    capacity: int = 0


@dataclass(frozen=True)
class JobCapacityMeasured(Event):
    """This node measured its capacity on a job's model (or found it in its state DB) and,
    when the chain held another value, declared it for the job's model."""

    job_id: int = 0
    fed_id: int = 0
    model_spec_hash: str = ""
    device: str = ""
    threads: int = 0
    score: int = 0
    declared: bool = False  # a transaction was sent (the chain held another value)
    cached: bool = False  # read from the state DB, not measured now


@dataclass(frozen=True)
class JobCreated(Event):
    job_id: int = 0
    fed_id: int = 0
    total_epochs: int = 0
    escrow: int = 0


@dataclass(frozen=True)
class RoundStarted(Event):
    job_id: int = 0
    round: int = 0
    epochs: int = 0


@dataclass(frozen=True)
class EpochsAssigned(Event):
    job_id: int = 0
    round: int = 0
    member: str = ""
    epochs: int = 0


@dataclass(frozen=True)
class AssignmentDecision(Event):
    job_id: int = 0
    round: int = 0
    epochs: int = 0
    accepted: bool = True
    reason: str = ""


# -- training ------------------------------------------------------------------------------
@dataclass(frozen=True)
class TrainingProgress(Event):
    job_id: int = 0
    round: int = 0
    epoch: int = 0
    step: int = 0
    steps_total: int = 0
    loss: float = 0.0
    samples_per_s: float = 0.0
    eta_s: float = 0.0


@dataclass(frozen=True)
class TrainingFinished(Event):
    job_id: int = 0
    round: int = 0
    train_loss: float = 0.0
    val_accuracy: float | None = None  # None: no validation split (a contributor's training)
    samples: int = 0
    wall_s: float = 0.0


@dataclass(frozen=True)
class PrivacySpent(Event):
    """A client-dp update was clipped and noised, or a dp-sgd update trained: what this node's
    releases on the job cost."""

    job_id: int = 0
    round: int = 0
    epsilon_spent: float = 0.0  # over the rounds this node released on the job, this one included
    epsilon_round: float = 0.0  # one round alone
    delta: float = 0.0
    sigma: float = 0.0  # noise multiplier
    update_norm: float = 0.0  # the delta's norm before clipping (client-dp; 0 under dp-sgd)
    sample_rate: float = 1.0  # dp-sgd: the node's Poisson sample rate; client-dp: 1


@dataclass(frozen=True)
class PrivacyPlanSpent(Event):
    """A client-dp job ran every round its (epsilon, delta) was planned for: its owner opens
    no more (epochs left over, from rejected updates, stay undone; cancel refunds them)."""

    job_id: int = 0
    rounds: int = 0
    epsilon: float = 0.0


@dataclass(frozen=True)
class UpdateCommitted(Event):
    job_id: int = 0
    round: int = 0
    update_hash: str = ""


@dataclass(frozen=True)
class UpdateRevealed(Event):
    job_id: int = 0
    round: int = 0
    update_hash: str = ""


# -- validation and finalization -----------------------------------------------------------
@dataclass(frozen=True)
class CommitteeDrawn(Event):
    """A round's validator committee; ``seated``: this node is on it (its duty this round)."""

    job_id: int = 0
    round: int = 0
    members: tuple[str, ...] = ()
    weights: tuple[int, ...] = ()
    seated: bool = False


@dataclass(frozen=True)
class VerdictSubmitted(Event):
    """This node's verdict as a committee member: accepted updates and (member, reason)."""

    job_id: int = 0
    round: int = 0
    accepted: tuple[str, ...] = ()
    rejected: tuple[tuple[str, str], ...] = ()  # (member, reason)


@dataclass(frozen=True)
class VerdictsTallied(Event):
    """The committee's decision on every revealed update of a round."""

    job_id: int = 0
    round: int = 0
    accepted: tuple[str, ...] = ()
    rejected: tuple[str, ...] = ()
    undecided: tuple[str, ...] = ()


@dataclass(frozen=True)
class ModelConfirmed(Event):
    """This node, on the committee, confirmed the aggregate of the accepted updates."""

    job_id: int = 0
    round: int = 0
    model_hash: str = ""


@dataclass(frozen=True)
class RoundFinalized(Event):
    job_id: int = 0
    round: int = 0
    model_hash: str = ""
    accepted_count: int = 0
    epochs_trained: int = 0


@dataclass(frozen=True)
class RoundEvaluated(Event):
    """The job owner scored a round's global model on its held-out data."""

    job_id: int = 0
    round: int = 0
    accuracy: float = 0.0


@dataclass(frozen=True)
class RoundTimedOut(Event):
    job_id: int = 0
    round: int = 0


@dataclass(frozen=True)
class JobCompleted(Event):
    job_id: int = 0
    final_model_hash: str = ""
    refund: int = 0


# -- money ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class RewardCredited(Event):
    job_id: int = 0
    round: int = 0
    amount: int = 0


@dataclass(frozen=True)
class ValidatorPaid(Event):
    """This node's share of a round's validators' pool (it voted with the majority)."""

    job_id: int = 0
    round: int = 0
    amount: int = 0


@dataclass(frozen=True)
class RewardClaimed(Event):
    amount: int = 0


@dataclass(frozen=True)
class Slashed(Event):
    fed_id: int = 0
    member: str = ""
    amount: int = 0
    reason: str = ""


# -- network -------------------------------------------------------------------------------
@dataclass(frozen=True)
class BlobStored(Event):
    digest: str = ""
    size: int = 0
    blob_kind: str = ""


@dataclass(frozen=True)
class BlobFetched(Event):
    digest: str = ""
    size: int = 0
    provider: str = ""
    relayed: bool = False  # came through a circuit relay (else a direct or hole-punched one)


@dataclass(frozen=True)
class PeerStatus(Event):
    peer_id: str = ""
    connected: bool = True
    peers: int = 0


@dataclass(frozen=True)
class PeerInfoPublished(Event):
    """This node registered the addresses it publishes as its peer info in a federation:
    the chain held other ones (none after a bare ``fed join``, a port from a former run)."""

    fed_id: int = 0
    peer_info: str = ""
    previous: str = ""


# -- governance ----------------------------------------------------------------------------
@dataclass(frozen=True)
class ProposalStateChanged(Event):
    proposal_id: int = 0
    state: str = ""
    description: str = ""


def event_to_dict(event: Event) -> dict[str, Any]:
    """A JSON-ready dict with ``event`` = class name; bytes become hex."""
    out: dict[str, Any] = {"event": event.kind}
    for f in dataclasses.fields(event):
        value = getattr(event, f.name)
        if isinstance(value, bytes):
            value = "0x" + value.hex()
        elif isinstance(value, tuple):
            value = [list(v) if isinstance(v, tuple) else v for v in value]
        out[f.name] = value
    return out


def catalogue() -> list[type[Event]]:
    """Every concrete event class (for docs, the daemon log schema and tests)."""
    return sorted(_subclasses(Event), key=lambda c: c.__name__)


def _subclasses(cls: type[Event]) -> set[type[Event]]:
    out: set[type[Event]] = set()
    for sub in cls.__subclasses__():
        out.add(sub)
        out |= _subclasses(sub)
    return out
