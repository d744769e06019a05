"""A federation with a simulated committee, for the verdict and robustness benchmarks.

Every round: each client trains with the real trainer (or attacks), every
one of K validators judges every update with ``judge_round`` on its own
validation data, an update is accepted when a majority of the committee
accepts it, and ``aggregate_accepted`` builds the next model with the job's
rule. Only the chain and the network are left out: "rejected" here is
exactly what the contract would slash.

Validation data comes from a held-out 20% of the training set that no
client trains on. ``val_source="owner"`` splits it IID among the validators
(owner-published validation shards); ``"local"`` splits it with the same
label skew as the clients (validators judging on their own skewed data).

Attacks: sign-flip, noise, label-flip and lazy come from
``milon_app.node.behaviour`` (what a byzantine node really runs); backdoor,
ALIE and free rider are implemented here:

* backdoor: trains on its data plus a triggered copy of half of it labelled
  0 (trigger: the four top-left pixels of the 8x8 digit set to full ink),
  then sends ``base + boost * delta``; ``claim`` inflates its sample count;
* ALIE (Baruch et al. 2019, "A little is enough"): the colluders see the
  honest deltas of the round and all send ``mean - z * std`` (per
  coordinate), plus ``jitter`` x N(0, 1) each so the copies are not
  byte-identical;
* free rider: ``base + 1e-6 * N(0, 1)``.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

VAL_FRACTION = 0.2
TRIGGER = (0, 1, 8, 9)  # flat pixel indices of the 8x8 digit image
BACKDOOR_TARGET = 0
RULE_IDS = {"fedavg": 0, "median": 1, "trimmed-mean": 2, "krum": 3, "multi-krum": 4}
NODE_ATTACKS = ("signflip", "noise", "labelflip", "lazy")
LOCAL_ATTACKS = ("backdoor", "alie", "freerider")


@dataclass(frozen=True)
class Config:
    dataset: str = "digits"  # digits (MLP) or a tabular built-in (breast_cancer, wine)
    partition: str = "iid"  # parse_partition text: iid, dirichlet:0.3, shards:2
    clients: int = 10
    rule: str = "fedavg"
    attack: str = "none"
    attackers: int = 0  # the last `attackers` clients attack
    boost: float = 1.0  # backdoor: delta multiplier
    claim: int = 0  # attackers claim this many samples (0: their real count)
    z: float = 1.0  # ALIE
    jitter: float = 0.0  # ALIE: per-colluder noise
    rounds: int = 10
    epochs: int = 5
    seed: int = 0
    validators: int = 5
    val_source: str = "owner"  # owner | local
    max_samples: int = 0
    coordinate: bool = True  # coordinate-wise clipping in aggregate_accepted
    clip_factor: float = 1.0  # norm clip at this multiple of the median
    slack: float = 1.0  # coordinate clip slack


def _setup(cfg: Config) -> dict[str, Any]:
    """Model spec, data, client shards and validator shards, all derived from cfg.seed."""
    from milon_app.compute.datasets import load_builtin
    from milon_app.compute.model_spec import digits_mlp, tabular_mlp
    from milon_app.compute.partition import parse_partition, split_clients, stable_permutation

    raw = load_builtin(cfg.dataset)
    spec = (
        digits_mlp()
        if cfg.dataset == "digits"
        else tabular_mlp(int(raw.input_shape[0]), raw.num_classes)
    )
    data = raw.for_model(spec)
    n = int(data.x_train.shape[0])
    perm = stable_permutation(n, 1000 + cfg.seed)
    n_val = int(n * VAL_FRACTION)
    val_idx, pool_idx = perm[:n_val], perm[n_val:]
    part = parse_partition(cfg.partition)
    y_pool = data.y_train[pool_idx].numpy()
    shards = split_clients(part, y_pool, cfg.clients, cfg.seed, min_size=8)
    clients = [(data.x_train[pool_idx[s]], data.y_train[pool_idx[s]]) for s in shards]
    y_val = data.y_train[val_idx].numpy()
    vpart = parse_partition("iid") if cfg.val_source == "owner" else part
    vshards = split_clients(vpart, y_val, cfg.validators, cfg.seed + 1, min_size=4)
    vals = [(data.x_train[val_idx[s]], data.y_train[val_idx[s]]) for s in vshards]
    pool = (data.x_train[pool_idx], data.y_train[pool_idx])
    return {"spec": spec, "data": data, "clients": clients, "vals": vals, "pool": pool}


def with_trigger(x: Any) -> Any:
    """The backdoor trigger stamped on a batch of digit images (any input shape)."""
    flat = x.clone().reshape(x.shape[0], -1)
    flat[:, list(TRIGGER)] = 1.0
    return flat.reshape(x.shape)


def attack_success(spec: Any, state: Mapping[str, Any], x: Any, y: Any) -> float:
    """Share of test images not of the target class that the trigger turns into the target."""
    from milon_app.compute.trainer import load_state

    keep = y != BACKDOOR_TARGET
    model = spec.build(0)
    load_state(model, state)
    model.eval()
    import torch

    with torch.no_grad():
        pred = model(with_trigger(x[keep])).argmax(dim=1)
    return float((pred == BACKDOOR_TARGET).double().mean())


def _honest_or_node_attack(cfg: Config, i: int, rnd: int, env: dict[str, Any], base: Any) -> Any:
    """(state, num_samples) of client i: honest training, or a node-behaviour attack."""
    from milon_app.compute.trainer import train
    from milon_app.node.behaviour import HONEST, Behaviour

    spec = env["spec"]
    x, y = env["clients"][i]
    attacking = cfg.attack in NODE_ATTACKS and i >= cfg.clients - cfg.attackers
    beh = Behaviour(cfg.attack, seed=1000 * rnd + i) if attacking else HONEST
    if not beh.trains:
        return {k: v.clone() for k, v in base.items()}, int(x.shape[0])
    res = train(
        spec,
        base,
        (x, beh.labels(y, spec.num_classes)),
        epochs=cfg.epochs,
        seed=1000 * rnd + i + 7919 * cfg.seed,
        threads=1,
    )
    return (res.state if beh.honest else beh.tamper(base, res.state)), res.num_samples


def _backdoor(cfg: Config, i: int, rnd: int, env: dict[str, Any], base: Any) -> Any:
    import torch

    from milon_app.compute.trainer import train
    from milon_app.federation.deltas import apply_delta, state_delta

    x, y = env["clients"][i]
    half = int(x.shape[0]) // 2
    bx = torch.cat([x, with_trigger(x[:half])])
    by = torch.cat([y, torch.full((half,), BACKDOOR_TARGET, dtype=y.dtype)])
    res = train(env["spec"], base, (bx, by), epochs=cfg.epochs, seed=1000 * rnd + i, threads=1)
    return apply_delta(base, state_delta(base, res.state), scale=cfg.boost)


def _alie(cfg: Config, honest: list[Any], base: Any, colluder: int, rnd: int) -> Any:
    import torch

    from milon_app.federation.deltas import apply_delta, state_delta

    deltas = [state_delta(base, s) for s in honest]
    gen = torch.Generator().manual_seed(100_000 * rnd + colluder)
    out = {}
    for name in deltas[0]:
        stack = torch.stack([d[name] for d in deltas])
        value = stack.mean(0) - cfg.z * stack.std(0)
        if cfg.jitter:
            value = value + cfg.jitter * torch.randn(
                value.shape, generator=gen, dtype=torch.float64
            )
        out[name] = value
    return apply_delta(base, out)


def _free_rider(base: Any, seed: int) -> Any:
    import torch

    gen = torch.Generator().manual_seed(seed)
    return {
        k: v + 1e-6 * torch.randn(v.shape, generator=gen, dtype=v.dtype)
        if v.is_floating_point()
        else v.clone()
        for k, v in base.items()
    }


def _round_updates(cfg: Config, rnd: int, env: dict[str, Any], base: Any) -> dict[int, Any]:
    """client index -> (state, claimed samples) for this round."""
    out: dict[int, Any] = {}
    attackers = set(range(cfg.clients - cfg.attackers, cfg.clients))
    for i in range(cfg.clients):
        if i in attackers and cfg.attack == "backdoor":
            out[i] = (_backdoor(cfg, i, rnd, env, base), int(env["clients"][i][0].shape[0]))
        elif i in attackers and cfg.attack == "freerider":
            out[i] = (_free_rider(base, 1000 * rnd + i), int(env["clients"][i][0].shape[0]))
        elif i in attackers and cfg.attack == "alie":
            continue
        else:
            out[i] = _honest_or_node_attack(cfg, i, rnd, env, base)
    if cfg.attack == "alie":
        honest = [out[i][0] for i in sorted(out)]
        for i in sorted(attackers):
            out[i] = (_alie(cfg, honest, base, i, rnd), int(env["clients"][i][0].shape[0]))
    if cfg.claim:
        for i in attackers:
            out[i] = (out[i][0], cfg.claim)
    return out


def client_id(i: int) -> str:
    return f"0x{i + 1:040x}"


def _committee_round(
    cfg: Config,
    env: dict[str, Any],
    evaluators: list[Any],
    histories: list[Any],
    base: Any,
    updates: dict[int, Any],
) -> tuple[Any, dict[int, list[int]], dict[int, list[int]]]:
    """Every validator judges, the majority decides, the accepted updates are aggregated.

    Returns the new model, the majority-rejected clients with the reason codes of the
    validators that rejected them, and the accepted clients that some validator rejected.
    """
    from milon_app.compute.weights import encode_state
    from milon_app.federation.clipping import aggregate_accepted
    from milon_app.federation.types import ClientUpdate
    from milon_app.federation.validation import Submission
    from milon_app.federation.verdicts import judge_round, majority_accepts

    subs = [Submission(client_id(i), encode_state(s), n) for i, (s, n) in sorted(updates.items())]
    votes = [
        judge_round(base, subs, evaluate_fn=ev, history=h, max_bytes=1 << 26)
        for ev, h in zip(evaluators, histories, strict=True)
    ]
    accepted = majority_accepts(votes)
    reasons = {
        i: sorted(int(v[client_id(i)].reason) for v in votes if not v[client_id(i)].accepted)
        for i in updates
    }
    keep = [
        ClientUpdate(client_id(i), updates[i][0], updates[i][1])
        for i in sorted(updates)
        if accepted[client_id(i)]
    ]
    rejected = {i: r for i, r in reasons.items() if not accepted[client_id(i)]}
    dissent = {i: r for i, r in reasons.items() if accepted[client_id(i)] and r}
    if not keep:
        return base, rejected, dissent
    result = aggregate_accepted(
        RULE_IDS[cfg.rule],
        base,
        keep,
        max_samples=cfg.max_samples,
        sample_clip_bps=20_000,
        coordinate=cfg.coordinate,
        clip_factor=cfg.clip_factor,
        coordinate_slack=cfg.slack,
    )
    return result.state, rejected, dissent


def simulate(cfg: Config) -> dict[str, Any]:
    """One federation; returns accuracy, attack success and who was rejected each round."""
    import torch

    from milon_app.compute.trainer import evaluate
    from milon_app.errors import TrainingError
    from milon_app.federation.evaluator import make_evaluator
    from milon_app.federation.fingerprints import JudgeHistory

    torch.set_num_threads(1)
    t0 = time.perf_counter()
    env = _setup(cfg)
    spec, data = env["spec"], env["data"]
    evaluators = [make_evaluator(spec, v) for v in env["vals"]]
    histories = [JudgeHistory(salt=7 + 101 * k) for k in range(cfg.validators)]
    base = {k: v.detach().clone() for k, v in spec.build(cfg.seed).state_dict().items()}
    rejected: list[dict[int, list[int]]] = []
    dissent: list[dict[int, list[int]]] = []
    collapsed = False
    for rnd in range(cfg.rounds):
        try:
            updates = _round_updates(cfg, rnd, env, base)
        except TrainingError:  # the global model no longer trains: the federation collapsed
            collapsed = True
            break
        base, rej, dis = _committee_round(cfg, env, evaluators, histories, base, updates)
        rejected.append(rej)
        dissent.append(dis)
    _, acc = evaluate(spec, base, data.x_test, data.y_test)
    success = (
        attack_success(spec, base, data.x_test, data.y_test) if cfg.dataset == "digits" else None
    )
    return {
        "config": asdict(cfg),
        "accuracy": acc,
        "attack_success": success,
        "collapsed": collapsed,
        "rejected": [{str(k): v for k, v in r.items()} for r in rejected],
        "dissent": [{str(k): v for k, v in r.items()} for r in dissent],
        "seconds": time.perf_counter() - t0,
    }


def centralized(dataset: str, epochs: int, seed: int) -> float:
    """The same model on all client data (the pool without the validators' share), one machine."""
    import torch

    from milon_app.compute.trainer import evaluate, train

    torch.set_num_threads(1)
    env = _setup(Config(dataset=dataset, seed=seed))
    res = train(env["spec"], None, env["pool"], epochs=epochs, seed=seed, threads=1)
    return evaluate(env["spec"], res.state, env["data"].x_test, env["data"].y_test)[1]


def rejection_counts(run: Mapping[str, Any]) -> dict[str, int]:
    """Honest / attacker node-rounds rejected, and distinct nodes ever rejected."""
    cfg = run["config"]
    first_byz = cfg["clients"] - cfg["attackers"]
    hon = byz = 0
    ever_h: set[int] = set()
    ever_b: set[int] = set()
    for rnd in run["rejected"]:
        for k in rnd:
            i = int(k)
            if i >= first_byz:
                byz += 1
                ever_b.add(i)
            else:
                hon += 1
                ever_h.add(i)
    lone = sum(
        len(v) for rnd in run.get("dissent", []) for k, v in rnd.items() if int(k) < first_byz
    )
    lone += sum(len(v) for rnd in run["rejected"] for k, v in rnd.items() if int(k) < first_byz)
    return {
        "honest_rounds": hon,
        "byz_rounds": byz,
        "honest_nodes": len(ever_h),
        "byz_nodes": len(ever_b),
        "rounds": len(run["rejected"]),
        "honest_votes_against": lone,
    }
