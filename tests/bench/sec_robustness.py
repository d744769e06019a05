"""Section 6, robustness: final accuracy per aggregation rule under four attacks, and who was slashed.

Every configuration federates digits over 20 clients (IID shards of ~72
samples) so 10, 30 and 45 % are whole numbers of nodes (2, 6, 9; the last
ones attack). Each round runs the real trainer for every client, the attack
exactly as a byzantine node does it (``milon_app.node.behaviour``: sign-flip
and gaussian noise tamper with the trained state, label-flip trains on
flipped labels, lazy hands back the global model), then the validator's own
pipeline: hash screening (unchanged global model, copies), then
``judge_updates`` (bytes, finiteness, shape, norm bound, validation loss on
the validator's data, the job's rule, outlier rejection for median and
trimmed mean). Only the chain and the network are left out. "Slashed" means
rejected by that pipeline: what validators report and the contract slashes.
The validator is client 0 (honest) and checks losses on its own shard.
"""

from __future__ import annotations

import time
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from typing import Any

from suite import BenchContext, SectionResult

CLIENTS = 20
FRACTIONS = (0, 10, 30, 45)  # percent of CLIENTS, all whole numbers of nodes
ATTACKS = ("signflip", "noise", "labelflip", "lazy")
RULES = ("fedavg", "median", "trimmed-mean", "krum", "multi-krum")
ATTACK_TITLES = {"signflip": "sign-flip (x10)", "noise": "gaussian noise (sd 10)",
                 "labelflip": "label-flip", "lazy": "lazy (resubmits the global model)"}


def _client_id(i: int) -> str:
    return f"0x{i + 1:040x}"


def federate(rule: str, attack: str, n_byz: int, rounds: int, epochs: int) -> dict[str, Any]:
    """One configuration, run in a worker process with one torch thread."""
    import torch

    from milon_app.chain.bindings import AggregationRule
    from milon_app.compute.datasets import load_builtin
    from milon_app.compute.model_spec import digits_mlp
    from milon_app.compute.partition import partition_iid
    from milon_app.compute.trainer import evaluate, train
    from milon_app.compute.weights import encode_state, sha256_hex
    from milon_app.errors import TrainingError
    from milon_app.federation.screening import screen_submissions
    from milon_app.federation.types import RULE_NAMES
    from milon_app.federation.validation import Submission
    from milon_app.node.behaviour import HONEST, Behaviour
    from milon_app.node.validator import VAL_SAMPLES, judge_updates, loss_limit

    torch.set_num_threads(1)
    t0 = time.perf_counter()
    spec = digits_mlp()
    data = load_builtin("digits").for_model(spec)
    parts = partition_iid(int(data.x_train.shape[0]), CLIENTS, seed=7)
    shards = [(data.x_train[p], data.y_train[p]) for p in parts]
    behaviours = [Behaviour(attack, seed=i) if i >= CLIENTS - n_byz else HONEST
                  for i in range(CLIENTS)]
    vx, vy = shards[0][0][:VAL_SAMPLES], shards[0][1][:VAL_SAMPLES]
    state = {k: v.detach().clone() for k, v in spec.build(0).state_dict().items()}
    rule_id = AggregationRule(RULE_NAMES[rule])
    rejected_rounds: list[dict[int, str]] = []
    collapsed = False
    for rnd in range(rounds):
        base_bytes = encode_state(state)
        blobs: dict[str, bytes] = {}
        samples: dict[str, int] = {}
        for i, (x, y) in enumerate(shards):
            beh = behaviours[i]
            if not beh.trains:  # lazy: the global model, untouched (as the contributor does)
                blobs[_client_id(i)], samples[_client_id(i)] = base_bytes, int(x.shape[0])
                continue
            try:
                res = train(spec, state, (x, beh.labels(y, spec.num_classes)), epochs=epochs,
                            seed=1000 * rnd + i, threads=1)
            except TrainingError:  # the global model no longer trains: the federation collapsed
                collapsed = True
                break
            blob = res.update_bytes if beh.honest else encode_state(beh.tamper(state, res.state))
            blobs[_client_id(i)], samples[_client_id(i)] = blob, res.num_samples
        if collapsed:
            break
        screened = screen_submissions(state, {c: sha256_hex(b) for c, b in blobs.items()},
                                      sha256_hex(base_bytes))
        subs = [Submission(c, b, samples[c]) for c, b in sorted(blobs.items())
                if c not in screened]
        base_loss, _ = evaluate(spec, state, vx, vy)
        result, rejected = (None, {}) if not subs else judge_updates(
            rule_id, state, subs, max_bytes=1 << 24,
            val_fn=lambda s: evaluate(spec, s, vx, vy)[0], max_loss=loss_limit(base_loss))
        rejected.update(screened)
        rejected_rounds.append({int(c, 16) - 1: why for c, why in rejected.items()})
        if result is not None:
            state = result.state
    _, acc = evaluate(spec, state, data.x_test, data.y_test)
    return {"rule": rule, "attack": attack, "byzantine": n_byz, "accuracy": acc,
            "collapsed": collapsed, "rejected": rejected_rounds,
            "seconds": time.perf_counter() - t0}


def centralized(epochs: int) -> float:
    """The same model and data trained on one machine, for the same total epochs per sample."""
    import torch

    from milon_app.compute.datasets import load_builtin
    from milon_app.compute.model_spec import digits_mlp
    from milon_app.compute.trainer import evaluate, train

    torch.set_num_threads(1)
    spec = digits_mlp()
    data = load_builtin("digits").for_model(spec)
    res = train(spec, None, (data.x_train, data.y_train), epochs=epochs, seed=0, threads=1)
    return evaluate(spec, res.state, data.x_test, data.y_test)[1]


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
        f"{CLIENTS} clients, digits MLP, IID shards (~{1437 // CLIENTS} samples each), {rounds} "
        f"round(s) x {epochs} local epoch(s); the last 2 / 6 / 9 clients attack (#{CLIENTS - 2}.. / "
        f"#{CLIENTS - 6}.. / #{CLIENTS - 9}.., numbered from #0). Centralized baseline (same model, "
        f"all training data, {rounds * epochs} epochs on one machine): **{100 * central:.1f}%**. "
        "Accuracy is on the held-out test set after the last round. *Slashed*: how many "
        "byzantine / honest nodes the validator rejected in at least one round, and in brackets "
        "the rejected node-rounds out of those played (a byzantine update that slips through "
        "even once can wreck FedAvg). "
        "Krum keeps one update a round, so it rejects every other node, honest or not; "
        "Multi-Krum drops the f highest-scored."
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
                  "Slashed (rejected by validation; node-rounds in brackets):",
                  table(head, slash_rows, "l" + "l" * len(fractions)),
                  f"![robustness under {attack}](benchmarks/{plot.name})"]
    best = {a: max((by[(r, a, nbyz[-1])]["accuracy"], r) for r in rules) for a in ATTACKS}
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
                  + f" vs centralized {100 * central:.0f}%"],
        plots=plots, device="cpu (1 torch thread per federation"
        + (", one process)" if ctx.quick else ", 2 processes)"),
    )
