"""``milon job list|create|download``: training jobs as their owner and members see them.

``job show`` (a round's phase, committee and verdicts) is in :mod:`milon_app.cli.cmd_job_show`.

Specs never go on chain: their bytes go into the local blob store (so this
node can serve them to members) and only their sha256 is recorded. Once the
job has its id, the blobs are pinned to it: the node serves a blob only to
those with a part in a job it is pinned to.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING, Any

from milon_app.cli import chain_session as S
from milon_app.cli.context import Context
from milon_app.cli.privacy_args import add_dp_arguments, apply_privacy, privacy_text
from milon_app.cli.registry import REGISTRY
from milon_app.compute.privacy_spec import option_message
from milon_app.errors import BadInputError, NotFoundError
from milon_app.federation.types import RULE_NAMES
from milon_app.session.privacy_view import setting_summary

if TYPE_CHECKING:
    from milon_app.chain.bindings import Job, Milon
    from milon_app.compute.datasets import DatasetSpec
    from milon_app.compute.model_spec import ModelSpec
    from milon_app.store.blobs import BlobStore

REGISTRY.group(("job",), "training jobs: list, inspect, create, download the result")

RULES = tuple(RULE_NAMES)
PIN_OWNER = "owner"  # the same pin owner the node's job-owner role uses
ZERO = b"\0" * 32


def milon_of(ctx: Context, args: argparse.Namespace) -> Milon:
    from milon_app.chain.bindings import Milon

    _client, suite = S.open_chain(ctx, args)
    return Milon(suite)


def existing_job(m: Milon, text: str) -> int:
    job_id = S.positive_int(text, "job id")
    count = m.job_count()
    if job_id > count:
        known = f"1..{count}" if count else "none yet: create one with `milon job create`"
        raise NotFoundError(f"job {job_id} does not exist (known: {known})")
    return job_id


def _blob_store(ctx: Context) -> BlobStore:
    """The store the node (``milon --daemon``) serves from: ``<node.data_dir or data>/blobs``."""
    from milon_app.store.blobs import BlobStore

    return BlobStore(ctx.data_dir / "blobs")


def job_row(job_id: int, j: Job) -> dict[str, Any]:
    p = j.params
    return {
        "id": job_id,
        "federation": p.fed_id,
        "owner": j.owner,
        "status": j.status.name.lower(),
        "epochs_done": j.epochs_done,
        "total_epochs": p.total_epochs,
        "epochs_per_round": p.epochs_per_round,
        "current_round": j.current_round,
        "reward_per_epoch": S.format_amount(p.reward_per_epoch),
        "escrow_remaining": S.format_amount(j.escrow_remaining),
        "rule": p.aggregation_rule.name.lower().replace("_", "-"),
        "committee_size": p.committee_size,  # 0: the governed default
        "max_samples": p.max_samples,  # 0: no bound
        "round_duration_s": p.round_duration,
        "model_spec_hash": p.model_spec_hash.hex(),
        "dataset_spec_hash": p.dataset_spec_hash.hex(),
        "initial_model_hash": p.initial_model_hash.hex(),
        "global_model_hash": j.global_model_hash.hex(),
        "final_model_hash": j.final_model_hash.hex() if j.final_model_hash != ZERO else None,
    }


# ---------------------------------------------------------------- list / show


def _configure_list(p: argparse.ArgumentParser) -> None:
    p.add_argument("--fed", metavar="ID", help="only jobs of this federation")
    S.add_chain_args(p, account="none")


@REGISTRY.command("job", "list", summary="list training jobs", configure=_configure_list)
def _list(args: argparse.Namespace, ctx: Context) -> int:
    fed = None if args.fed is None else S.positive_int(args.fed, "--fed")
    m = milon_of(ctx, args)
    rows = [job_row(i, m.job(i)) for i in range(1, m.job_count() + 1)]
    rows = [r for r in rows if fed is None or r["federation"] == fed]

    def human(data: list[dict[str, Any]]) -> str:
        if not data:
            return "no jobs" + (f" in federation {fed}" if fed is not None else "")
        cols = ("id", "fed", "status", "epochs", "round", "reward/epoch", "escrow left", "rule")
        return S.table(
            "Training jobs",
            cols,
            (
                (
                    r["id"],
                    r["federation"],
                    r["status"],
                    f"{r['epochs_done']}/{r['total_epochs']}",
                    r["current_round"],
                    r["reward_per_epoch"],
                    r["escrow_remaining"],
                    r["rule"],
                )
                for r in data
            ),
        )

    ctx.emit(rows, human)
    return 0


# ---------------------------------------------------------------- create


def _configure_create(p: argparse.ArgumentParser) -> None:
    p.add_argument("--fed", required=True, metavar="ID", help="federation that trains the job")
    p.add_argument(
        "--model",
        required=True,
        metavar="SPEC",
        help="digits-mlp, digits-cnn or a model spec JSON file",
    )
    p.add_argument(
        "--dataset",
        required=True,
        metavar="DATA",
        help="digits, wine, breast_cancer or a dataset spec JSON file",
    )
    p.add_argument("--epochs", required=True, metavar="N", help="total epochs to train")
    p.add_argument("--epochs-per-round", metavar="N", help="epochs split over a round (default 1)")
    p.add_argument(
        "--reward-per-epoch",
        required=True,
        metavar="AMOUNT",
        help="MILON paid per accepted epoch; epochs x reward is escrowed now",
    )
    p.add_argument("--rule", choices=RULES, default="fedavg", help="aggregation rule")
    p.add_argument(
        "--committee",
        default="0",
        metavar="N",
        help="validator committee size, within the governed bounds (default 0: the governed "
        "default; every active member when there are fewer)",
    )
    p.add_argument(
        "--max-samples",
        default="0",
        metavar="N",
        help="cap on the sample count an update weighs with in aggregation (default 0: none)",
    )
    p.add_argument(
        "--round-duration", default="600", metavar="SECONDS", help="training window (600)"
    )
    p.add_argument("--seed", type=int, default=0, help="seed of the initial weights (0)")
    add_dp_arguments(p)
    start = p.add_mutually_exclusive_group()
    start.add_argument(
        "--init-weights",
        metavar="FILE",
        help="start from these weights (a .safetensors file that fits the model spec exactly: "
        "names, shapes, dtypes) instead of a fresh init",
    )
    start.add_argument(
        "--init-from-job",
        metavar="ID",
        help="start from the final model of a completed job with the same model spec "
        "(its blob must be in the local store)",
    )
    S.add_chain_args(p)


def resolve_model(text: str) -> ModelSpec:
    from milon_app.compute.model_choice import resolve_model as resolve

    return resolve(text)


def resolve_dataset(text: str) -> DatasetSpec:
    from milon_app.compute.datasets import BUILTINS, DatasetSpec

    name = text.replace("-", "_")
    if name in BUILTINS:
        return DatasetSpec(kind="builtin", name=name)
    path = Path(text).expanduser()
    if not path.is_file():
        raise NotFoundError(
            f"dataset {text!r} is neither a built-in ({', '.join(BUILTINS)}) nor a spec file"
        )
    try:
        return DatasetSpec.from_json(path.read_bytes())
    except BadInputError as exc:
        raise BadInputError(f"{path}: {exc}") from None


def weights_of_job(m: Milon, store: BlobStore, spec: ModelSpec, text: str) -> bytes:
    """The final model of completed job ``text``, if its spec is ``spec`` and we hold it."""
    from milon_app.chain.bindings import JobStatus

    job_id = existing_job(m, text)
    job = m.job(job_id)
    if job.status is not JobStatus.COMPLETED:
        raise BadInputError(
            f"--init-from-job {job_id}: the job is {job.status.name.lower()}, not completed; "
            "it has no final model yet"
        )
    theirs = job.params.model_spec_hash.hex()
    if theirs != spec.spec_hash():
        raise BadInputError(
            f"--init-from-job {job_id}: its model spec {theirs[:12]} differs from this job's "
            f"{spec.spec_hash()[:12]}; --model must name the same spec"
        )
    digest = job.final_model_hash.hex()
    if not store.has(digest):
        raise NotFoundError(
            f"--init-from-job {job_id}: its final model {digest} is not in the local store "
            f"{store.root}; run the node to fetch it, or pass the file with --init-weights"
        )
    return store.get(digest)


def check_committee(m: Milon, size: int) -> None:
    """0 (the governed default) or within [committee-min, committee-max] as governed now."""
    from milon_app.chain.bindings import Param

    if size == 0:
        return
    params = m.params()
    low, high = params[Param.COMMITTEE_MIN], params[Param.COMMITTEE_MAX]
    if not low <= size <= high:
        raise BadInputError(
            f"--committee {size} is outside the governed bounds {low}..{high} "
            f"(or 0 for the default, {params[Param.COMMITTEE_DEFAULT]})"
        )


@REGISTRY.command(
    "job",
    "create",
    summary="publish a training job and escrow its rewards",
    configure=_configure_create,
)
def _create(args: argparse.Namespace, ctx: Context) -> int:
    from milon_app.chain.bindings import AggregationRule, JobParams
    from milon_app.compute.init_weights import initial_blob, read_weights_file
    from milon_app.node.jobs import pin_owner
    from milon_app.store.blobs import DEFAULT_LIMITS

    fed = S.positive_int(args.fed, "--fed")
    epochs = S.positive_int(args.epochs, "--epochs", maximum=2**32 - 1)
    per_round = S.positive_int(args.epochs_per_round or "1", "--epochs-per-round", maximum=epochs)
    reward = S.parse_amount(args.reward_per_epoch, "--reward-per-epoch")
    if reward == 0:
        raise BadInputError("--reward-per-epoch must be more than 0")
    committee = S.positive_int(args.committee, "--committee", minimum=0, maximum=255)
    max_samples = S.positive_int(args.max_samples, "--max-samples", minimum=0, maximum=2**64 - 1)
    round_s = S.positive_int(args.round_duration, "--round-duration", maximum=30 * 86400)
    spec, dataset = apply_privacy(resolve_model(args.model), args), resolve_dataset(args.dataset)
    try:  # dp-sgd's --dp-max-epochs (or a spec's max_epochs) within the job's epochs
        spec.privacy.check_job(epochs)
    except BadInputError as exc:
        raise BadInputError(f"{option_message(str(exc))} (--epochs)") from None
    # the accountant refuses a client-dp target it cannot meet
    privacy = setting_summary(spec.privacy, epochs, per_round)
    # the store is opened (and its folder created) only once every check has passed
    limit, source = DEFAULT_LIMITS["weights"], f"seed {args.seed}"
    given = None
    if args.init_weights:  # checked before the chain is even asked
        source = str(Path(args.init_weights).expanduser())
        given = read_weights_file(source, max_bytes=limit)
    initial = initial_blob(spec, args.seed, given, source=source, max_bytes=limit)
    m = milon_of(ctx, args)
    check_committee(m, committee)
    if args.init_from_job:
        source = f"job {args.init_from_job}'s final model"
        given = weights_of_job(m, _blob_store(ctx), spec, args.init_from_job)
        initial = initial_blob(spec, args.seed, given, source=source, max_bytes=limit)
    if fed > m.federation_count():
        raise NotFoundError(f"federation {fed} does not exist (see `milon fed list`)")
    sender = S.signer(ctx, args, m.client)
    escrow = epochs * reward
    balance = m.balance(sender.address)
    if balance < escrow:
        raise BadInputError(
            f"the job escrows {S.format_amount(escrow)} MILON ({epochs} epochs x "
            f"{args.reward_per_epoch}) but {sender.address} holds {S.format_amount(balance)}"
        )
    store = _blob_store(ctx)
    digests = [
        store.put(spec.to_json().encode(), "model_spec", owner=PIN_OWNER),
        store.put(dataset.to_json().encode(), "dataset_spec", owner=PIN_OWNER),
        store.put(initial, "weights", owner=PIN_OWNER),
    ]
    params = JobParams(
        fed_id=fed,
        model_spec_hash=bytes.fromhex(digests[0]),
        dataset_spec_hash=bytes.fromhex(digests[1]),
        initial_model_hash=bytes.fromhex(digests[2]),
        total_epochs=epochs,
        epochs_per_round=per_round,
        reward_per_epoch=reward,
        aggregation_rule=AggregationRule[args.rule.upper().replace("-", "_")],
        committee_size=committee,
        round_duration=round_s,
        max_samples=max_samples,
    )
    job_id = m.create_job(sender, params)
    for digest in digests:  # a blob pinned to no job is served to nobody (node/peers.py)
        store.pin(digest, pin_owner(job_id))
    data = job_row(job_id, m.job(job_id))
    data["escrow"] = S.format_amount(escrow)
    data["blob_store"] = str(store.root)
    data["initial_weights"] = source
    data["privacy"] = privacy
    ctx.emit(
        data,
        lambda d: (
            f"created job {d['id']} in federation {d['federation']}: {d['total_epochs']} epochs, "
            f"{d['escrow']} MILON escrowed\ninitial weights: {d['initial_weights']} "
            f"({d['initial_model_hash'][:16]}…)\nspecs and initial weights stored in "
            f"{d['blob_store']}; members fetch them from this node while it runs\n"
            f"privacy: {privacy_text(d['privacy'])}"
        ),
    )
    return 0


# ---------------------------------------------------------------- download


def _configure_download(p: argparse.ArgumentParser) -> None:
    p.add_argument("job_id", metavar="ID", help="job id")
    p.add_argument("--out", required=True, type=Path, metavar="DIR", help="folder to write into")
    p.add_argument(
        "--current",
        action="store_true",
        help="take the current global model of a job that has not completed",
    )
    p.add_argument("--no-onnx", action="store_true", help="skip the ONNX export")
    S.add_chain_args(p, account="none")


@REGISTRY.command(
    "job",
    "download",
    summary="export a job's final model (safetensors, spec, ONNX) from the local store",
    configure=_configure_download,
)
def _download(args: argparse.Namespace, ctx: Context) -> int:
    from milon_app.chain.bindings import JobStatus
    from milon_app.compute.model_spec import ModelSpec
    from milon_app.compute.weights import decode_state
    from milon_app.node.export import export_model

    m = milon_of(ctx, args)
    job_id = existing_job(m, args.job_id)
    job = m.job(job_id)
    if job.status is JobStatus.COMPLETED:
        digest = job.final_model_hash.hex()
    elif args.current:
        digest = job.global_model_hash.hex()
    else:
        raise NotFoundError(
            f"job {job_id} has no final model yet (status {job.status.name.lower()}, "
            f"{job.epochs_done}/{job.params.total_epochs} epochs); pass --current for the "
            "current global model"
        )
    store = _blob_store(ctx)
    spec_digest = job.params.model_spec_hash.hex()
    for what, d in (("model", digest), ("model spec", spec_digest)):
        if not store.has(d):
            raise NotFoundError(
                f"the {what} blob {d} of job {job_id} is not in the local store {store.root}; "
                "the node must be running to fetch it from the federation's peers"
            )
    spec = ModelSpec.from_json(store.get(spec_digest))
    state = decode_state(store.get(digest), max_bytes=store.limit("weights"))
    out = Path(args.out).expanduser()
    if out.exists() and not out.is_dir():
        raise BadInputError(f"--out {out} exists and is not a folder")
    written = export_model(spec, state, out, onnx=not args.no_onnx)
    data = {"job": job_id, "model_hash": digest, "files": [str(p) for p in written]}
    ctx.emit(
        data,
        lambda d: (
            f"job {d['job']} model {d['model_hash'][:16]}… written to:\n"
            + "\n".join(f"  {f}" for f in d["files"])
        ),
    )
    return 0
