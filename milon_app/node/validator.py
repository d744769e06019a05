"""The validator role: fetch revealed updates, check them, aggregate, propose.

Every validator runs the same deterministic pipeline (screening, the job's
rule, outlier rejection, re-aggregation over the accepted set), so honest
validators propose the same (model hash, accepted set) and reach the
contract's quorum without talking to each other.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from milon_app.chain.bindings import AggregationRule, AssignmentState, Round
from milon_app.chain.errors import ContractRevert
from milon_app.errors import BadInputError, MilonError
from milon_app.federation.aggregation import make_aggregator
from milon_app.federation.screening import outliers, screen_submissions
from milon_app.federation.types import AggregationResult, ClientUpdate
from milon_app.federation.validation import Submission, ValFn, validate_and_aggregate
from milon_app.node import events as ev
from milon_app.node.jobs import JobContext, fetch_state, proposal_open

if TYPE_CHECKING:
    import torch

    from milon_app.federation.types import Aggregator
    from milon_app.node.core import NodeCore

log = logging.getLogger(__name__)
ROBUST = {AggregationRule.MEDIAN, AggregationRule.TRIMMED_MEAN}
DEFAULT_NORM_BOUND = 1e4
VAL_SAMPLES = 512
LOSS_FACTOR = 1.5
LOSS_MARGIN = 0.5


def loss_limit(base_loss: float) -> float:
    """The worst validation loss an update may have, given the base model's.

    Generous on purpose: honest updates on other members' data may do a
    little worse on this validator's data; a sign-flipped, noised or
    label-flipped update does far worse.
    """
    return LOSS_FACTOR * base_loss + LOSS_MARGIN


def aggregator_for(rule: AggregationRule, n: int) -> Aggregator:
    """The job's rule with parameters derived only from the number of updates."""
    if rule in (AggregationRule.KRUM, AggregationRule.MULTI_KRUM):
        f = max(0, (n - 3) // 2)
        if rule is AggregationRule.KRUM:
            return make_aggregator(int(rule), f=f)
        return make_aggregator(int(rule), f=f, m=max(1, n - f))
    if rule is AggregationRule.TRIMMED_MEAN:
        return make_aggregator(int(rule), beta=0.2)
    return make_aggregator(int(rule))


class Validator:
    def __init__(self, node: NodeCore) -> None:
        self.node = node

    def step(self, ctx: JobContext, r: int, rnd: Round, now: int) -> None:
        node = self.node
        if not proposal_open(rnd, now) or now > rnd.proposal_deadline:
            return
        stored = node.state.proposal(ctx.job_id, r)
        if stored is not None and stored[3]:
            return
        if node.milon.has_proposed(ctx.job_id, r, node.address):
            return
        if stored is None:
            model_hash, accepted, rejected = self.decide(ctx, r, rnd)
            node.state.record_proposal(ctx.job_id, r, model_hash, accepted, rejected)
        else:
            model_hash, accepted, rejected, _ = stored
        try:
            members = len(node.milon.round_members(ctx.job_id, r))
            node.milon.propose(
                node.account, ctx.job_id, r, bytes.fromhex(model_hash), accepted, members
            )
        except ContractRevert as exc:
            if exc.error_name == "ProposalNotOpen":
                return  # our clock ran ahead of the chain's; try on the next tick
            # Other validators may have finalized the round between our check and our
            # transaction (a lost race, not an error): then there is nothing left to do.
            closed = exc.error_name in ("RoundClosed", "AlreadyProposed", "WrongRound")
            rnd_now = node.milon.round(ctx.job_id, r)
            if closed or rnd_now.finalized or rnd_now.timed_out:
                node.state.mark_proposal_sent(ctx.job_id, r)
                return
            raise
        node.state.mark_proposal_sent(ctx.job_id, r)
        node.publish(
            ev.ProposalSubmitted(
                job_id=ctx.job_id, round=r, model_hash=model_hash, accepted=tuple(accepted)
            )
        )

    def decide(self, ctx: JobContext, r: int, rnd: Round) -> tuple[str, list[str], dict[str, str]]:
        """(new model hash, accepted members, rejected member -> reason) for this round."""
        node = self.node
        base = rnd.base_model_hash.hex()
        global_state = fetch_state(base, node.transport, node.store, node.providers_for(ctx))
        revealed: dict[str, tuple[str, int]] = {}
        for member in node.milon.round_members(ctx.job_id, r):
            a = node.milon.assignment(ctx.job_id, r, member)
            if a.state is AssignmentState.REVEALED:
                revealed[member] = (a.update_hash.hex(), a.num_samples)
        rejected = screen_submissions(global_state, {m: d for m, (d, _) in revealed.items()}, base)
        submissions: list[Submission] = []
        for member, (digest, n) in sorted(revealed.items()):
            if member in rejected:
                continue
            try:
                node.transport.fetch(digest, kind="weights", providers=node.peers_of([member]))
                blob = node.store.get(digest)
            except MilonError as exc:
                rejected[member] = f"update {digest[:12]} unavailable: {exc}"
                continue
            submissions.append(Submission(member, blob, n))
        model_hash, accepted = base, list[str]()
        if submissions:
            model_hash, accepted, more = self._aggregate(ctx, base, global_state, submissions)
            rejected.update(more)
        node.publish(
            ev.UpdatesValidated(
                job_id=ctx.job_id,
                round=r,
                accepted=tuple(accepted),
                rejected=tuple(sorted(rejected.items())),
                model_hash=model_hash,
            )
        )
        return model_hash, sorted(accepted, key=lambda a: int(a, 16)), rejected

    def _loss_check(
        self, ctx: JobContext, global_state: dict[str, torch.Tensor]
    ) -> tuple[Any, float | None]:
        """A validation-loss check on this validator's own data, when it has some.

        It is what catches a bad update that has no company: outlier screening
        needs at least three updates to compare.
        """
        node = self.node
        if node.data is None and ctx.shared is None:
            return None, None
        from milon_app.compute.trainer import evaluate

        x, y = node.training_data(ctx, ctx.job.current_round)
        x, y = x[:VAL_SAMPLES], y[:VAL_SAMPLES]
        base_loss, _ = evaluate(ctx.spec, global_state, x, y, device=node.device)

        def val_fn(state: Any) -> float:
            return evaluate(ctx.spec, state, x, y, device=node.device)[0]

        return val_fn, loss_limit(base_loss)

    def _aggregate(
        self,
        ctx: JobContext,
        base: str,
        global_state: dict[str, torch.Tensor],
        submissions: list[Submission],
    ) -> tuple[str, list[str], dict[str, str]]:
        node = self.node
        val_fn, max_loss = self._loss_check(ctx, global_state)
        result, rejected = judge_updates(
            ctx.job.params.aggregation_rule,
            global_state,
            submissions,
            max_bytes=node.store.limit("weights"),
            val_fn=val_fn,
            max_loss=max_loss,
        )
        if result is None:  # nothing valid: keep the global model, pay nobody
            return base, [], rejected
        digest = node.store.put(result.encoded, "weights", owner=f"job:{ctx.job_id}")
        node.transport.provide(digest)
        accepted = [a for a in result.accepted if a not in rejected]
        return digest, accepted, rejected


def judge_updates(
    rule: AggregationRule,
    global_state: dict[str, torch.Tensor],
    submissions: list[Submission],
    *,
    max_bytes: int,
    val_fn: ValFn | None = None,
    max_loss: float | None = None,
) -> tuple[AggregationResult | None, dict[str, str]]:
    """Check every update, aggregate with the job's rule, drop outliers of robust rules.

    The validator's whole decision short of fetching (also what the robustness
    benchmark runs): (new model or None when nothing passed, rejected -> reason).
    """
    try:
        outcome = validate_and_aggregate(
            aggregator_for(rule, len(submissions)),
            global_state,
            submissions,
            max_bytes=max_bytes,
            norm_bound=DEFAULT_NORM_BOUND,
            val_fn=val_fn,
            max_val_loss=max_loss,
        )
    except BadInputError as exc:
        return None, {s.client_id: str(exc) for s in submissions}
    result, rejected = outcome.result, dict(outcome.result.rejected)
    if rule in ROBUST:
        valid = [
            ClientUpdate(
                cid, o.state, next(s.num_samples for s in submissions if s.client_id == cid)
            )
            for cid, o in sorted(outcome.outcomes.items())
            if o.ok and o.state is not None
        ]
        far = outliers(result.state, valid)
        if far:
            rejected.update(far)
            keep = [u for u in valid if u.client_id not in far]
            result = aggregator_for(rule, len(keep)).aggregate(global_state, keep)
    return result, rejected
