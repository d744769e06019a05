"""Where a committee member's held-out data comes from, and how contributors keep it unseen.

Two sources, in order of preference:

1. **Owner-published validation shards** (``ctx.validation``): held-out samples the job
   owner lists in the job's dataset document. Every committee member judges on the same
   kind of data, which no contributor controls; with them, members train on all their data.
2. **A held-out split of the member's own data**: a fixed share of its local samples,
   chosen by a permutation seeded from its address, that it never trains on. Judges then
   differ in their data (skewed federations: very much so); the committee's weighted
   majority absorbs that honest disagreement.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from milon_app.errors import BadInputError

if TYPE_CHECKING:
    import torch

    from milon_app.node.jobs import JobContext
    from milon_app.p2p.transport import Transport
    from milon_app.store.blobs import BlobStore

HOLDOUT_FRACTION = 0.2  # of a member's own samples, when the owner published no validation data
MAX_VALIDATION_SAMPLES = 512  # a judge evaluates every update on at most this many samples
Samples = tuple["torch.Tensor", "torch.Tensor"]


def holdout_seed(address: str) -> int:
    """A stable per-member seed: the same split after every restart."""
    return int(address, 16) & 0xFFFF_FFFF


def split_holdout(x: torch.Tensor, y: torch.Tensor, seed: int) -> tuple[Samples, Samples]:
    """(training part, held-out part) of local samples; at least one sample on each side."""
    import torch

    from milon_app.compute.partition import stable_permutation

    n = int(x.shape[0])
    if n < 2:
        raise BadInputError(f"{n} local sample(s): too few to hold any out for validation")
    held = min(max(1, round(n * HOLDOUT_FRACTION)), MAX_VALIDATION_SAMPLES, n - 1)
    perm = torch.as_tensor(stable_permutation(n, seed))
    train, val = perm[held:].sort().values, perm[:held].sort().values
    return (x[train], y[train]), (x[val], y[val])


def owner_validation(
    ctx: JobContext, transport: Transport, store: BlobStore, providers: list[str]
) -> Samples:
    """The owner's validation shards of a job, fetched, checked and concatenated."""
    import torch

    from milon_app.node.shards import decode_samples

    parts = []
    for digest in ctx.validation:
        transport.fetch(digest, kind="shard", providers=providers)
        store.pin(digest, ctx.pin)
        data = store.get(digest)
        spec = ctx.spec
        parts.append(decode_samples(data, tuple(spec.input_shape), spec.num_classes, spec))
    x = torch.cat([p[0] for p in parts])[:MAX_VALIDATION_SAMPLES]
    y = torch.cat([p[1] for p in parts])[:MAX_VALIDATION_SAMPLES]
    return x, y
