"""Section 6, robustness: final accuracy per aggregation rule under four attacks, and who was slashed.

Every configuration federates digits over 20 clients (IID shards of the
training set minus the validators' 20%, ~57 samples each) so 10, 30 and
45 % are whole numbers of nodes (2, 6, 9; the last ones attack). Each round
runs the real trainer for every client and the attack exactly as a
byzantine node does it (``milon_app.node.behaviour``: sign-flip and gaussian
noise tamper with the trained state, label-flip trains on flipped labels,
lazy hands back the global model). Then the protocol v2 committee
(``fedsim``): 5 validators, each with its own owner-published validation
shard, give ``judge_round`` verdicts on every update; an update is accepted
when a majority accepts it, and ``aggregate_accepted`` clips (norm,
coordinate, sample count) and applies the job's rule. Only the chain and
the network are left out. "Slashed" means rejected by the majority: what
the contract slashes.
"""

from __future__ import annotations

import sys
import time
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from fedsim import Config, simulate
from suite import BenchContext, SectionResult

CLIENTS = 20
FRACTIONS = (0, 10, 30, 45)  # percent of CLIENTS, all whole numbers of nodes
ATTACKS = ("signflip", "noise", "labelflip", "lazy")
RULES = ("fedavg", "median", "trimmed-mean", "krum", "multi-krum")
ATTACK_TITLES = {"signflip": "sign-flip (x10)", "noise": "gaussian noise (sd 10)",
                 "labelflip": "label-flip", "lazy": "lazy (resubmits the global model)"}


def federate(rule: str, attack: str, n_byz: int, rounds: int, epochs: int) -> dict[str, Any]:
    """One configuration, run in a worker process with one torch thread."""
    run = simulate(Config(clients=CLIENTS, rule=rule, attack=attack, attackers=n_byz,
                          rounds=rounds, epochs=epochs))
    rejected = [{int(k): v for k, v in r.items()} for r in run["rejected"]]
    return {"rule": rule, "attack": attack, "byzantine": n_byz, "accuracy": run["accuracy"],
            "collapsed": run["collapsed"], "rejected": rejected, "seconds": run["seconds"]}


def centralized(epochs: int) -> float:
    """The same model on all the clients' data, one machine, the same epochs per sample."""
    from fedsim import centralized as central

    return central("digits", epochs, 0)


def _slashed_cell(r: dict[str, Any]) -> str:
    """Who was rejected: nodes ever rejected, and (rejected node-rounds / node-rounds played)."""
    k, played = r["byzantine"], len(r["rejected"])
    ever = set().union(*(set(rr) for rr in r["rejected"])) if r["rejected"] else set()
    byz_rounds = sum(1 for rr in r["rejected"] for i in rr if i >= CLIENTS - k)
    hon_rounds = sum(1 for rr in r["rejected"] for i in rr if i < CLIENTS - k)
    honest = sorted(i for i in ever if i < CLIENTS - k)
    ids = f"#{', #'.join(map(str, honest))}, " if 0 < len(honest) <= 3 else ""
    h = f"honest {len(honest)}" + (f" ({ids}{hon_rounds}/{(CLIENTS - k) * played})"
                                   if honest else "")
    if not k:
        return h
    byz = sum(1 for i in ever if i >= CLIENTS - k)
    return f"byz {byz}/{k} ({byz_rounds}/{k * played}) · {h}"


def run(ctx: BenchContext) -> SectionResult:
    from sectools import line_plot, machine_footer, table

    rounds, epochs = (1, 1) if ctx.quick else (8, 5)
    rules = RULES[:2] if ctx.quick else RULES
    fractions = (0, 30) if ctx.quick else FRACTIONS
    jobs = [(rule, "signflip", 0) for rule in rules]  # no attackers: the attack is moot
    jobs += [(rule, attack, CLIENTS * f // 100) for attack in ATTACKS for f in fractions if f
             for rule in rules]
    t0 = time.perf_counter()
    if ctx.quick:  # a pool's start-up costs more than the tiny grid itself
        central = centralized(rounds * epochs)
        results = [federate(rule, attack, k, rounds, epochs) for rule, attack, k in jobs]
    else:
        with ProcessPoolExecutor(max_workers=2, mp_context=get_context("spawn")) as pool:
            central_f = pool.submit(centralized, rounds * epochs)
            futures = [pool.submit(federate, rule, attack, k, rounds, epochs)
                       for rule, attack, k in jobs]
            results = [f.result() for f in futures]
            central = central_f.result()
    wall = time.perf_counter() - t0
    honest = {r["rule"]: r for r in results if r["byzantine"] == 0}
    by = {(r["rule"], r["attack"], r["byzantine"]): r for r in results if r["byzantine"]}
    nbyz = [CLIENTS * f // 100 for f in fractions]
    head = ["rule"] + [f"{f}% ({k} nodes)" for f, k in zip(fractions, nbyz, strict=True)]
    parts = [
        f"{CLIENTS} clients, digits MLP, IID shards (~{1150 // CLIENTS} samples each), {rounds} "
        f"round(s) x {epochs} local epoch(s); the last 2 / 6 / 9 clients attack (#{CLIENTS - 2}.. / "
        f"#{CLIENTS - 6}.. / #{CLIENTS - 9}.., numbered from #0). Centralized baseline (same model, "
        f"all training data, {rounds * epochs} epochs on one machine): **{100 * central:.1f}%**. "
        "Accuracy is on the held-out test set after the last round. A committee of 5 validators "
        "(each with its own shard of a held-out 20% of the training set) judges every update "
        "with `judge_round`; the majority decides. *Slashed*: how many byzantine / honest nodes "
        "the committee rejected in at least one round, and in brackets the rejected node-rounds "
        "out of those played. Krum and Multi-Krum only set aggregation weights: every accepted "
        "update is paid. Goal: zero honest nodes slashed everywhere."
        + (" Quick mode: 2 rules, 30% only, 1 round." if ctx.quick else ""),
    ]
    plots = []
    for attack in ATTACKS:
        acc_rows, slash_rows = [], []
        series: dict[str, tuple[list[float], list[float]]] = {}
        for rule in rules:
            cfg = [honest[rule]] + [by[(rule, attack, k)] for k in nbyz if k]
            acc_rows.append([rule] + [f"{100 * c['accuracy']:.1f}%" + (" (collapsed)"
                                      if c["collapsed"] else "") for c in cfg])
            slash_rows.append([rule] + [_slashed_cell(c) for c in cfg])
            series[rule] = (list(fractions), [100 * c["accuracy"] for c in cfg])
        plot = line_plot(
            ctx.out_dir / f"robustness_{attack}.png", f"Final accuracy under {ATTACK_TITLES[attack]}",
            "byzantine nodes (%)", "test accuracy (%)", series,
            hlines={f"centralized {100 * central:.1f}%": 100 * central}, footer=machine_footer())
        plots.append(plot)
        parts += [f"### {ATTACK_TITLES[attack]}", "Final accuracy:", table(head, acc_rows),
                  "Slashed (rejected by the committee's majority; node-rounds in brackets):",
                  table(head, slash_rows, "l" + "l" * len(fractions)),
                  f"![robustness under {attack}](benchmarks/{plot.name})"]
    best = {a: max((by[(r, a, nbyz[-1])]["accuracy"], r) for r in rules) for a in ATTACKS}
    honest_slashed = sum(1 for r in results for rr in r["rejected"] for i in rr
                         if i < CLIENTS - r["byzantine"])
    worst_k = f"{fractions[-1]}%"
    return SectionResult(
        key="robustness", title="Robustness",
        command=".venv/bin/python tests/bench/report.py --only robustness"
        + (" --quick" if ctx.quick else ""),
        markdown="\n\n".join(parts) + f"\n\nGrid: {len(jobs)} federations in {wall:.0f} s "
        + ("(in one process, 1 torch thread)." if ctx.quick else
           "(2 worker processes, 1 torch thread each)."),
        data={"clients": CLIENTS, "rounds": rounds, "local_epochs": epochs,
              "centralized": central, "runs": results},
        headline=[f"with {worst_k} byzantine nodes the best rule keeps "
                  + ", ".join(f"{a} {100 * acc:.0f}% ({r})" for a, (acc, r) in best.items())
                  + f" vs centralized {100 * central:.0f}%; honest node-rounds slashed: "
                  f"{honest_slashed}"],
        plots=plots, device="cpu (1 torch thread per federation"
        + (", one process)" if ctx.quick else ", 2 processes)"),
    )
