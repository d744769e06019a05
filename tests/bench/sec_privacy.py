"""Section 9, privacy: accuracy and membership inference against epsilon, MILON vs Flower.

Digits (the demo's default: digits MLP) and a synthetic 32x32 RGB image folder
(tests/bench/make_image_folder.py shapes1500, a ~10k-parameter CNN). Rows: no privacy,
MILON client-dp and dp-sgd at each
epsilon, Flower without DP and with its client-side DP at the same (epsilon, delta),
clients and rounds (noise multiplier from the same Opacus RDP accountant:
``privacy_runs.flower_dp``). Every row's final model is attacked with the loss-threshold
membership inference of ``milon_app.federation.membership`` (members' training samples
against as many unseen test samples). Then the trainer's samples/s with and without
dp-sgd on the digits MLP. Rows run one after the other, each in a process of its own.

Standalone: ``.venv/bin/python tests/bench/sec_privacy.py [--quick]`` prints the table.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
for _path in (HERE, HERE.parents[1]):  # standalone runs import like the runner: suite, tests.*
    if str(_path) not in sys.path:
        sys.path.insert(0, str(_path))

from privacy_runs import SHAPES_CNN, Row  # noqa: E402
from suite import BenchContext, SectionResult  # noqa: E402

DELTA, CLIP = 1e-5, 1.0  # the demo's defaults (privacy_spec.DEFAULT_DELTA / DEFAULT_CLIP)
FULL: dict[str, Any] = {
    "digits": {"nodes": 4, "rounds": 8, "epochs": 20, "epsilons": [1.0, 3.0, 8.0]},
    # the image rows cost ~2x a digits row each: 4 rounds and epsilon 8 only (time)
    "image": {"nodes": 4, "rounds": 4, "epochs": 20, "epsilons": [8.0]},
    "throughput": {"epochs": 5, "repeats": 3},
}
QUICK: dict[str, Any] = {
    "digits": {"nodes": 2, "rounds": 1, "epochs": 4, "epsilons": [8.0]},
    "throughput": {"epochs": 1, "repeats": 1},
}


PRIVATE_MODES = ("client-dp", "dp-sgd")


def _attempt(rows: list[Row], fallback: Row, fn: Any, quick: bool) -> None:
    """A failed row says why (the others still count); quick mode, which proves the paths,
    raises instead."""
    try:
        rows.append(fn())
    except Exception as exc:
        if quick:
            raise
        fallback.note = f"failed: {exc!r}"[:300]
        rows.append(fallback)


def _dataset_rows(
    ctx: BenchContext, name: str, dataset: str, model: str, p: dict[str, Any], rows: list[Row]
) -> None:
    import e2e_flower as fl
    import privacy_runs as pr

    work = ctx.work_dir / name
    work.mkdir(parents=True, exist_ok=True)
    plan: list[tuple[str, float | None]] = [("none", None)]
    plan += [(m, e) for m in PRIVATE_MODES for e in p["epsilons"]]
    for mode, eps in plan:
        _attempt(
            rows,
            Row("MILON", name, mode, eps),
            lambda m=mode, e=eps: pr.milon_row(ctx.python, work, name, dataset, model, m, e, p),
            ctx.quick,
        )
    bin_dir = fl.venv(ctx.repo_root)
    for eps in [None, *p["epsilons"]]:
        mode = "none" if eps is None else "flower-client-dp"
        if bin_dir is None or ctx.quick:  # Ray's start alone is tens of seconds: not in quick
            rows.append(
                Row(
                    "Flower",
                    name,
                    mode,
                    eps,
                    note=fl.MISSING if bin_dir is None else "not run in quick mode",
                )
            )
            continue
        _attempt(
            rows,
            Row("Flower", name, mode, eps),
            lambda e=eps: pr.flower_row(
                ctx.repo_root, work, bin_dir, name, dataset, model, e, p, DELTA, CLIP
            ),
            False,
        )


def run(ctx: BenchContext) -> SectionResult:
    import privacy_runs as pr

    params = QUICK if ctx.quick else FULL
    load0, t0 = os.getloadavg(), time.monotonic()
    rows: list[Row] = []
    _dataset_rows(ctx, "digits", "digits", "", params["digits"], rows)
    if "image" in params:
        from make_image_folder import make_image_folder

        folder = make_image_folder(ctx.work_dir / "shapes1500", per_class=150, seed=0)
        npz = pr.image_npz(folder, ctx.work_dir / "shapes1500.npz")
        spec_file = ctx.work_dir / "shapes_cnn.json"
        spec_file.write_text(json.dumps(SHAPES_CNN))
        _dataset_rows(ctx, "shapes1500", str(npz), str(spec_file), params["image"], rows)
    tp = pr.throughput(params["throughput"]["epochs"], params["throughput"]["repeats"])
    loads = (load0, os.getloadavg())
    from privacy_report import result

    return result(ctx, params, rows, tp, loads, time.monotonic() - t0)


def main() -> None:
    import argparse
    import tempfile

    ap = argparse.ArgumentParser(description="run only the privacy section")
    ap.add_argument("--quick", action="store_true", help="tiny sizes: proves the path only")
    ap.add_argument("--out", type=Path, default=Path("bench-out"), help="plots and JSON go here")
    args = ap.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="milon-privacy-") as tmp:
        ctx = BenchContext(
            quick=args.quick,
            out_dir=args.out.resolve(),
            work_dir=Path(tmp),
            repo_root=HERE.parents[1],
            python=sys.executable,
        )
        res = run(ctx)
    print(res.markdown)
    print("\n".join(res.headline))
    (args.out / "privacy.json").write_text(json.dumps(res.data, indent=2, default=str))


if __name__ == "__main__":
    main()
