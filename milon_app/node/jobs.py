"""What a node knows about one job: its params, model spec, dataset spec and phase rules.

The phase predicates mirror the contract's (``_commitClosed``, ``_verdictOpen``
and the keepers' conditions) so a node acts as soon as the chain allows and
never sends a transaction that must revert.
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


def acceptance_closed(rnd: Round) -> bool:
    """Every assigned member answered (or lapsed): epochs are final, training may start."""
    return rnd.assigned_count == 0


def commit_closed(rnd: Round, now: int) -> bool:
    if now > rnd.commit_deadline:
        return True
    return rnd.assigned_count == 0 and rnd.committed_count == rnd.accepted_count


def verdict_open(rnd: Round, now: int) -> bool:
    if now > rnd.reveal_deadline:
        return True
    return commit_closed(rnd, now) and rnd.revealed_count == rnd.committed_count


def acceptance_lapsed(rnd: Round, now: int) -> bool:
    """Members left the accept window unanswered while others accepted: lapse them."""
    return now > rnd.accept_deadline and rnd.assigned_count > 0 and rnd.accepted_count > 0


def verdicts_closable(rnd: Round, now: int) -> bool:
    """The committee's time is up, or there is nothing to judge: anyone may tally."""
    if rnd.tallied or rnd.closed:
        return False
    nothing = verdict_open(rnd, now) and rnd.revealed_count == 0
    return nothing or now > rnd.verdict_deadline


def round_stuck(rnd: Round, now: int) -> bool:
    if rnd.closed:
        return False
    nobody = now > rnd.accept_deadline and rnd.accepted_count == 0
    return now > rnd.confirm_deadline or nobody


# safetensors framing on top of the raw tensor bytes: 8-byte length, then a JSON header with
# a name, dtype, shape and offsets per tensor.
HEADER_SLACK_BYTES = 4096
HEADER_SLACK_PER_TENSOR = 512


def weights_limit(spec: ModelSpec) -> int:
    """The largest weights blob a job's model can produce: its tensors plus header slack.

    Anything bigger is refused while it streams in, whatever the global store limit.
    """
    state = spec.build(0).state_dict()
    raw = sum(int(t.numel()) * int(t.element_size()) for t in state.values())
    return raw + HEADER_SLACK_BYTES + HEADER_SLACK_PER_TENSOR * len(state)


@dataclass
class JobContext:
    job_id: int
    job: Job
    spec: ModelSpec
    dataset: DatasetSpec | SharedData  # what members hold (federated), or the owner's shards
    max_weights: int = 0  # weights blobs of this job are refused above this size
    validation: tuple[str, ...] = ()  # owner-published held-out shards the committee judges on

    @classmethod
    def load(
        cls, job_id: int, job: Job, transport: Transport, store: BlobStore, providers: list[str]
    ) -> JobContext:
        spec_digest = job.params.model_spec_hash.hex()
        data_digest = job.params.dataset_spec_hash.hex()
        pin = pin_owner(job_id)
        for digest, kind in ((spec_digest, "model_spec"), (data_digest, "dataset_spec")):
            transport.fetch(digest, kind=kind, providers=providers)
            store.pin(digest, pin)
        spec = ModelSpec.from_json(store.get(spec_digest))
        doc = parse_dataset_doc(store.get(data_digest))
        return cls(job_id, job, spec, doc.dataset, weights_limit(spec), doc.validation)

    @property
    def shared(self) -> SharedData | None:
        return self.dataset if isinstance(self.dataset, SharedData) else None

    @property
    def pin(self) -> str:
        return pin_owner(self.job_id)


def pin_owner(job_id: int) -> str:
    """The pin every blob of a job carries: it keeps the blob and decides who may fetch it."""
    return f"job:{job_id}"


def fetch_state(
    digest: str, transport: Transport, store: BlobStore, providers: list[str], ctx: JobContext
) -> dict[str, torch.Tensor]:
    """A model state of ``ctx``'s job by hash: fetched if needed (within the job's size
    bound), pinned to the job, refused if malformed or non-finite."""
    from milon_app.compute.weights import decode_state

    limit = ctx.max_weights or store.limit("weights")
    transport.fetch(digest, kind="weights", providers=providers, max_bytes=limit)
    store.pin(digest, ctx.pin)
    return decode_state(store.get(digest), max_bytes=limit)
