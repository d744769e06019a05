"""The contributor role: accept epochs, train, store the update, commit, reveal.

Each step reads the assignment's state from the chain and does the one next
thing, so the role resumes correctly after a restart: the salt of a
commitment is in the state DB before the commit transaction leaves, and an
update already committed is revealed, never trained or committed again.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
import time
from concurrent.futures import Future
from typing import TYPE_CHECKING

from milon_app.chain.bindings import AssignmentState, Round
from milon_app.chain.errors import ContractRevert
from milon_app.compute.trainer import TrainProgress, TrainResult
from milon_app.compute.weights import encode_state
from milon_app.node import events as ev
from milon_app.node.jobs import JobContext, commit_closed, fetch_state

if TYPE_CHECKING:
    from milon_app.node.core import NodeCore

log = logging.getLogger(__name__)


class Contributor:
    def __init__(self, node: NodeCore) -> None:
        self.node = node
        self._training: dict[tuple[int, int], Future[TrainResult]] = {}

    def step(self, ctx: JobContext, r: int, rnd: Round, now: int) -> None:
        node, me = self.node, self.node.address
        a = node.milon.assignment(ctx.job_id, r, me)
        if a.state is AssignmentState.ASSIGNED and now <= rnd.accept_deadline:
            self._decide(ctx, r, a.epochs)
        elif a.state is AssignmentState.ACCEPTED and node.behaviour.commits:
            self._train_or_commit(ctx, r, rnd, a.epochs, now)
        elif (
            a.state is AssignmentState.COMMITTED
            and commit_closed(rnd, now)
            and now <= rnd.reveal_deadline
        ):
            self._reveal(ctx.job_id, r)

    # -- accept / decline ---------------------------------------------------------------------
    def _decide(self, ctx: JobContext, r: int, epochs: int) -> None:
        node = self.node
        if node.state.assignment_decision(ctx.job_id, r) == "pending-user":
            return
        accept, reason = node.policy.decide(epochs)
        if accept is None:
            node.state.record_assignment(ctx.job_id, r, epochs, "pending-user")
            node.publish(
                ev.AssignmentDecision(
                    job_id=ctx.job_id, round=r, epochs=epochs, accepted=False, reason=reason
                )
            )
            return
        self.respond(ctx.job_id, r, epochs, accept, reason)

    def respond(self, job_id: int, r: int, epochs: int, accept: bool, reason: str) -> None:
        """Send the decision (also called by front-ends for manual mode)."""
        node = self.node
        fn = node.milon.accept if accept else node.milon.decline
        fn(node.account, job_id, r)
        node.state.record_assignment(job_id, r, epochs, "accepted" if accept else "declined")
        node.publish(
            ev.AssignmentDecision(
                job_id=job_id, round=r, epochs=epochs, accepted=accept, reason=reason
            )
        )

    # -- train and commit ---------------------------------------------------------------------
    def _train_or_commit(self, ctx: JobContext, r: int, rnd: Round, epochs: int, now: int) -> None:
        node, key = self.node, (ctx.job_id, r)
        record = node.state.commit_record(ctx.job_id, r)
        if record is not None:  # trained before a restart (or the tx was lost): just commit
            self._commit(ctx.job_id, r, record.update_hash, record.salt, record.num_samples)
            return
        if now > rnd.commit_deadline:
            return
        future = self._training.get(key)
        if future is None:
            self._training[key] = self._start_training(ctx, r, rnd, epochs)
            return
        if not future.done():
            return
        del self._training[key]
        try:
            result = future.result()
        except Exception as exc:
            node.publish(
                ev.NodeError(where=f"training job {ctx.job_id} round {r}", message=str(exc))
            )
            return
        node.publish(
            ev.TrainingFinished(
                job_id=ctx.job_id,
                round=r,
                train_loss=result.train_loss,
                val_accuracy=result.val_accuracy or 0.0,
                samples=result.num_samples,
                wall_s=result.wall_s,
            )
        )
        blob = result.update_bytes
        if not node.behaviour.honest:
            base = fetch_state(rnd.base_model_hash.hex(), node.transport, node.store, [])
            blob = encode_state(node.behaviour.tamper(base, result.state))
        digest = node.store.put(blob, "weights", owner=f"job:{ctx.job_id}")
        node.transport.provide(digest)
        node.publish(ev.BlobStored(digest=digest, size=len(blob), blob_kind="update"))
        salt = secrets.token_bytes(32)
        update_hash = bytes.fromhex(digest)
        node.state.record_commit_intent(ctx.job_id, r, update_hash, salt, result.num_samples)
        self._commit(ctx.job_id, r, update_hash, salt, result.num_samples)

    def _start_training(
        self, ctx: JobContext, r: int, rnd: Round, epochs: int
    ) -> Future[TrainResult]:
        node = self.node
        base_digest = rnd.base_model_hash.hex()
        providers = node.providers_for(ctx)
        state = fetch_state(base_digest, node.transport, node.store, providers)
        x, y = node.training_data(ctx, r)
        y = node.behaviour.labels(y, ctx.spec.num_classes)
        tag = f"{ctx.job_id}:{r}:{node.address}".encode()
        seed = int.from_bytes(hashlib.sha256(tag).digest()[:4], "big")

        def progress(p: TrainProgress) -> None:
            node.state.add_metric(
                ctx.job_id, r, p.epoch, p.step, p.loss, p.samples_per_s, time.time()
            )
            node.publish(
                ev.TrainingProgress(
                    job_id=ctx.job_id,
                    round=r,
                    epoch=p.epoch,
                    step=p.step,
                    steps_total=p.steps_total,
                    loss=p.loss,
                    samples_per_s=p.samples_per_s,
                    eta_s=p.eta_s,
                )
            )

        if not node.behaviour.trains:  # a lazy node hands back the global model untouched
            lazy: Future[TrainResult] = Future()
            lazy.set_result(
                TrainResult(
                    encode_state(state), state, int(x.shape[0]), 0.0, None, None, 0, 0.0, 0.0
                )
            )
            return lazy
        return node.worker.submit(
            ctx.spec,
            state,
            (x, y),
            epochs=epochs,
            seed=seed,
            device=node.device,
            progress=progress,
            threads=node.threads,
        )

    def _commit(self, job_id: int, r: int, update_hash: bytes, salt: bytes, n: int) -> None:
        node = self.node
        commitment = node.milon.commitment(update_hash, n, salt, node.address, job_id, r)
        try:
            node.milon.commit(node.account, job_id, r, commitment)
        except ContractRevert as exc:
            if exc.error_name != "AlreadyCommitted":
                raise
        node.state.mark_committed(job_id, r)
        node.publish(ev.UpdateCommitted(job_id=job_id, round=r, update_hash=update_hash.hex()))

    def _reveal(self, job_id: int, r: int) -> None:
        node = self.node
        record = node.state.commit_record(job_id, r)
        if record is None:
            node.publish(
                ev.NodeError(
                    where=f"reveal job {job_id} round {r}",
                    message="the commitment's salt is not in the state DB",
                )
            )
            return
        try:
            node.milon.reveal(
                node.account, job_id, r, record.update_hash, record.num_samples, record.salt
            )
        except ContractRevert as exc:
            if exc.error_name == "RevealNotOpen":
                return  # our clock ran ahead of the chain's; try on the next tick
            if exc.error_name != "AlreadyRevealed":
                raise
        node.state.mark_revealed(job_id, r)
        node.publish(
            ev.UpdateRevealed(job_id=job_id, round=r, update_hash=record.update_hash.hex())
        )

    def cancel_all(self) -> None:
        for fut in self._training.values():
            fut.cancel()
        self._training.clear()
