"""One MILON row of the privacy section: ``milon demo``'s job, then the attack on its model.

    .venv/bin/python tests/bench/privacy_demo.py OUT.json --dp client-dp --epsilon 8 \
        [--dataset digits] [--model M] [--nodes 4] [--rounds 8] [--epochs-per-round 0] \
        [--transport libp2p]

Runs the demo in this process (embedded chain, the committee judging every update; no
governance cycle, no centralized baseline: neither changes the model),
reads the final global model from the owner's store, and scores the loss-threshold
membership-inference attack (:mod:`milon_app.federation.membership`) on it: the members'
training samples against as many test samples the federation never saw. Writes accuracy,
the privacy report, the AUC and the wall time as JSON. A child process per row, so one
row's threads and sockets cannot touch the next.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))


def attack_sets(
    x_train: Any, y_train: Any, x_test: Any, y_test: Any, seed: int
) -> tuple[tuple[Any, Any], tuple[Any, Any]]:
    """(members, non-members) of equal size: the demo's members' training samples (the
    training split less the owner's held-out validation part) against the test split."""
    import torch

    from milon_app.node.validation_data import split_holdout

    (xm, ym), _held = split_holdout(x_train, y_train, seed)
    n = min(int(xm.shape[0]), int(x_test.shape[0]))
    g = torch.Generator().manual_seed(seed)
    pick_in = torch.randperm(int(xm.shape[0]), generator=g)[:n]
    pick_out = torch.randperm(int(x_test.shape[0]), generator=g)[:n]
    return (xm[pick_in], ym[pick_in]), (x_test[pick_out], y_test[pick_out])


def run_row(args: argparse.Namespace, work: Path) -> dict[str, Any]:
    from milon_app.compute.weights import decode_state
    from milon_app.demo import DemoOptions, run_demo
    from milon_app.demo_data import load_workload
    from milon_app.federation.membership import attack_auc
    from milon_app.node.state import StateDB
    from milon_app.store.blobs import BlobStore

    opts = DemoOptions(
        nodes=args.nodes, rounds=args.rounds, epochs_per_round=args.epochs_per_round,
        dataset=args.dataset, model=args.model, workdir=work, governance=False,
        baseline=False, dp=args.dp, dp_epsilon=args.epsilon, transport=args.transport,
    )  # fmt: skip
    t0 = time.monotonic()
    report = run_demo(opts)
    wall = time.monotonic() - t0
    results = StateDB(work / "owner" / "state.db").round_results(report.job_id)
    state = decode_state(BlobStore(work / "owner" / "blobs").get(results[-1][1]))
    wl = load_workload(args.model, args.dataset, 0)
    d = wl.data
    members, non_members = attack_sets(d.x_train, d.y_train, d.x_test, d.y_test, 0)
    auc = attack_auc(wl.spec, state, members, non_members)
    return {
        "dp": args.dp, "epsilon": args.epsilon, "dataset": args.dataset,
        "model": report.model.get("name"), "nodes": args.nodes, "rounds": args.rounds,
        "final_accuracy": report.final_accuracy,
        "accuracy_by_round": [r.accuracy for r in report.rounds],
        "accepted_by_round": [len(r.accepted) for r in report.rounds],
        "privacy": report.privacy, "mia_auc": auc, "mia_samples": int(members[0].shape[0]),
        "transport": args.transport,
        "wall_s": wall,
    }  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out", type=Path)
    ap.add_argument("--dp", default="none")
    ap.add_argument("--epsilon", type=float, default=0.0)
    ap.add_argument("--dataset", default="digits")
    ap.add_argument("--model", default="")
    ap.add_argument("--nodes", type=int, default=4)
    ap.add_argument("--rounds", type=int, default=8)
    ap.add_argument("--epochs-per-round", type=int, default=0)
    ap.add_argument("--transport", default="libp2p", help="libp2p or inprocess")
    args = ap.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="milon-privacy-") as tmp:
        row = run_row(args, Path(tmp))
    args.out.write_text(json.dumps(row, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
