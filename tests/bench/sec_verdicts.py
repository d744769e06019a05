"""Section 8, verdicts: a simulated committee judging every update, on skewed and attacked rounds.

Each federation (``fedsim.simulate``) trains the real models, lets K = 5
validators judge every update with ``judge_round`` on their own validation
shards, accepts by majority and aggregates with ``aggregate_accepted``.
Digits (MLP) and breast_cancer (tabular MLP), 3 seeds each. Goals, from
the protocol v2 issue: zero honest nodes rejected anywhere; label skew
(Dirichlet 0.3) within 5 points of centralized under FedAvg and Median;
IID within 1.5 points under every rule; backdoor success <= 5% under every
rule with the attacker rejected at least once; ALIE within 2 points of the
no-attack run; robust rules within 3 points of no-attack under sign-flip,
noise, label-flip and lazy nodes; free riders rejected.

    .venv/bin/python tests/bench/sec_verdicts.py [--quick] [--groups skew,iid,...] [--seeds 0,1,2]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import replace
from multiprocessing import get_context
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from fedsim import Config, centralized, simulate
from suite import BenchContext, SectionResult
from verdict_tables import GROUPS, plots, render

RULES = ("fedavg", "median", "trimmed-mean", "krum", "multi-krum")
SEEDS = (0, 1, 2)
CLAIM = 2**63
ATTACKS = ("signflip", "noise", "labelflip", "lazy")
FRACTIONS = (10, 30, 45)  # percent of 20 clients: 2, 6, 9 attackers


ROUNDS = {"skew": 20, "iid": 20, "backdoor": 10}  # other groups: 6 rounds (5 local epochs)


def _base(dataset: str, quick: bool, group: str = "") -> Config:
    """20 rounds where accuracy is compared with centralized training (non-IID FedAvg needs
    them: 10 rounds left it 7 points behind), fewer where attacks are compared with no attack."""
    rounds, epochs = (2, 1) if quick else (ROUNDS.get(group, 6), 5)
    clients = 10 if dataset == "digits" else 8
    return Config(dataset=dataset, clients=clients, rounds=rounds, epochs=epochs)


def jobs_for(group: str, seeds: tuple[int, ...], quick: bool) -> list[tuple[str, str, Config]]:
    """(group, label, config) for every federation of a group."""
    out: list[tuple[str, str, Config]] = []
    datasets = ("digits",) if quick else ("digits", "breast_cancer")
    rules = RULES[:2] if quick else RULES
    for seed in seeds:
        for ds in datasets:
            base = replace(_base(ds, quick, group), seed=seed)
            if group == "skew":
                for rule in rules:
                    out.append(
                        (group, f"{ds}/{rule}", replace(base, partition="dirichlet:0.3", rule=rule))
                    )
                out.append(
                    (
                        group,
                        f"{ds}/fedavg/local-val",
                        replace(base, partition="dirichlet:0.3", val_source="local"),
                    )
                )
                if not quick:
                    out.append(
                        (group, f"{ds}/fedavg/shards:2", replace(base, partition="shards:2"))
                    )
            elif group == "iid":
                out += [(group, f"{ds}/{rule}", replace(base, rule=rule)) for rule in rules]
            elif group == "alie":
                six = replace(base, clients=6)
                for rule in rules:
                    out.append((group, f"{ds}/{rule}/none", replace(six, rule=rule)))
                    for z in (1.0, 3.0, 10.0):
                        cfg = replace(
                            six,
                            rule=rule,
                            attack="alie",
                            attackers=2,
                            z=z,
                            jitter=1e-6 if z == 1.0 else 0.0,
                        )
                        out.append((group, f"{ds}/{rule}/z={z:g}", cfg))
            elif group == "attacks" and (ds == "breast_cancer" or quick) and seed == seeds[0]:
                # one seed: 65 federations of 20 clients (digits: sec_robustness's grid)
                twenty = replace(base, clients=20)
                for rule in rules:
                    out.append((group, f"{ds}/{rule}/none/0", replace(twenty, rule=rule)))
                    for attack in ATTACKS:
                        for pct in FRACTIONS[1:2] if quick else FRACTIONS:
                            cfg = replace(
                                twenty, rule=rule, attack=attack, attackers=20 * pct // 100
                            )
                            out.append((group, f"{ds}/{rule}/{attack}/{pct}", cfg))
            elif group == "freerider":
                for rule in rules:
                    cfg = replace(base, rule=rule, attack="freerider", attackers=1)
                    out.append((group, f"{ds}/{rule}", cfg))
        if group == "backdoor":
            five = replace(_base("digits", quick, group), clients=5, seed=seed)
            for rule in rules:
                out.append((group, f"{rule}/none", replace(five, rule=rule)))
                out.append(
                    (
                        group,
                        f"{rule}/boost x3",
                        replace(five, rule=rule, attack="backdoor", attackers=1, boost=3.0),
                    )
                )
                out.append(
                    (
                        group,
                        f"{rule}/claims 2^63",
                        replace(five, rule=rule, attack="backdoor", attackers=1, claim=CLAIM),
                    )
                )
                out.append(
                    (
                        group,
                        f"{rule}/claims 10^6",
                        replace(five, rule=rule, attack="backdoor", attackers=1, claim=10**6),
                    )
                )
    return out


def run_all(
    jobs: list[tuple[str, str, Config]], workers: int
) -> tuple[list[dict[str, Any]], dict[str, float]]:
    """Every federation plus the centralized baselines; 1 torch thread per process."""
    centrals = sorted({(c.dataset, c.rounds * c.epochs, c.seed) for _, _, c in jobs})
    if workers <= 1:
        runs = [simulate(c) for _, _, c in jobs]
        cent = [centralized(*k) for k in centrals]
    else:
        with ProcessPoolExecutor(max_workers=workers, mp_context=get_context("spawn")) as pool:
            cf = [pool.submit(centralized, *k) for k in centrals]
            rf = [pool.submit(simulate, c) for _, _, c in jobs]
            runs, cent = [f.result() for f in rf], [f.result() for f in cf]
    for (group, label, _), run in zip(jobs, runs, strict=True):
        run["group"], run["label"] = group, label
    return runs, {f"{d}/{e}/{s}": acc for (d, e, s), acc in zip(centrals, cent, strict=True)}


def run(ctx: BenchContext) -> SectionResult:
    seeds = (0,) if ctx.quick else SEEDS
    groups = ("skew", "backdoor", "alie", "freerider") if ctx.quick else GROUPS
    jobs = [j for g in groups for j in jobs_for(g, seeds, ctx.quick)]
    t0 = time.perf_counter()
    runs, central = run_all(jobs, 1 if ctx.quick else 2)
    wall = time.perf_counter() - t0
    markdown, misses = render(runs, central, ctx.quick, wall)
    figures = plots(runs, central, ctx.out_dir)
    markdown += "\n\n" + "\n\n".join(f"![{p.stem}](benchmarks/{p.name})" for p in figures)
    misses_md = "\n".join(f"- {m}" for m in misses) or "- none"
    return SectionResult(
        key="verdicts",
        title="Verdicts",
        command=".venv/bin/python tests/bench/report.py --only verdicts"
        + (" --quick" if ctx.quick else ""),
        markdown=markdown + "\n\n**Goals missed:**\n\n" + misses_md,
        data={"runs": runs, "centralized": central, "misses": misses},
        headline=[f"{len(runs)} committee-judged federations, {len(misses)} goal(s) missed"],
        plots=figures,
        device="cpu (1 torch thread per federation"
        + (", one process)" if ctx.quick else ", 2 processes)"),
    )


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--groups", default=",".join(GROUPS))
    ap.add_argument("--seeds", default=",".join(map(str, SEEDS)))
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--json", type=Path, help="also write the raw runs here")
    args = ap.parse_args(argv)
    seeds = tuple(int(s) for s in args.seeds.split(","))
    jobs = [j for g in args.groups.split(",") for j in jobs_for(g, seeds, args.quick)]
    t0 = time.perf_counter()
    runs, central = run_all(jobs, args.workers)
    markdown, misses = render(runs, central, args.quick, time.perf_counter() - t0)
    print(markdown)
    print("\nMisses:\n" + ("\n".join(misses) or "none"))
    if args.json:
        args.json.write_text(json.dumps({"runs": runs, "centralized": central}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
