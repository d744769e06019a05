"""The job owner's role: publish a job, drive its rounds, batch its members' commits and
reveals (:mod:`milon_app.node.batching`), evaluate and export the result."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from milon_app.chain.bindings import AggregationRule, JobParams, JobStatus, Round
from milon_app.chain.errors import ContractRevert
from milon_app.compute.datasets import DatasetSpec
from milon_app.compute.init_weights import initial_blob
from milon_app.compute.model_spec import ModelSpec
from milon_app.compute.trainer import evaluate
from milon_app.errors import NetworkError
from milon_app.node import events as ev
from milon_app.node.batching import Batcher
from milon_app.node.jobs import JobContext, fetch_state, pin_owner
from milon_app.node.privacy_budget import job_rounds

if TYPE_CHECKING:
    import torch

    from milon_app.node.services import RoleServices

log = logging.getLogger(__name__)
_FEW = (
    "waiting for members: a round needs at least two active members in the job's federation "
    "(every update is judged by members other than its author)"
)
_GONE = "round {r}'s model is no longer served by anyone: recorded without an accuracy"


@dataclass(frozen=True)
class JobRequest:
    fed_id: int
    spec: ModelSpec
    dataset: DatasetSpec
    total_epochs: int
    epochs_per_round: int
    reward_per_epoch: int
    rule: AggregationRule = AggregationRule.FEDAVG
    committee_size: int = 0  # 0: the governed default (all members when fewer)
    round_duration_s: int = 600
    seed: int = 0
    shared_shards: int = 0  # > 0: shared-data job, the owner's data split into this many shards
    max_samples: int = 0  # bound on an update's sample count in aggregation weights (0: none)
    # Held-out samples the owner publishes for the committee to judge on (never trained on).
    validation: tuple[torch.Tensor, torch.Tensor] | None = field(default=None, compare=False)
    # Safetensors bytes to start from (fine-tuning) instead of ``spec.build(seed)``; checked
    # against the spec before anything is stored or sent, then published byte for byte.
    init_weights: bytes | None = field(default=None, compare=False, repr=False)


class Owner:
    def __init__(self, services: RoleServices) -> None:
        self.services = services
        self.eval_data: tuple[torch.Tensor, torch.Tensor] | None = None
        # per-job held-out data when jobs differ in dataset (the app); eval_data wins if set
        self.eval_source: Callable[[JobContext], tuple[torch.Tensor, torch.Tensor]] | None = None
        self._waiting: set[int] = set()  # jobs told they wait for members
        self._privacy_done: set[int] = set()  # client-dp jobs whose planned rounds all ran
        self.batcher = Batcher(services)  # the members' commits and openings, sent in batches

    @property
    def busy(self) -> bool:
        return self.batcher.busy

    def create_job(self, req: JobRequest) -> int:
        svc = self.services
        req.spec.privacy.check_job(req.total_epochs)  # dp-sgd's max_epochs fits the job
        limit = svc.store.limit("weights")  # what members will accept to fetch
        initial = initial_blob(req.spec, req.seed, req.init_weights, max_bytes=limit)
        spec_blob = req.spec.to_json().encode()
        published: list[str] = []  # every blob of the job, pinned to it once it has an id
        data_blob = self._dataset_doc(req, published).encode()
        digests = []
        for blob, kind in (
            (spec_blob, "model_spec"),
            (data_blob, "dataset_spec"),
            (initial, "weights"),
        ):
            digest = svc.store.put(blob, kind, owner="owner")
            svc.transport.provide(digest)
            published.append(digest)
            digests.append(bytes.fromhex(digest))
        params = JobParams(
            fed_id=req.fed_id,
            model_spec_hash=digests[0],
            dataset_spec_hash=digests[1],
            initial_model_hash=digests[2],
            total_epochs=req.total_epochs,
            epochs_per_round=req.epochs_per_round,
            reward_per_epoch=req.reward_per_epoch,
            aggregation_rule=req.rule,
            committee_size=req.committee_size,
            round_duration=req.round_duration_s,
            max_samples=req.max_samples,
        )
        job_id = svc.milon.create_job(svc.account, params)
        for digest in published:
            svc.store.pin(digest, pin_owner(job_id))
        svc.state.record_job(job_id, req.fed_id, "owner", {"seed": req.seed})
        svc.publish(
            ev.JobCreated(
                job_id=job_id,
                fed_id=req.fed_id,
                total_epochs=req.total_epochs,
                escrow=params.escrow,
            )
        )
        return job_id

    def _dataset_doc(self, req: JobRequest, published: list[str]) -> str:
        """Federated: the spec of what members hold. Shared: publish shards, list them.
        Either way, owner-published validation samples are listed for the committee; in
        shared mode they are held out of the owner's data, so no shard contains them."""
        from milon_app.node.shards import FederatedData, SharedData, encode_shard, make_shards

        held = req.validation
        if req.shared_shards <= 0:
            if held is None:
                return req.dataset.to_json()
            validation = (self._publish(encode_shard(*held), published),)
            return FederatedData(req.dataset, validation).to_json()
        from milon_app.compute.datasets import load_dataset
        from milon_app.node.validation_data import split_holdout

        data = load_dataset(req.dataset).for_model(req.spec)
        x, y = data.x_train, data.y_train
        if held is None:
            (x, y), held = split_holdout(x, y, req.seed)
        validation = (self._publish(encode_shard(*held), published),)
        digests = tuple(
            self._publish(encode_shard(sx, sy), published)
            for sx, sy in make_shards(x, y, req.shared_shards, req.seed)
        )
        shape = tuple(req.spec.input_shape)
        return SharedData(req.dataset, digests, data.num_classes, shape, validation).to_json()

    def _publish(self, blob: bytes, published: list[str]) -> str:
        digest = self.services.store.put(blob, "shard", owner="owner")
        self.services.transport.provide(digest)
        published.append(digest)
        return digest

    def step(self, ctx: JobContext) -> None:
        """Record finished rounds and open the next one; batch the round in progress."""
        svc = self.services
        job = ctx.job
        r = job.current_round
        if r > 0:
            rnd = svc.milon.round(ctx.job_id, r)
            if rnd.finalized or rnd.timed_out:
                self._record_round(ctx, r, rnd.new_model_hash.hex() if rnd.finalized else "")
            else:
                self._batch(ctx.job_id, r, rnd)
                return
        if job.status is not JobStatus.OPEN:
            return
        if ctx.spec.privacy.enabled and r >= job_rounds(ctx):
            # every planned round was released: one more would break the job's (epsilon, delta)
            # promise, and every member declines it; the owner cancels for the rest of the escrow
            if ctx.job_id not in self._privacy_done:
                self._privacy_done.add(ctx.job_id)
                svc.publish(
                    ev.PrivacyPlanSpent(
                        job_id=ctx.job_id, rounds=r, epsilon=ctx.spec.privacy.epsilon
                    )
                )
            return
        try:
            svc.milon.start_round(svc.account, ctx.job_id)
        except ContractRevert as exc:
            if exc.error_name == "TooFewMembers":  # wait for a second member, say so once
                if ctx.job_id not in self._waiting:
                    self._waiting.add(ctx.job_id)
                    svc.publish(ev.NodeError(where=f"job {ctx.job_id}", message=_FEW))
                return
            if exc.error_name not in ("RoundInProgress", "JobNotOpen"):
                raise
        self._waiting.discard(ctx.job_id)

    def _batch(self, job_id: int, r: int, rnd: Round) -> None:
        svc = self.services
        batcher = self.batcher
        if not batcher.holding:
            return  # nothing arrived: no chain read
        batcher.step(job_id, r, rnd, svc.milon.client.now(), self._owns)

    def _owns(self, job_id: int) -> bool:
        info = self.services.state.job_info(job_id)
        return info is not None and info[0] == "owner"

    def _record_round(self, ctx: JobContext, r: int, model_hash: str) -> None:
        svc = self.services
        if any(rr[0] == r for rr in svc.state.round_results(ctx.job_id)):
            return
        accuracy = None
        data = self.eval_data
        if data is None and self.eval_source is not None and model_hash:
            data = self.eval_source(ctx)
        info: dict[str, str] = {}
        if model_hash and data is not None:
            providers = svc.providers_for(ctx)
            try:
                state = fetch_state(model_hash, svc.transport, svc.store, providers, ctx)
            except NetworkError as exc:
                if ctx.job.status is JobStatus.OPEN:
                    raise  # its members are about: the next tick tries again
                # an ended job's model may be gone with its members (a new node for an old
                # account): its history is kept without an accuracy, not retried every tick
                info["unevaluated"] = str(exc)
                svc.publish(ev.NodeError(where=f"job {ctx.job_id}", message=_GONE.format(r=r)))
            else:
                _, accuracy = evaluate(ctx.spec, state, *data, device=svc.settings().device)
        svc.state.record_round_result(ctx.job_id, r, model_hash, accuracy, info)
        if accuracy is not None:
            svc.publish(ev.RoundEvaluated(job_id=ctx.job_id, round=r, accuracy=accuracy))

    def download(self, ctx: JobContext, dest: Path, onnx: bool = True) -> list[Path]:
        """Fetch the final (or current) global model and export it for deployment."""
        from milon_app.node.export import export_model

        svc = self.services
        job = ctx.job
        digest = (
            job.final_model_hash if job.status is JobStatus.COMPLETED else job.global_model_hash
        ).hex()
        state = fetch_state(digest, svc.transport, svc.store, svc.providers_for(ctx), ctx)
        return export_model(ctx.spec, state, dest, onnx=onnx)
