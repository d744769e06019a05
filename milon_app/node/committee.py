"""The validator role as a committee member: judge every update, vote once, confirm the model.

A node sits on a round's committee when the contract drew it (stake-weighted).
Its duty has two steps, each remembered in the state DB before the transaction
leaves, so a restart sends the same thing. Whether a step is done is read from
the chain (the seat's voted and confirmed flags), not from the state DB: one a
reorganisation dropped is sent again, with the same content.

1. **Verdict**: fetch every revealed update (within the job's size bound), judge
   each one with the verdict function on held-out data (its own or the owner's),
   submit one bitmap with a reason code per rejection.
2. **Confirmation**: once the committee's verdicts are tallied, aggregate the
   accepted set deterministically (the job's rule sets weights; clipped norms and
   sample counts) and confirm the resulting model hash. Every honest member gets
   the same bytes, so their confirmations meet.
"""

from __future__ import annotations

import hashlib
import logging
from typing import TYPE_CHECKING, Any

from milon_app.chain.bindings import Param, Round
from milon_app.chain.confirmations import confirmed_block
from milon_app.chain.errors import ContractRevert
from milon_app.chain.nonce_gap import dropped_came_back
from milon_app.compute.weights import decode_state
from milon_app.errors import MilonError
from milon_app.federation.clipping import aggregate_accepted
from milon_app.federation.evaluator import EvaluateFn
from milon_app.federation.fingerprints import JudgeHistory, delta_stats
from milon_app.federation.policy import Reason, VerdictPolicy
from milon_app.federation.types import ClientUpdate
from milon_app.federation.validation import Submission
from milon_app.federation.verdicts import judge_round
from milon_app.node import events as ev
from milon_app.node.jobs import JobContext, fetch_state, verdict_open

if TYPE_CHECKING:
    from collections.abc import Callable

    from milon_app.federation.types import AggregationResult
    from milon_app.federation.verdicts import DecodeFn, StatsFn
    from milon_app.node.services import RoleServices

    # make_evaluator's and aggregate_accepted's signatures (see Committee.evaluators)
    EvaluatorFactory = Callable[..., EvaluateFn]
    AggregateFn = Callable[..., AggregationResult]

log = logging.getLogger(__name__)
# A transaction the chain refuses because the step is already done (or can no longer be):
# our vote or confirmation landed before a restart, or the round closed meanwhile.
DONE_VOTE = frozenset({"AlreadyVoted", "RoundClosed", "VerdictClosed", "WrongRound"})
DONE_CONFIRM = frozenset({"AlreadyConfirmed", "RoundClosed", "ConfirmClosed", "WrongRound"})


class Committee:
    def __init__(self, services: RoleServices) -> None:
        self.services = services
        self._seated: dict[tuple[int, int], bool] = {}  # a round's committee never changes
        # What measures losses and aggregates; None: make_evaluator and aggregate_accepted.
        # A process that holds many committee members (the simulation) may give functions
        # that return the same results for the same inputs from one shared computation.
        self.evaluators: EvaluatorFactory | None = None
        self.aggregator: AggregateFn | None = None
        # The same for decoding an update and its round statistics (judge_round's decode_fn
        # and stats_fn); None: decode_state and delta_stats.
        self.decoder: DecodeFn | None = None
        self.stats: StatsFn | None = None

    def seated(self, job_id: int, r: int) -> bool:
        key = (job_id, r)
        if key not in self._seated:
            self._seated[key] = self.services.milon.seat(job_id, r, self.services.address).seated
        return self._seated[key]

    def step(self, ctx: JobContext, r: int, rnd: Round, now: int) -> None:
        if not self.seated(ctx.job_id, r):
            return
        me = self.services.address
        if rnd.tallied:
            if (
                rnd.accepted_bits
                and now <= rnd.confirm_deadline
                and not self.services.milon.seat(ctx.job_id, r, me).confirmed
            ):
                self._confirm(ctx, r, rnd)
        elif (
            verdict_open(rnd, now)
            and now <= rnd.verdict_deadline
            and not self.services.milon.seat(ctx.job_id, r, me).voted
            and self._verdict_open_confirmed(ctx.job_id, r)
        ):
            self._vote(ctx, r, rnd, now)

    def _verdict_open_confirmed(self, job_id: int, r: int) -> bool:
        """Whether the reveals are over as of the block ``confirmations`` deep: a vote
        judges the revealed set, which a reorganisation nearer the head could change."""
        client = self.services.milon.client
        if client.confirmations == 0:
            return True
        block = confirmed_block(client, client.confirmations)
        rnd = self.services.milon.round(job_id, r, block=block)
        return verdict_open(rnd, client.now(block))

    # -- verdicts -----------------------------------------------------------------------------
    def _vote(self, ctx: JobContext, r: int, rnd: Round, now: int) -> None:
        svc, job_id = self.services, ctx.job_id
        stored = svc.state.verdict(job_id, r)
        if stored is None:
            # An update that cannot be fetched yet (its author restarting, a slow link) is
            # retried on later ticks through the first half of the verdict window; only then
            # is it judged unavailable, which rejects it.
            patient = now < rnd.verdict_deadline - (rnd.verdict_deadline - rnd.reveal_deadline) // 2
            judged = self.judge(ctx, r, rnd, patient=patient)
            if judged is None:
                return
            bits, reasons, detail = judged
            svc.state.record_verdict(job_id, r, bits, reasons, detail)
        else:
            bits, reasons, detail, sent = stored
            if sent and dropped_came_back(self.services.milon.client, self.services.address):
                return  # the same verdict is back in the pool
        try:
            svc.milon.submit_verdict(svc.account, job_id, r, bits, reasons, rnd.member_count)
        except ContractRevert as exc:
            if exc.error_name == "VerdictNotOpen":
                return  # our clock ran ahead of the chain's; try on the next tick
            if exc.error_name not in DONE_VOTE:
                raise
        svc.state.mark_verdict_sent(job_id, r)
        svc.publish(
            ev.VerdictSubmitted(
                job_id=job_id,
                round=r,
                accepted=tuple(detail.get("accepted", [])),
                rejected=tuple(sorted(detail.get("rejected", {}).items())),
            )
        )

    def judge(
        self, ctx: JobContext, r: int, rnd: Round, *, patient: bool = False
    ) -> tuple[int, bytes, dict[str, Any]] | None:
        """(accept bitmap, one reason code per round member, readable detail) for round ``r``;
        None when ``patient`` and an update could not be fetched (try again later)."""
        svc = self.services
        members = svc.milon.round_members(ctx.job_id, r)
        submissions, unavailable = self._fetch_updates(ctx, r, rnd, members)
        if unavailable and patient:
            return None
        replayed = self._replays(ctx, r, submissions)
        submissions = [s for s in submissions if s.client_id not in replayed]
        base = fetch_state(
            rnd.base_model_hash.hex(), svc.transport, svc.store, svc.providers_for(ctx), ctx
        )
        history = self.history(ctx.job_id)
        val_data, device = svc.validation_data(ctx), svc.settings().device
        evaluate: EvaluateFn | None = None
        if self.evaluators is not None and val_data is not None:
            evaluate = self.evaluators(ctx.spec, val_data, device=device)
        verdicts = judge_round(
            base,
            submissions,
            evaluate_fn=evaluate,
            spec=None if evaluate else ctx.spec,
            val_data=None if evaluate else val_data,
            policy=self.policy(ctx),
            history=history,
            max_bytes=ctx.max_weights,
            device=device,
            decode_fn=self.decoder or decode_state,
            stats_fn=self.stats or delta_stats,
        )
        svc.state.set_judge_history(ctx.job_id, history.to_json())
        bits, reasons = 0, bytearray(len(members))
        accepted: list[str] = []
        rejected: dict[str, str] = {}
        for i, member in enumerate(members):
            if member in unavailable:
                reasons[i] = int(Reason.UNAVAILABLE)
                rejected[member] = unavailable[member]
            elif member in replayed:
                reasons[i] = int(Reason.REPLAY)
                rejected[member] = replayed[member]
            elif member in verdicts:
                v = verdicts[member]
                if v.reason is Reason.ACCEPTED:
                    bits |= 1 << i
                    accepted.append(member)
                else:
                    reasons[i] = int(v.reason)
                    rejected[member] = f"{v.reason.name.lower()}: {v.detail}"
        return bits, bytes(reasons), {"accepted": accepted, "rejected": rejected}

    def _replays(self, ctx: JobContext, r: int, submissions: list[Submission]) -> dict[str, str]:
        """Updates revealed in an earlier round of the job, whatever this judge remembers of
        it (the contract does not refuse them): rejected as replays, left out of the round."""
        earlier = self.services.milon.revealed_before(ctx.job_id, r)
        why = "replay: update revealed in an earlier round of the job"
        return {
            s.client_id: why
            for s in submissions
            if hashlib.sha256(bytes(s.update_bytes)).digest() in earlier
        }

    def _fetch_updates(
        self, ctx: JobContext, r: int, rnd: Round, members: list[str]
    ) -> tuple[list[Submission], dict[str, str]]:
        """Every revealed update, in the round's member order, each checked against its hash.

        Each update is fetched from its author by one seat, its *first fetcher* (the seats
        take the round's members in turn); the other seats ask that seat first and fall
        back on the author and the other seats. A seat fetches its own share first, so the
        others mostly find it there: an author serves its update about once instead of once
        a seat, and a seat opens one connection to each other seat instead of one to every
        author (at 64 members and 7 seats: 82 connections a round instead of 427; each
        cost py-libp2p ~40-60 ms of CPU). The hash makes any provider as good as the author.
        """
        svc, me = self.services, self.services.address
        seats = svc.milon.committee(ctx.job_id, r)
        seat_peers = {seat: svc.peers_of([seat]) for seat in seats if seat != me}
        holders = [p for peers in seat_peers.values() for p in peers]
        # (member index, member, providers): this seat's own share first, then the others'
        mine: list[tuple[int, str, list[str]]] = []
        others: list[tuple[int, str, list[str]]] = []
        for i, member in enumerate(members):
            if not rnd.revealed_bits >> i & 1:
                continue
            first = seats[i % len(seats)] if seats else me
            own = svc.peers_of([member])
            if first == me:
                mine.append((i, member, [*own, *holders]))
            else:
                near = seat_peers.get(first, [])
                rest = [p for p in holders if p not in near]
                others.append((i, member, [*near, *own, *rest]))
        found: dict[int, Submission] = {}
        unavailable: dict[str, str] = {}
        for i, member, providers in [*mine, *others]:
            a = svc.milon.assignment(ctx.job_id, r, member)
            digest = a.update_hash.hex()
            try:
                blob = self._blob(ctx, digest, providers)
            except MilonError as exc:
                unavailable[member] = f"update {digest[:12]} unavailable: {exc}"
                continue
            found[i] = Submission(member, blob, a.num_samples)
        return [found[i] for i in sorted(found)], unavailable

    def _blob(self, ctx: JobContext, digest: str, providers: list[str]) -> bytes:
        svc = self.services
        svc.transport.fetch(digest, kind="weights", providers=providers, max_bytes=ctx.max_weights)
        svc.store.pin(digest, ctx.pin)
        return svc.store.get(digest)

    def policy(self, ctx: JobContext) -> VerdictPolicy:
        """The verdict thresholds: the governed ones from the chain, the job's sample cap."""
        params = self.services.milon.params()
        return VerdictPolicy(
            min_improvement_bps=params[Param.MIN_IMPROVEMENT_BPS],
            sample_clip_bps=params[Param.SAMPLE_CLIP_BPS],
            max_samples=ctx.job.params.max_samples,
        )

    def history(self, job_id: int) -> JudgeHistory:
        """What this node's judge remembers of the job: replay sketches, the best loss."""
        data = self.services.state.judge_history(job_id)
        return JudgeHistory() if data is None else JudgeHistory.from_json(data)

    # -- confirmation -------------------------------------------------------------------------
    def _confirm(self, ctx: JobContext, r: int, rnd: Round) -> None:
        svc, job_id = self.services, ctx.job_id
        stored = svc.state.confirmation(job_id, r)
        if stored is None:
            digest = self.aggregate(ctx, r, rnd)
            svc.state.record_confirmation(job_id, r, digest)
        else:
            digest, sent = stored
            if sent and dropped_came_back(self.services.milon.client, self.services.address):
                return  # the same confirmation is back in the pool
        try:
            svc.milon.confirm(svc.account, job_id, r, bytes.fromhex(digest), rnd.member_count)
        except ContractRevert as exc:
            if exc.error_name not in DONE_CONFIRM:
                raise
        svc.state.mark_confirmation_sent(job_id, r)
        svc.publish(ev.ModelConfirmed(job_id=job_id, round=r, model_hash=digest))

    def aggregate(self, ctx: JobContext, r: int, rnd: Round) -> str:
        """The accepted set's aggregate, stored and announced; returns its digest."""
        svc = self.services
        base = fetch_state(
            rnd.base_model_hash.hex(), svc.transport, svc.store, svc.providers_for(ctx), ctx
        )
        members = svc.milon.round_members(ctx.job_id, r)
        holders = svc.peers_of(svc.milon.committee(ctx.job_id, r))
        updates: list[ClientUpdate] = []
        for i, member in enumerate(members):
            if not rnd.accepted_bits >> i & 1:
                continue
            a = svc.milon.assignment(ctx.job_id, r, member)
            blob = self._blob(ctx, a.update_hash.hex(), [*svc.peers_of([member]), *holders])
            state = (self.decoder or decode_state)(blob, max_bytes=ctx.max_weights)
            updates.append(ClientUpdate(member, state, a.num_samples))
        result = (self.aggregator or aggregate_accepted)(
            int(ctx.job.params.aggregation_rule),
            base,
            updates,
            max_samples=ctx.job.params.max_samples,
            sample_clip_bps=svc.milon.params()[Param.SAMPLE_CLIP_BPS],
        )
        digest = svc.store.put(result.encoded, "weights", owner=ctx.pin)
        svc.transport.provide(digest, announce=False)  # members ask the committee by name
        return digest
