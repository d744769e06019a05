"""What a node knows about one job: its params, model spec, dataset spec and phase rules.

The phase predicates mirror the contract's (``_commitClosed`` and the
proposal condition) so a node acts as soon as the chain allows and never
sends a transaction that must revert.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from milon_app.chain.bindings import Job, Round
from milon_app.compute.datasets import DatasetSpec
from milon_app.compute.model_spec import ModelSpec
from milon_app.node.shards import SharedData, parse_dataset_doc
from milon_app.store.blobs import BlobStore

if TYPE_CHECKING:
    import torch

    from milon_app.p2p.transport import Transport


def commit_closed(rnd: Round, now: int) -> bool:
    if now > rnd.commit_deadline:
        return True
    accept_done = now > rnd.accept_deadline or rnd.assigned_count == 0
    return accept_done and rnd.committed_count == rnd.accepted_count


def proposal_open(rnd: Round, now: int) -> bool:
    if now > rnd.reveal_deadline:
        return True
    return commit_closed(rnd, now) and rnd.revealed_count == rnd.committed_count


def round_stuck(rnd: Round, now: int) -> bool:
    if rnd.finalized or rnd.timed_out:
        return False
    nobody = now > rnd.accept_deadline and rnd.accepted_count == 0
    return now > rnd.proposal_deadline or nobody


@dataclass
class JobContext:
    job_id: int
    job: Job
    spec: ModelSpec
    dataset: DatasetSpec | SharedData  # what members hold (federated), or the owner's shards

    @classmethod
    def load(
        cls, job_id: int, job: Job, transport: Transport, store: BlobStore, providers: list[str]
    ) -> JobContext:
        spec_digest = job.params.model_spec_hash.hex()
        data_digest = job.params.dataset_spec_hash.hex()
        transport.fetch(spec_digest, kind="model_spec", providers=providers)
        transport.fetch(data_digest, kind="dataset_spec", providers=providers)
        spec = ModelSpec.from_json(store.get(spec_digest))
        dataset = parse_dataset_doc(store.get(data_digest))
        return cls(job_id, job, spec, dataset)

    @property
    def shared(self) -> SharedData | None:
        return self.dataset if isinstance(self.dataset, SharedData) else None


def fetch_state(
    digest: str, transport: Transport, store: BlobStore, providers: list[str]
) -> dict[str, torch.Tensor]:
    """A model state by hash, fetched if needed, refused if malformed or non-finite."""
    from milon_app.compute.weights import decode_state

    transport.fetch(digest, kind="weights", providers=providers)
    return decode_state(store.get(digest), max_bytes=store.limit("weights"))
