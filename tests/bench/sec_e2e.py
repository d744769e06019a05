"""Section 2, end to end vs Flower: the same digits job run by MILON and by Flower.

Same job everywhere: MILON's digits MLP (64-128-64-10, SGD lr 0.05 momentum 0.9,
batch 32), the seed-0 80/20 split, an IID 4-way partition, 8 rounds of 20 epochs split
2/4/6/8 by capacity, FedAvg weighted by samples, accuracy of the global model on the
same held-out test set after every round. Four runs, one after the other:

a) ``milon demo`` (embedded EVM, one process), b) MILON multi-process (anvil + owner
and contributor daemons over libp2p), c) Flower simulation (Ray), d) Flower deployment
(superlink + supernodes + ``flwr run``). The Flower app trains with MILON's own
trainer (see tests/bench/flower_app), so the figures compare the systems around the
loop. MILON does more per round than Flower: chain transactions (accept, commit,
reveal, one verdict and one confirmation per committee member), every update judged
by every other member (the committee: all of them at this size), and rewards.

Standalone: ``.venv/bin/python tests/bench/sec_e2e.py [--quick]`` prints the table.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
for _path in (HERE, HERE.parents[1]):  # standalone runs import like the runner: suite, tests.*
    if str(_path) not in sys.path:
        sys.path.insert(0, str(_path))

from e2e_milon import Run  # noqa: E402
from suite import BenchContext, SectionResult  # noqa: E402

FULL = {"nodes": 4, "rounds": 8, "epochs": 20}  # `milon demo` defaults: 5 epochs x nodes
QUICK = {"nodes": 2, "rounds": 1, "epochs": 3}  # capacities 100:200 split 1:2


def _centralized(rounds: int, epochs: int, nodes: int) -> float:
    """The demo's baseline: the same model on all training data, rounds x epochs / nodes epochs."""
    from milon_app.compute.datasets import DatasetSpec, load_dataset
    from milon_app.compute.model_spec import digits_mlp
    from milon_app.compute.trainer import evaluate, train

    spec = digits_mlp()
    data = load_dataset(DatasetSpec(kind="builtin", name="digits", test_fraction=0.2, seed=0))
    res = train(spec, None, (data.x_train, data.y_train),
                epochs=max(1, round(epochs * rounds / nodes)), seed=0, threads=None)
    return evaluate(spec, res.state, data.x_test, data.y_test)[1]


def _attempt(runs: list[Run], label: tuple[str, str], fn: Any, quick: bool) -> None:
    """Run one mode; in a full run a failure becomes a row that says what went wrong (the
    other rows still count); in quick mode, which exists to prove the paths, it raises."""
    try:
        runs.append(fn())
    except Exception as exc:
        if quick:
            raise
        runs.append(Run(label[0], label[1], "-", "-", note=f"failed: {exc!r}"[:300]))


def run(ctx: BenchContext) -> SectionResult:
    import e2e_flower as fl
    import e2e_milon as mi

    p = QUICK if ctx.quick else FULL
    n, rounds, epochs = p["nodes"], p["rounds"], p["epochs"]
    load0 = os.getloadavg()
    t_section = time.monotonic()
    runs: list[Run] = []
    _attempt(runs, ("MILON", "demo: embedded EVM, one process"),
             lambda: mi.run_demo(ctx.python, n, rounds, epochs, ctx.repo_root), ctx.quick)
    _attempt(runs, ("MILON", "multi-process: anvil + daemons, libp2p"),
             lambda: mi.run_daemons(ctx.python, n, rounds, epochs, ctx.work_dir / "daemons"), ctx.quick)
    bin_dir = fl.venv(ctx.repo_root)
    vers: dict[str, str] = {}
    if bin_dir is None:
        for mode in ("simulation (Ray)", "deployment: superlink + supernodes"):
            runs.append(Run("Flower", mode, "-", "-", note=fl.MISSING))
    elif ctx.quick:  # Ray's start alone is tens of seconds here: quick mode stays short
        for mode in ("simulation (Ray)", "deployment: superlink + supernodes"):
            runs.append(Run("Flower", mode, "-", "-", note="not run in quick mode"))
    else:
        vers = fl.versions(bin_dir)
        _attempt(runs, ("Flower", "simulation (Ray)"), lambda: fl.run_simulation(
            ctx.repo_root, ctx.work_dir / "flower-sim", bin_dir, n, rounds, epochs), False)
        _attempt(runs, ("Flower", "deployment: superlink + supernodes"),
                     lambda: fl.run_deployment(ctx.repo_root, ctx.work_dir / "flower-deploy",
                                               bin_dir, n, rounds, epochs), False)
    central = _centralized(rounds, epochs, n)
    load1 = os.getloadavg()
    return _result(ctx, runs, central, vers, (load0, load1), time.monotonic() - t_section, p)


def _fmt(v: float | None, spec: str) -> str:
    return "-" if v is None else format(v, spec)


def _result(ctx: BenchContext, runs: list[Run], central: float, vers: dict[str, str],
            loads: tuple[tuple[float, ...], tuple[float, ...]], section_s: float,
            p: dict[str, int]) -> SectionResult:
    import platform

    import torch
    from sectools import bar_plot, line_plot, machine_footer, table

    import milon_app

    rows = []
    for r in runs:
        gap = None if r.final_accuracy is None else (r.final_accuracy - central) * 100
        rows.append([r.system, r.mode, r.processes, _fmt(r.wall_s, ".1f"),
                     _fmt(r.s_per_round, ".2f"), _fmt(r.final_accuracy, ".2%"),
                     "-" if gap is None else f"{gap:+.1f} pt", r.note or ""])
    md = [table(["system", "mode", "processes", "wall s", "s/round (median)", "final acc.",
                 "vs centralized", "note"], rows, "lllrrrrl")]
    md.append(f"\nCentralized baseline (same model, all training data, "
              f"{max(1, round(p['epochs'] * p['rounds'] / p['nodes']))} epochs): {central:.2%}.")
    by = {(r.system, r.mode.split(":")[0].split(" ")[0]): r for r in runs}
    mp, dep = by.get(("MILON", "multi-process")), by.get(("Flower", "deployment"))
    headline = []
    if mp and dep and mp.wall_s and dep.wall_s:
        verdict = "below" if mp.wall_s < dep.wall_s else "ABOVE"
        acc_gap = abs((mp.final_accuracy or 0) - (dep.final_accuracy or 0)) * 100
        headline.append(
            f"End to end, {p['nodes']} clients x {p['rounds']} rounds on digits: MILON multi-process "
            f"{mp.wall_s:.0f} s ({_fmt(mp.s_per_round, '.1f')} s/round) vs Flower deployment "
            f"{dep.wall_s:.0f} s ({_fmt(dep.s_per_round, '.1f')} s/round): "
            f"{dep.wall_s / mp.wall_s:.2f}x, {verdict} Flower's; final accuracy "
            f"{_fmt(mp.final_accuracy, '.2%')} vs {_fmt(dep.final_accuracy, '.2%')} "
            f"({acc_gap:.1f} pt apart, goal <= 1)")
    for r in runs:
        if r.wall_s is not None:
            headline.append(f"{r.system} {r.mode}: {r.wall_s:.1f} s, "
                            f"{_fmt(r.s_per_round, '.2f')} s/round, "
                            f"final accuracy {_fmt(r.final_accuracy, '.2%')}")
    for r in runs:
        if r.phases:
            md.append(f"\n**Where the time goes: {r.system} {r.mode}** (seconds)\n")
            md.append(table(["phase", "s"], [[k, f"{v:.2f}"] for k, v in r.phases.items()]))
    footer = machine_footer()
    series = {f"{r.system} {r.mode.split(':')[0]}": ([x[0] for x in r.rounds],
                                                     [100 * (x[2] or 0) for x in r.rounds])
              for r in runs if r.rounds}
    plots = [
        line_plot(ctx.out_dir / "e2e_accuracy.png", "Global accuracy per round (digits, 4 clients)",
                  "round", "test accuracy %", series,
                  hlines={f"centralized {central:.1%}": 100 * central}, footer=footer),
        bar_plot(ctx.out_dir / "e2e_wall.png", "Wall time of the whole job", "seconds",
                 {f"{r.system}\n{r.mode.split(':')[0]}": r.wall_s for r in runs if r.wall_s},
                 footer=footer),
    ]
    md += [f"\n![accuracy per round](benchmarks/{plots[0].name})",
           f"![wall time](benchmarks/{plots[1].name})"]
    versions = {"python": platform.python_version(), "torch": torch.__version__,
                "milon": milon_app.__version__, **vers}
    md.append(
        f"\nMachine: {footer}; load average {loads[0][0]:.1f} before, {loads[1][0]:.1f} after "
        f"(other work shared the machine). Versions: "
        + ", ".join(f"{k} {v}" for k, v in versions.items())
        + f". Section wall time {section_s:.0f} s. The runs go one after the other, never at once."
        "\n\nWhat differs between the systems: every MILON round sends chain transactions "
        "(start, accept x4, commit x4, reveal x4, then a verdict and a confirmation per "
        "committee member: with 4 members all 4 sit; the vote completing the committee "
        "tallies and the confirmation reaching two thirds of its weight finalizes and pays). "
        "Every committee member fetches every other member's update and judges it (framing, "
        "shapes, finiteness, replays, duplicates, validation loss, leave-one-out, improvement), "
        "then aggregates the accepted ones itself to confirm the model's hash, and rewards are "
        "credited on chain; the owner evaluates each global model. "
        "Flower's server aggregates what it receives and evaluates centrally; no validation, no "
        "ledger. Both train with MILON's trainer (one thread per client). Flower's "
        "deployment ClientApps run in a process per message (subprocess isolation); MILON's "
        "daemons keep the trainer warm. The demo's wall time also covers deploying the contracts, "
        "a governance cycle and the centralized baseline it reports."
    )
    return SectionResult(
        key="e2e",
        title="End to end: MILON vs Flower",
        command="bash tests/bench/setup_flower.sh && .venv/bin/python tests/bench/sec_e2e.py",
        markdown="\n".join(md),
        data={"params": p, "centralized_accuracy": central, "versions": versions,
              "loadavg_before": loads[0], "loadavg_after": loads[1],
              "runs": [r.to_dict() for r in runs]},
        headline=headline,
        plots=plots,
        device="cpu",
    )


def main() -> None:
    import argparse
    import tempfile

    ap = argparse.ArgumentParser(description="run only the end-to-end section")
    ap.add_argument("--quick", action="store_true", help="tiny sizes: proves the path only")
    ap.add_argument("--out", type=Path, default=Path("bench-out"), help="plots and JSON go here")
    args = ap.parse_args()
    import json

    args.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="milon-e2e-") as tmp:
        ctx = BenchContext(quick=args.quick, out_dir=args.out.resolve(), work_dir=Path(tmp),
                           repo_root=HERE.parents[1], python=sys.executable)
        res = run(ctx)
    print(res.markdown)
    print("\n".join(res.headline))
    (args.out / "e2e.json").write_text(json.dumps(res.data, indent=2, default=str))


if __name__ == "__main__":
    main()
