"""The contributor role: accept epochs, train, store the update, commit, reveal.

Each step reads the assignment's state from the chain and does the one next
thing, so the role resumes correctly after a restart. Training starts once
acceptance has closed (the epochs are final). The update is announced and
served only after commits have closed, so nobody can copy its digest into a
commitment of their own. The commitment's salt is derived from the wallet key
(:func:`commit_salt`), so a node that lost its state DB still reveals: it finds
its update in the blob store, or trains it again deterministically.

Commits and reveals go through the job owner's batcher when it is there and quick
(:mod:`milon_app.node.batching`), else as the member's own transaction; either way the
member publishes ``UpdateCommitted`` / ``UpdateRevealed`` once it sees them on chain.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import time
from concurrent.futures import Future
from typing import TYPE_CHECKING, Any

from milon_app.chain.batches import Opening, commit_message, opening_message, sign_commit
from milon_app.chain.bindings import Assignment, AssignmentState, Round
from milon_app.chain.confirmations import Receipts, Status, confirmed_block
from milon_app.chain.errors import ContractRevert
from milon_app.chain.nonce_gap import dropped_came_back
from milon_app.compute.trainer import TrainProgress, TrainResult
from milon_app.compute.weights import encode_state
from milon_app.node import events as ev
from milon_app.node.batching import COMMIT, REVEAL, Handoffs, Window, commit_deadline
from milon_app.node.capacity import JobCapacity
from milon_app.node.jobs import JobContext, acceptance_closed, commit_closed, fetch_state
from milon_app.node.privacy_budget import (
    Budget,
    decline_reason,
    noised,
    round_budget,
    trained_budget,
)
from milon_app.util.futures import poll_once

if TYPE_CHECKING:
    import torch

    from milon_app.node.services import RoleServices

log = logging.getLogger(__name__)
SALT_DOMAIN = b"milon-commit-salt/v2"
# Chain seconds before the accept window closes at which a member still training sends its own
# ``accept`` (else its commit accepts): a commit handed off then still has the batcher's and its
# own margins (milon_app.node.batching) before the window closes.
ACCEPT_MARGIN_S = 60
# States no reorganisation of this node's own steps can undo; a decline or a reveal can be
# dropped by one, so those are read again while the round is open.
_SETTLED = frozenset({AssignmentState.NONE, AssignmentState.LAPSED})


def commit_salt(
    key: bytes, chain_id: int, jobs_address: str, job_id: int, r: int, update_hash: bytes
) -> bytes:
    """The salt behind a commitment: secret (keyed by the wallet key), unique per update,
    and derivable again from the key alone."""
    msg = b"".join(
        (
            SALT_DOMAIN,
            chain_id.to_bytes(32, "big"),
            bytes.fromhex(jobs_address[2:]),
            job_id.to_bytes(32, "big"),
            r.to_bytes(32, "big"),
            update_hash,
        )
    )
    return hmac.new(key, msg, hashlib.sha256).digest()


class Contributor:
    def __init__(self, services: RoleServices) -> None:
        self.services = services
        self._training: dict[tuple[int, int], Future[TrainResult]] = {}
        self._settled: set[tuple[int, int]] = set()  # rounds where nothing is left to do
        self.capacity = JobCapacity(services)  # measures and declares each job model's capacity
        self._receipts: Receipts | None = None  # our commits' blocks (made on first use)
        self.handoffs = Handoffs(services)  # commits and openings handed to the batcher

    @property
    def receipts(self) -> Receipts:
        if self._receipts is None:
            client = self.services.milon.client
            self._receipts = Receipts(client, client.confirmations)
        return self._receipts

    @property
    def busy(self) -> bool:
        """Training in flight, or a hand-off waiting for its batch: a driver should keep
        ticking rather than move time."""
        return bool(self._training) or self.handoffs.busy

    def step(self, ctx: JobContext, r: int, rnd: Round, now: int, eligible: bool) -> None:
        svc, me = self.services, self.services.address
        if eligible:  # first meeting a job's model: benchmark it (in the background), declare
            self.capacity.step(ctx)
        if (ctx.job_id, r) in self._settled:
            return
        a = svc.milon.assignment(ctx.job_id, r, me)
        self._landed(ctx.job_id, r, a)
        if a.state in _SETTLED:  # not assigned, or done with: no need to read it again
            self._settled.add((ctx.job_id, r))
        elif a.state is AssignmentState.ASSIGNED and now <= rnd.accept_deadline:
            # a member leaving before it committed gives the epochs back (its commit, which
            # accepts, would be refused): _decide declines for it
            decision = svc.state.assignment_decision(ctx.job_id, r)
            if decision != "accepted" or not eligible:
                self._decide(ctx, r, a.epochs, eligible)
                decision = svc.state.assignment_decision(ctx.job_id, r)
            if decision == "accepted" and svc.settings().behaviour.commits:
                self._accept_by_committing(ctx, r, rnd, a.epochs, now)
        elif (
            a.state is AssignmentState.ACCEPTED
            and acceptance_closed(rnd)
            and svc.settings().behaviour.commits
        ):
            self._train_or_commit(ctx, r, rnd, a.epochs, now)
        elif (
            a.state is AssignmentState.COMMITTED
            and commit_closed(rnd, now)
            and now <= rnd.reveal_deadline
            and self._commit_final(ctx.job_id, r)
        ):
            self._reveal(ctx, r, rnd, a, now)

    # -- accept / decline ---------------------------------------------------------------------
    def _decide(self, ctx: JobContext, r: int, epochs: int, eligible: bool) -> None:
        """Decline, wait for the user, or accept: a member that commits accepts by its commit
        (recorded here, no transaction: see :meth:`_accept_by_committing`), one that does not
        sends ``accept``."""
        svc = self.services
        if not eligible:  # leaving or suspended: give the epochs back rather than let them lapse
            self.respond(ctx.job_id, r, epochs, False, "this node is leaving the federation")
            return
        if svc.state.assignment_decision(ctx.job_id, r) == "pending-user":
            return
        b = round_budget(svc, ctx, r, epochs)
        why = decline_reason(ctx, b, svc.settings().policy.max_epsilon) if b else None
        if why is not None:
            log.info("declining job %d round %d: %s", ctx.job_id, r, why)
            self.respond(ctx.job_id, r, epochs, False, why)
            return
        accept, reason = svc.settings().policy.decide(epochs)
        if accept is None:
            svc.state.record_assignment(ctx.job_id, r, epochs, "pending-user")
            svc.publish(
                ev.AssignmentDecision(
                    job_id=ctx.job_id, round=r, epochs=epochs, accepted=False, reason=reason
                )
            )
            return
        if accept and svc.settings().behaviour.commits:  # accepted by its commit: no tx now
            self._record(ctx.job_id, r, epochs, True, reason)
            return
        self.respond(ctx.job_id, r, epochs, accept, reason)

    def _accept_by_committing(
        self, ctx: JobContext, r: int, rnd: Round, epochs: int, now: int
    ) -> None:
        """Train now and let the commit accept the epochs (issue 18: ``accept`` folded into
        ``commit``, one transaction less per member). A member still training
        :data:`ACCEPT_MARGIN_S` before the accept window closes sends its ``accept`` (its
        commit could not land in the window) and goes on as an accepted member. A re-split
        while it trains can only add epochs it is then paid for (the privacy budget was
        already weighed for the round's share cap)."""
        svc = self.services
        if svc.state.commit_record(ctx.job_id, r) is None and now >= (
            rnd.accept_deadline - ACCEPT_MARGIN_S
        ):
            log.info("job %d round %d: still training near the accept deadline: accepting",
                     ctx.job_id, r)  # fmt: skip
            svc.milon.accept(svc.account, ctx.job_id, r)
            return
        self._train_or_commit(ctx, r, rnd, epochs, now, AssignmentState.ASSIGNED)

    def respond(self, job_id: int, r: int, epochs: int, accept: bool, reason: str) -> None:
        """Send the decision (also called by front-ends for manual mode)."""
        svc = self.services
        fn = svc.milon.accept if accept else svc.milon.decline
        fn(svc.account, job_id, r)
        self._record(job_id, r, epochs, accept, reason)

    def _record(self, job_id: int, r: int, epochs: int, accept: bool, reason: str) -> None:
        svc = self.services
        svc.state.record_assignment(job_id, r, epochs, "accepted" if accept else "declined")
        svc.publish(
            ev.AssignmentDecision(
                job_id=job_id, round=r, epochs=epochs, accepted=accept, reason=reason
            )
        )

    # -- train and commit ---------------------------------------------------------------------
    def _train_or_commit(
        self,
        ctx: JobContext,
        r: int,
        rnd: Round,
        epochs: int,
        now: int,
        state: AssignmentState = AssignmentState.ACCEPTED,
    ) -> None:
        svc = self.services
        window = Window(ctx.job.owner, commit_deadline(rnd, state), now)
        record = svc.state.commit_record(ctx.job_id, r)
        if record is not None:  # trained before a restart (or the tx was lost): just commit
            if record.committed and dropped_came_back(svc.milon.client, svc.address):
                return  # a reorganisation dropped our commit: it was sent again as it was
            self._commit(ctx.job_id, r, record.update_hash, record.num_samples, window)
            return
        if now > window.deadline:
            return
        result = self._trained(ctx, r, rnd, epochs)
        if result is None:
            return
        digest = self._store_update(ctx, r, rnd, result)
        update_hash = bytes.fromhex(digest)
        salt = self.salt(ctx.job_id, r, update_hash)
        n = svc.settings().behaviour.claimed_samples(result.num_samples)
        svc.state.record_commit_intent(ctx.job_id, r, update_hash, salt, n)
        self._commit(ctx.job_id, r, update_hash, n, window)

    def _trained(self, ctx: JobContext, r: int, rnd: Round, epochs: int) -> TrainResult | None:
        """The finished training of this round, starting it if needed; None while it runs."""
        svc = self.services
        future = poll_once(
            self._training, (ctx.job_id, r), lambda: self._start_training(ctx, r, rnd, epochs)
        )
        if future is None:
            return None
        try:
            result = future.result()
        except Exception as exc:
            svc.publish(
                ev.NodeError(where=f"training job {ctx.job_id} round {r}", message=str(exc))
            )
            return None
        svc.publish(
            ev.TrainingFinished(
                job_id=ctx.job_id,
                round=r,
                train_loss=result.train_loss,
                val_accuracy=result.val_accuracy,  # None: trained without a validation split
                samples=result.num_samples,
                wall_s=result.wall_s,
            )
        )
        return result

    def _store_update(self, ctx: JobContext, r: int, rnd: Round, result: TrainResult) -> str:
        """Keep the update in the blob store, pinned to the job, not yet announced; under
        client-dp clipped and noised first (an attacker then tampers with the noised one)."""
        svc = self.services
        blob = result.update_bytes
        behaviour = svc.settings().behaviour
        dp = ctx.spec.privacy.mode == "client-dp"
        if dp or not behaviour.honest:
            base = fetch_state(rnd.base_model_hash.hex(), svc.transport, svc.store, [], ctx)
            state = result.state
            if dp:
                state = self._privatize(ctx, r, base, state)
            if not behaviour.honest:
                state = behaviour.tamper(base, state)
            blob = encode_state(state)
        elif result.privacy is not None:  # dp-sgd: the noise is in the training
            b = trained_budget(svc, ctx, r, result.privacy)
            self._publish_spent(ctx, r, b, b.sigma, 0.0)
        digest = svc.store.put(blob, "weights", owner=ctx.pin)
        svc.publish(ev.BlobStored(digest=digest, size=len(blob), blob_kind="update"))
        return digest

    def _privatize(
        self, ctx: JobContext, r: int, base: dict[str, torch.Tensor], state: dict[str, torch.Tensor]
    ) -> dict[str, torch.Tensor]:
        out, sigma, norm = noised(ctx, base, state)
        b = round_budget(self.services, ctx, r, 1)
        if b is not None:
            self._publish_spent(ctx, r, b, sigma, norm)
        return out

    def _publish_spent(self, ctx: JobContext, r: int, b: Budget, sigma: float, norm: float) -> None:
        """Tell what this round's release costs on top of the node's earlier ones."""
        self.services.publish(
            ev.PrivacySpent(
                job_id=ctx.job_id,
                round=r,
                epsilon_spent=b.epsilon_after,
                epsilon_round=b.epsilon_round,
                delta=b.delta,
                sigma=sigma,
                update_norm=norm,
                sample_rate=b.sample_rate,
            )
        )

    def _start_training(
        self, ctx: JobContext, r: int, rnd: Round, epochs: int
    ) -> Future[TrainResult]:
        svc = self.services
        settings = svc.settings()
        state = fetch_state(
            rnd.base_model_hash.hex(), svc.transport, svc.store, svc.providers_for(ctx), ctx
        )
        x, y = svc.training_data(ctx, r)
        y = settings.behaviour.labels(y, ctx.spec.num_classes)
        tag = f"{ctx.job_id}:{r}:{svc.address}".encode()
        seed = int.from_bytes(hashlib.sha256(tag).digest()[:4], "big")

        def progress(p: TrainProgress) -> None:
            svc.state.add_metric(
                ctx.job_id, r, p.epoch, p.step, p.loss, p.samples_per_s, time.time()
            )
            svc.publish(
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

        if not settings.behaviour.trains:  # a lazy node hands back the global model untouched
            lazy: Future[TrainResult] = Future()
            lazy.set_result(
                TrainResult(
                    encode_state(state), state, int(x.shape[0]), 0.0, None, None, 0, 0.0, 0.0
                )
            )
            return lazy
        sgd = ctx.spec.privacy.mode == "dp-sgd"  # its noise is calibrated for the job's epochs
        dp: dict[str, Any] = {"dp_max_epochs": ctx.job.params.total_epochs} if sgd else {}
        return svc.worker.submit(
            ctx.spec,
            state,
            (x, y),
            epochs=epochs,
            seed=seed,
            device=settings.device,
            progress=progress,
            threads=settings.threads,
            **dp,
        )

    def salt(self, job_id: int, r: int, update_hash: bytes) -> bytes:
        svc = self.services
        return commit_salt(
            bytes(svc.account.key),
            svc.milon.suite.client.chain_id,
            svc.milon.suite.jobs.address,
            job_id,
            r,
            update_hash,
        )

    def _commit(
        self, job_id: int, r: int, update_hash: bytes, n: int, window: Window | None = None
    ) -> None:
        """Hand the commit to the batcher (``window``: where it stands), or send it ourselves
        when there is none, it did not land in time, or the deadline is near."""
        svc, key = self.services, (job_id, r, COMMIT)
        if window is not None and self.handoffs.waiting(key, window):
            return
        salt = self.salt(job_id, r, update_hash)
        commitment = svc.milon.commitment(update_hash, n, salt, svc.address, job_id, r)

        def message() -> dict[str, Any]:
            return commit_message(
                job_id, r, sign_commit(svc.milon, svc.account, job_id, r, commitment)
            )

        if window is not None and self.handoffs.hand_off(key, window, message):
            return
        try:
            receipt = svc.milon.commit(svc.account, job_id, r, commitment)
            if self.receipts.depth:
                self.receipts.note((job_id, r), receipt)
        except ContractRevert as exc:
            if exc.error_name != "AlreadyCommitted":
                raise
        self.handoffs.settled(key)
        svc.state.mark_committed(job_id, r)
        svc.publish(ev.UpdateCommitted(job_id=job_id, round=r, update_hash=update_hash.hex()))

    def _landed(self, job_id: int, r: int, a: Assignment) -> None:
        """A handed-off commit or opening seen on chain: what the member's own transaction
        would have recorded and told."""
        svc = self.services
        done = (AssignmentState.COMMITTED, AssignmentState.REVEALED)
        if a.state in done and self.handoffs.settled((job_id, r, COMMIT)):
            record = svc.state.commit_record(job_id, r)
            svc.state.mark_committed(job_id, r)
            digest = record.update_hash.hex() if record is not None else ""
            svc.publish(ev.UpdateCommitted(job_id=job_id, round=r, update_hash=digest))
        if a.state is AssignmentState.REVEALED and self.handoffs.settled((job_id, r, REVEAL)):
            svc.state.mark_revealed(job_id, r)
            svc.publish(ev.UpdateRevealed(job_id=job_id, round=r, update_hash=a.update_hash.hex()))

    # -- reveal -------------------------------------------------------------------------------
    def _reveal(self, ctx: JobContext, r: int, rnd: Round, a: Assignment, now: int) -> None:
        svc, job_id, key = self.services, ctx.job_id, (ctx.job_id, r, REVEAL)
        window = Window(ctx.job.owner, rnd.reveal_deadline, now)
        if self.handoffs.waiting(key, window):
            return
        record = svc.state.commit_record(job_id, r)
        found = (
            (record.update_hash, record.num_samples)
            if record is not None
            else self._recover(ctx, r, rnd, a)
        )
        if found is None or (
            record is not None
            and record.revealed
            and dropped_came_back(self.services.milon.client, self.services.address)
        ):
            return
        update_hash, n = found
        digest = update_hash.hex()
        # commits are closed: serving it gives nothing away. Not announced to the whole mesh:
        # the committee names this node as the provider (its on-chain peer info), and a
        # gossip `have` relayed to every member for every update cost O(n^2) deliveries a
        # round (64 libp2p hosts: 183 s a round with it, 56 s without)
        svc.transport.provide(digest, announce=False)
        salt = self.salt(job_id, r, update_hash)

        def message() -> dict[str, Any]:
            return opening_message(job_id, r, Opening(svc.address, update_hash, n, salt))

        if self.handoffs.hand_off(key, window, message):
            return
        try:
            svc.milon.reveal(svc.account, job_id, r, update_hash, n, salt)
        except ContractRevert as exc:
            if exc.error_name == "RevealNotOpen":
                return  # our clock ran ahead of the chain's; try on the next tick
            if exc.error_name != "AlreadyRevealed":
                raise
        self.handoffs.settled(key)
        svc.state.mark_revealed(job_id, r)
        svc.publish(ev.UpdateRevealed(job_id=job_id, round=r, update_hash=digest))

    def _recover(
        self, ctx: JobContext, r: int, rnd: Round, a: Assignment
    ) -> tuple[bytes, int] | None:
        """The committed update when the state DB lost its record: a job blob in the store
        that opens the commitment, else the same training done again (deterministic)."""
        svc = self.services
        x, _ = svc.training_data(ctx, r)
        n = svc.settings().behaviour.claimed_samples(int(x.shape[0]))
        for digest in svc.store.pinned_by(ctx.pin):
            if self._opens(ctx.job_id, r, a, bytes.fromhex(digest), n):
                return self._remember(ctx.job_id, r, bytes.fromhex(digest), n)
        result = self._trained(ctx, r, rnd, a.epochs)
        if result is None:
            return None
        digest = self._store_update(ctx, r, rnd, result)
        if self._opens(ctx.job_id, r, a, bytes.fromhex(digest), n):
            return self._remember(ctx.job_id, r, bytes.fromhex(digest), n)
        svc.publish(
            ev.NodeError(
                where=f"reveal job {ctx.job_id} round {r}",
                message="the committed update is lost: neither the blob store nor retraining "
                f"reproduces it (retrained {digest[:12]})",
            )
        )
        return None

    # -- reorganisations ----------------------------------------------------------------------
    def _commit_final(self, job_id: int, r: int) -> bool:
        """Whether our commit is ``confirmations`` deep and canonical, so revealing is safe:
        by its receipt, or (sent before a restart) by a read at the confirmed block."""
        depth = self.receipts.depth
        if depth == 0:
            return True
        found = self.receipts.status((job_id, r))
        if found is not None:
            return found is Status.FINAL
        svc = self.services
        block = confirmed_block(svc.milon.client, depth)
        state = svc.milon.assignment(job_id, r, svc.address, block=block).state
        return state in (AssignmentState.COMMITTED, AssignmentState.REVEALED)

    def _opens(self, job_id: int, r: int, a: Assignment, update_hash: bytes, n: int) -> bool:
        salt = self.salt(job_id, r, update_hash)
        svc = self.services
        return svc.milon.commitment(update_hash, n, salt, svc.address, job_id, r) == a.commitment

    def _remember(self, job_id: int, r: int, update_hash: bytes, n: int) -> tuple[bytes, int]:
        svc = self.services
        salt = self.salt(job_id, r, update_hash)
        svc.state.record_commit_intent(job_id, r, update_hash, salt, n)
        svc.state.mark_committed(job_id, r)
        return update_hash, n

    def cancel_all(self) -> None:
        for fut in self._training.values():
            fut.cancel()
        self._training.clear()
        self.capacity.cancel_all()
