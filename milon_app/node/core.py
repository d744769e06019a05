"""NodeCore: one object that owns a node's wallet account, chain, transport, store, state.

Front-ends (GUI, daemon, demo, tests) construct one and call :meth:`tick`
from a loop (or :meth:`run` on a thread); everything the node does follows
from chain events and the chain's current state, so a restarted node picks
up where it stopped.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, Protocol

from eth_account.signers.local import LocalAccount

from milon_app.chain.bindings import Job, JobStatus, Member, Milon
from milon_app.chain.deploy import Suite
from milon_app.chain.errors import RpcUnavailableError
from milon_app.chain.events import ChainEvent
from milon_app.compute.hardware import select_device
from milon_app.compute.worker import TrainerWorker
from milon_app.errors import BadInputError, MilonError
from milon_app.node import events as ev
from milon_app.node.batching import BATCH_TOPIC
from milon_app.node.behaviour import HONEST, Behaviour
from milon_app.node.bus import EventBus
from milon_app.node.chain_watch import backoff_delays
from milon_app.node.committee import Committee
from milon_app.node.contributor import Contributor
from milon_app.node.event_feed import FeedCursor, cursor_for
from milon_app.node.job_retry import JobRetry
from milon_app.node.jobs import JobContext
from milon_app.node.keeper import Keeper
from milon_app.node.owner import Owner
from milon_app.node.peer_info import PeerInfoKeeper
from milon_app.node.policy import AcceptPolicy
from milon_app.node.services import RoleServices, RoleSettings
from milon_app.node.state import StateDB
from milon_app.p2p.transport import Transport
from milon_app.store.blobs import BlobStore
from milon_app.util.threads import after_thread

if TYPE_CHECKING:
    import torch

log = logging.getLogger(__name__)
ROLES = frozenset({"contributor", "validator", "keeper", "owner"})
MAX_BACKOFF_S = 30.0  # the longest wait between ticks while the RPC is unreachable
STOP_JOIN_S = 30.0  # how long stop() waits for a tick in progress


class LocalData(Protocol):
    def train_data(self, ctx: JobContext) -> tuple[torch.Tensor, torch.Tensor]: ...


@dataclass
class TensorData:
    """Federated mode: this node's own samples, which never leave the machine."""

    x: torch.Tensor
    y: torch.Tensor

    def train_data(self, ctx: JobContext) -> tuple[torch.Tensor, torch.Tensor]:
        shape = tuple(ctx.spec.input_shape)
        if self.x[0].numel() != _prod(shape):
            raise BadInputError(
                f"local data samples have {self.x[0].numel()} values, job {ctx.job_id}'s model "
                f"expects input shape {list(shape)}"
            )
        return self.x.reshape(-1, *shape), self.y


def _prod(shape: Iterable[int]) -> int:
    out = 1
    for d in shape:
        out *= d
    return out


class NodeCore:
    def __init__(
        self,
        *,
        account: LocalAccount,
        suite: Suite,
        transport: Transport,
        store: BlobStore,
        state: StateDB,
        bus: EventBus | None = None,
        roles: Iterable[str] = ("contributor", "validator", "keeper"),
        policy: AcceptPolicy | None = None,
        data: LocalData | None = None,
        device: str = "auto",
        threads: int | None = None,
        behaviour: Behaviour = HONEST,
        worker: TrainerWorker | None = None,
        peer_of: Callable[[str], str | None] | None = None,
        batching: bool = True,
    ) -> None:
        unknown = set(roles) - ROLES
        if unknown:
            raise BadInputError(f"unknown node role {sorted(unknown)[0]!r}")
        self.account = account
        self.address = account.address
        self.suite = suite
        self.milon = Milon(suite)
        self.transport = transport
        self.store = store
        self.state = state
        self.bus = bus or EventBus()
        self.roles = frozenset(roles)
        self.data = data
        self._settings = RoleSettings(
            policy=policy or AcceptPolicy(),
            device=str(select_device(device)),  # "auto": CUDA/ROCm, then MPS, then CPU
            threads=threads,
            behaviour=behaviour,
            batching=batching,
        )
        self.worker = worker or TrainerWorker()
        self._peer_of = peer_of or (lambda address: address)
        # What the roles act through: built once, the node itself stays out of their reach.
        self.services = RoleServices(
            milon=self.milon,
            account=account,
            state=state,
            store=store,
            transport=transport,
            worker=self.worker,
            publish=self.publish,
            settings=lambda: self._settings,
            peers_of=self.peers_of,
            providers_for=self.providers_for,
            training_data=self.training_data,
            validation_data=self.validation_data,
        )
        self.contributor = Contributor(self.services)
        self.committee = Committee(self.services)
        self.keeper = Keeper(self.services)
        self.owner = Owner(self.services)
        self.peer_info = PeerInfoKeeper(self.milon, account, transport, self.publish)
        self._contexts: dict[int, JobContext] = {}
        self._validation: dict[int, tuple[torch.Tensor, torch.Tensor] | None] = {}
        self._memberships: dict[int, Member] = {}  # dropped when a registry event names us
        self._retry = JobRetry()  # jobs whose last step failed wait before the next try
        self._cursor: FeedCursor | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._close_state = False
        self._unsubscribe: list[Callable[[], None]] = []
        self._batch_joined = False  # subscribed to BATCH_TOPIC (once it owns a job)

    # -- settings (front-ends change them while the node runs; the roles read them live) ----
    @property
    def settings(self) -> RoleSettings:
        return self._settings

    @property
    def policy(self) -> AcceptPolicy:
        return self._settings.policy

    @policy.setter
    def policy(self, policy: AcceptPolicy) -> None:
        self._settings = replace(self._settings, policy=policy)

    @property
    def device(self) -> str:
        return self._settings.device

    @device.setter
    def device(self, device: str) -> None:
        self._settings = replace(self._settings, device=device)

    @property
    def threads(self) -> int | None:
        return self._settings.threads

    @threads.setter
    def threads(self, threads: int | None) -> None:
        self._settings = replace(self._settings, threads=threads)

    @property
    def behaviour(self) -> Behaviour:
        return self._settings.behaviour

    @behaviour.setter
    def behaviour(self, behaviour: Behaviour) -> None:
        self._settings = replace(self._settings, behaviour=behaviour)

    @property
    def batching(self) -> bool:
        return self._settings.batching

    @batching.setter
    def batching(self, batching: bool) -> None:
        self._settings = replace(self._settings, batching=batching)

    # -- lifecycle ----------------------------------------------------------------------------
    def publish(self, event: ev.Event) -> None:
        object.__setattr__(event, "node", self.address)
        self.bus.publish(event)

    def start(self) -> None:
        self.transport.start()
        start = self.state.next_block(self.suite.manifest.deployed_block)
        # nodes of this process on the same client read and decode each block's events once
        self._cursor = cursor_for(self.suite.client, self.suite.by_name(), start)
        self.suite.client.add_status_listener(self._on_chain_status)
        self.publish(ev.NodeStarted(chain_id=self.suite.client.chain_id, block=self._head()))

    def _head(self) -> int:
        """The chain's current block for NodeStarted (not where the event scan resumes, the
        deployment block on a fresh node); the last one seen while the RPC is down."""
        client = self.suite.client
        try:
            return client.block_number()
        except RpcUnavailableError:
            return client.last_block

    def _on_chain_status(self, connected: bool, detail: str) -> None:
        client = self.suite.client
        self.publish(ev.ChainStatus(connected=connected, block=client.last_block, detail=detail))

    def _join_batch_topic(self) -> None:
        """Subscribe to the batch topic once this node owns a job. Only batchers subscribe:
        a member publishes its entry to its subscribed peers (gossipsub's fanout), so an entry
        reaches the owner it is meant for in one hop instead of being relayed to every member
        (at 64 members that was ~6 receipts per member of each of 128 entries a round). A
        member not connected to the owner gets no delivery and falls back on its own."""
        if self._batch_joined or "owner" not in self.roles or not self.state.jobs("owner"):
            return
        self._batch_joined = True
        self._unsubscribe.append(self.transport.subscribe(BATCH_TOPIC, self._on_batch_message))

    def _on_batch_message(self, sender: str, message: dict[str, Any]) -> None:
        self.owner.batcher.on_message(sender, message)  # subscribed only with the owner role

    def stop(self, reason: str = "stopped") -> None:
        """Stop ticking; the trainer, the transport (and, from :meth:`close`, the state DB)
        are released once the tick thread has ended: now, or when a late tick returns."""
        self._stop.set()
        self.suite.client.remove_status_listener(self._on_chain_status)
        thread = self._thread if self._thread is not threading.current_thread() else None
        if thread is not None:
            thread.join(timeout=STOP_JOIN_S)

        def release() -> None:
            for unsubscribe in self._unsubscribe:
                unsubscribe()
            self._unsubscribe.clear()
            self._batch_joined = False
            if self._cursor is not None:
                self._cursor.close()
            self.contributor.cancel_all()
            self.worker.shutdown(cancel=True, wait=True)
            self.transport.stop()
            if self._close_state:
                self.state.close()
            self.publish(ev.NodeStopped(reason=reason))

        after_thread(thread, release)

    def close(self, reason: str = "stopped") -> None:
        """:meth:`stop`, then close the state DB (after the tick thread, like the rest)."""
        self._close_state = True
        self.stop(reason)

    def run(self, interval_s: float = 1.0) -> threading.Thread:
        """Tick on a background thread until :meth:`stop`."""

        delay = backoff_delays(max(interval_s, 0.5), MAX_BACKOFF_S)

        def loop() -> None:
            outages = 0  # consecutive ticks that found the RPC unreachable
            while not self._stop.is_set():
                wait = interval_s
                try:
                    self.tick()
                    outages = 0
                except RpcUnavailableError as exc:  # chain down: retry later, backing off
                    wait = delay(outages)
                    outages += 1
                    self.publish(ev.NodeError(where="tick", message=f"{exc}; retry in {wait:g}s"))
                except MilonError as exc:
                    self.publish(ev.NodeError(where="tick", message=str(exc)))
                except Exception as exc:  # keep the node alive; the log has the trace
                    log.exception("tick failed")
                    self.publish(ev.NodeError(where="tick", message=repr(exc)))
                self._stop.wait(wait)

        self._thread = threading.Thread(
            target=loop, name=f"milon-node-{self.address[:8]}", daemon=True
        )
        self._thread.start()
        return self._thread

    # -- membership ---------------------------------------------------------------------------
    def membership(self, fed_id: int) -> Member:
        """This node's membership of a federation, read once and kept until an event of the
        registry names this node (joins, stake changes, slashes, suspension, leaving)."""
        if fed_id not in self._memberships:
            self._memberships[fed_id] = self.milon.member(fed_id, self.address)
        return self._memberships[fed_id]

    def join(self, fed_id: int, stake: int, capacity: int, peer_info: str) -> None:
        self._memberships.pop(fed_id, None)
        self.milon.join(self.account, fed_id, stake, capacity, peer_info)
        self.state.record_membership(fed_id, stake, capacity, self.suite.client.block_number())
        self.publish(ev.FederationJoined(fed_id=fed_id, stake=stake, capacity=capacity))

    def training_data(self, ctx: JobContext, r: int) -> tuple[torch.Tensor, torch.Tensor]:
        """What this node trains on for a job: its own data (federated) or its shard (shared),
        less the share it holds out for judging when the owner published no validation data."""
        x, y = self._local_data(ctx, r)
        if ctx.validation:
            return x, y
        from milon_app.node.validation_data import holdout_seed, split_holdout

        return split_holdout(x, y, holdout_seed(self.address))[0]

    def validation_data(self, ctx: JobContext) -> tuple[torch.Tensor, torch.Tensor] | None:
        """Held-out samples to judge updates on: the owner's validation shards, or the share
        of this node's own data it never trains on; None when it has no data at all."""
        if ctx.job_id not in self._validation:
            self._validation[ctx.job_id] = self._load_validation(ctx)
        return self._validation[ctx.job_id]

    def _load_validation(self, ctx: JobContext) -> tuple[torch.Tensor, torch.Tensor] | None:
        from milon_app.node.validation_data import holdout_seed, owner_validation, split_holdout

        if ctx.validation:
            providers = self.peers_of([ctx.job.owner])
            return owner_validation(ctx, self.transport, self.store, providers)
        if self.data is None and ctx.shared is None:
            return None
        x, y = self._local_data(ctx, ctx.job.current_round)
        return split_holdout(x, y, holdout_seed(self.address))[1]

    def _local_data(self, ctx: JobContext, r: int) -> tuple[torch.Tensor, torch.Tensor]:
        shared = ctx.shared
        if shared is None:
            if self.data is None:
                raise BadInputError("this node has no local training data configured")
            return self.data.train_data(ctx)
        from milon_app.node.shards import decode_shard

        members = self.milon.round_members(ctx.job_id, r) if r else []
        position = members.index(self.address) if self.address in members else 0
        digest = shared.shard_for(position)
        self.transport.fetch(digest, kind="shard", providers=self.providers_for(ctx))
        self.store.pin(digest, ctx.pin)
        return decode_shard(self.store.get(digest), shared, ctx.spec)

    def peers_of(self, addresses: Iterable[str]) -> list[str]:
        return [p for p in (self._peer_of(a) for a in addresses) if p]

    def providers_for(self, ctx: JobContext) -> list[str]:
        """Where a job's blobs live: its owner (specs, first model) and the members
        (updates, aggregated models), never this node itself."""
        members = self.milon.active_members(ctx.job.params.fed_id)
        others = [a for a in [ctx.job.owner, *members] if a != self.address]
        return self.peers_of(others)

    # -- the loop -----------------------------------------------------------------------------
    def tick(self) -> bool:
        """Handle new chain events, then do the next step of every open job.

        Returns True while the node has work in flight (training, a commit or reveal handed
        to a batcher, entries held for a batch), so a driver knows whether waiting would help.
        """
        if self._cursor is None:
            raise MilonError("node not started: call start() first")
        for event in self._cursor.poll():
            self._on_chain_event(event)
        self.state.set_next_block(self._cursor.next_block)
        self.peer_info.step()  # the chain's peer info = the addresses published now
        self._join_batch_topic()
        now = self.suite.client.now()
        for job_id in self.state.jobs():
            if self._retry.due(job_id):
                self._step_job(job_id, now)
        return self.contributor.busy or self.owner.busy

    def _step_job(self, job_id: int, now: int) -> None:
        """One job's step; its failure is reported and retried later, never passed on to the
        jobs after it (a job anyone can create must not stall the others)."""
        try:
            self._reconcile(job_id, now)
        except RpcUnavailableError:
            raise  # the chain is down for every job: the loop backs off as a whole
        except Exception as exc:
            wait = self._retry.failed(job_id)
            if not isinstance(exc, MilonError):
                log.exception("job %d failed", job_id)
            message = f"{exc if isinstance(exc, MilonError) else repr(exc)}; retry in {wait:g}s"
            self.publish(ev.NodeError(where=f"job {job_id}", message=message))
        else:
            self._retry.succeeded(job_id)

    def _on_chain_event(self, e: ChainEvent) -> None:
        a, me = e.args, self.address
        if e.contract == "FederationRegistry" and a.get("account") == me:
            self._memberships.pop(int(a.get("fedId", 0)), None)
            self.peer_info.touch(int(a.get("fedId", 0)))
        if e.name == "JobCreated":
            role = "owner" if a["owner"] == me else "member"
            if self.state.job_info(a["jobId"]) is None:
                self.state.record_job(a["jobId"], a["fedId"], role, {})
        elif e.name == "RoundStarted":
            self.publish(ev.RoundStarted(job_id=a["jobId"], round=a["round"], epochs=a["epochs"]))
        elif e.name == "EpochsAssigned" and a["member"] == me:
            self.publish(
                ev.EpochsAssigned(
                    job_id=a["jobId"], round=a["round"], member=me, epochs=a["epochs"]
                )
            )
        elif e.name == "CommitteeDrawn":
            self.publish(
                ev.CommitteeDrawn(
                    job_id=a["jobId"],
                    round=a["round"],
                    members=tuple(a["members"]),
                    weights=tuple(int(w) for w in a["weights"]),
                    seated=me in a["members"],
                )
            )
        elif e.name == "VerdictsTallied":
            self._on_tally(a["jobId"], a["round"], int(a["acceptedBits"]), int(a["rejectedBits"]))
        elif e.name == "RoundFinalized":
            self.publish(
                ev.RoundFinalized(
                    job_id=a["jobId"],
                    round=a["round"],
                    model_hash=a["newModelHash"].hex(),
                    accepted_count=a["acceptedCount"],
                    epochs_trained=a["epochsTrained"],
                )
            )
        elif e.name == "RoundTimedOut":
            self.publish(ev.RoundTimedOut(job_id=a["jobId"], round=a["round"]))
        elif e.name == "RewardCredited" and a["member"] == me:
            if self.state.record_reward(a["jobId"], a["round"], a["amount"]):
                self.publish(
                    ev.RewardCredited(job_id=a["jobId"], round=a["round"], amount=a["amount"])
                )
        elif e.name == "ValidatorPaid" and a["validator"] == me:
            self.publish(ev.ValidatorPaid(job_id=a["jobId"], round=a["round"], amount=a["amount"]))
        elif e.name == "MemberSlashed":
            self.publish(
                ev.Slashed(
                    fed_id=self.milon.job(a["jobId"]).params.fed_id,
                    member=a["member"],
                    amount=a["amount"],
                    reason=f"job {a['jobId']} round {a['round']}",
                )
            )
        elif e.name == "ProposalCreated":
            self.publish(
                ev.ProposalStateChanged(
                    proposal_id=int(a["proposalId"]),
                    state="created",
                    description=str(a["description"]),
                )
            )
        elif e.name == "JobCompleted":
            self.publish(
                ev.JobCompleted(
                    job_id=a["jobId"],
                    final_model_hash=a["finalModelHash"].hex(),
                    refund=a["refund"],
                )
            )

    def context(self, job_id: int, job: Job | None = None) -> JobContext:
        job = job or self.milon.job(job_id)
        ctx = self._contexts.get(job_id)
        if ctx is None:
            peers = self.peers_of([job.owner])
            ctx = JobContext.load(job_id, job, self.transport, self.store, peers)
            self._contexts[job_id] = ctx
        ctx.job = job
        return ctx

    def _on_tally(self, job_id: int, r: int, accepted_bits: int, rejected_bits: int) -> None:
        members = self.milon.round_members(job_id, r)
        undecided = self.milon.round(job_id, r).revealed_bits & ~(accepted_bits | rejected_bits)

        def pick(bits: int) -> tuple[str, ...]:
            return tuple(m for i, m in enumerate(members) if bits >> i & 1)

        self.publish(
            ev.VerdictsTallied(
                job_id=job_id,
                round=r,
                accepted=pick(accepted_bits),
                rejected=pick(rejected_bits),
                undecided=pick(undecided),
            )
        )

    def _reconcile(self, job_id: int, now: int) -> None:
        info = self.state.job_info(job_id)
        if info is None or info[1].get("done"):
            return
        role = info[0]
        job = self.milon.job(job_id)
        fed = job.params.fed_id
        me = self.membership(fed)
        if role != "owner" and me.joined_at == 0:
            return  # never a member of this job's federation
        ctx = self.context(job_id, job)
        if role == "owner" and "owner" in self.roles:
            self.owner.step(ctx)
            ctx = self.context(job_id)
        if ctx.job.status is not JobStatus.OPEN:
            if role != "owner" or ctx.job.current_round == 0 or self._round_recorded(ctx):
                self.state.record_job(job_id, fed, role, {**info[1], "done": True})
            return
        r = ctx.job.current_round
        if r == 0:
            return
        rnd = self.milon.round(job_id, r)
        if rnd.closed:
            return
        # A member that left (or was suspended) still finishes the work it accepted and its
        # committee duty for rounds that started before; it only takes no new work.
        if "contributor" in self.roles and me.joined_at:  # an owner may train in its own job
            self.contributor.step(ctx, r, rnd, now, eligible=me.active)
        if "validator" in self.roles:
            self.committee.step(ctx, r, rnd, now)
        if "keeper" in self.roles:
            self.keeper.step(ctx, r, rnd, now)

    def _round_recorded(self, ctx: JobContext) -> bool:
        return any(rr[0] == ctx.job.current_round for rr in self.state.round_results(ctx.job_id))
