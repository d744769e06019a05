"""Tables and plots of the verdicts section (sec_verdicts): accuracy against goals, who was
rejected, and the misses named with their numbers."""

from __future__ import annotations

import statistics
from pathlib import Path
from typing import Any

from fedsim import rejection_counts

GROUPS = ("skew", "iid", "backdoor", "alie", "attacks", "freerider")


def _pct(values: list[float]) -> str:
    if not values:
        return "-"
    mean = 100 * statistics.fmean(values)
    return f"{mean:.1f}" + (f" ± {100 * statistics.pstdev(values):.1f}" if len(values) > 1 else "")


def _by(runs: list[dict[str, Any]], group: str) -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = {}
    for r in runs:
        if r["group"] == group:
            out.setdefault(r["label"], []).append(r)
    return out


def _count(rs: list[dict[str, Any]], key: str) -> int:
    return sum(rejection_counts(r)[key] for r in rs)


def _played(rs: list[dict[str, Any]], honest: bool) -> int:
    def nodes(c: dict[str, Any]) -> int:
        return c["clients"] - c["attackers"] if honest else c["attackers"]

    return sum(nodes(r["config"]) * len(r["rejected"]) for r in rs)


def _central_of(r: dict[str, Any], central: dict[str, float]) -> float:
    c = r["config"]
    return central[f"{c['dataset']}/{c['rounds'] * c['epochs']}/{c['seed']}"]


def _verdict(ok: bool) -> str:
    return "yes" if ok else "**no**"


def table_accuracy(
    runs: list[dict[str, Any]], central: dict[str, float], group: str, gap: float
) -> tuple[str, list[str]]:
    """Accuracy vs centralized per federation, honest rejections; misses are named.

    For label skew only FedAvg and Median on Dirichlet splits carry the accuracy goal; every
    row carries the zero-honest-rejections goal.
    """
    from sectools import table

    rows, misses = [], []
    for label, rs in sorted(_by(runs, group).items()):
        acc = [r["accuracy"] for r in rs]
        cen = [_central_of(r, central) for r in rs]
        diff = 100 * (statistics.fmean(cen) - statistics.fmean(acc))
        hon, votes = _count(rs, "honest_rounds"), _count(rs, "honest_votes_against")
        parts = label.split("/")
        judged = group == "iid" or (parts[1] in ("fedavg", "median") and len(parts) == 2)
        ok = hon == 0 and (diff <= gap or not judged)
        rows.append(
            [
                label,
                _pct(acc),
                _pct(cen),
                f"{diff:+.1f}",
                f"{hon}/{_played(rs, True)}",
                str(votes),
                _verdict(ok) if judged or hon else "(0 rejected: yes)",
            ]
        )
        if not ok:
            misses.append(
                f"{group} {label}: {diff:.1f} points below centralized "
                f"({_pct(acc)} vs {_pct(cen)}), {hon} honest node-rounds rejected"
            )
    head = [
        "federation",
        "accuracy %",
        "centralized %",
        "gap (points)",
        "honest rejected (node-rounds)",
        "single votes against honest",
        f"goal: gap <= {gap:g}, 0 rejected",
    ]
    return table(head, rows, "lrrrrrl"), misses


def _reference(by: dict[str, list[dict[str, Any]]], group: str, label: str) -> list[dict[str, Any]]:
    """The no-attack runs that a label's attacked runs are compared with."""
    parts = label.split("/")
    if group == "backdoor":
        return by[f"{parts[0]}/none"]
    if group == "attacks":
        return by["/".join([*parts[:2], "none", "0"])]
    return by["/".join([*parts[:2], "none"])]


def table_attack(runs: list[dict[str, Any]], group: str, goal: float) -> tuple[str, list[str]]:
    """Accuracy vs the same rule's no-attack runs and who was rejected; misses are named."""
    from sectools import table

    by = _by(runs, group)
    rows, misses = [], []
    for label, rs in sorted(by.items()):
        if "/none" in label:
            continue
        ref = _reference(by, group, label)
        acc, base = [r["accuracy"] for r in rs], [r["accuracy"] for r in ref]
        drop = 100 * (statistics.fmean(base) - statistics.fmean(acc))
        hon, byz = _count(rs, "honest_rounds"), _count(rs, "byz_rounds")
        rule = label.split("/")[0 if group == "backdoor" else 1]
        row = [
            label,
            _pct(acc),
            _pct(base),
            f"{drop:+.1f}",
            f"{byz}/{_played(rs, False)}",
            str(hon),
        ]
        if group == "backdoor":
            succ = [r["attack_success"] for r in rs]
            per_run = [rejection_counts(r)["byz_rounds"] for r in rs]
            caught = byz > 0
            ok = hon == 0 and max(succ) <= 0.05 and caught
            row[3:3] = [
                _pct(succ),
                f"{100 * max(succ):.1f}",
                _pct([r["attack_success"] for r in ref]),
            ]
            row[-2] += f" (per run {', '.join(map(str, per_run))})"
            why = f"success {_pct(succ)} (max {100 * max(succ):.1f}), rejected per run {per_run}"
        else:
            ok = hon == 0 and (drop <= goal or (group == "attacks" and rule == "fedavg"))
            why = f"drop {drop:.1f} points"
        rows.append([*row, _verdict(ok)])
        if not ok:
            misses.append(
                f"{group} {label}: {why}, attackers rejected {byz}/{_played(rs, False)},"
                f" honest rejected {hon}"
            )
    head = [
        "federation",
        "accuracy %",
        "no attack %",
        "drop (points)",
        "attackers rejected (node-rounds)",
        "honest rejected",
        "goal",
    ]
    if group == "backdoor":
        head[3:3] = ["attack success %", "worst run %", "no-attack success %"]
    return table(head, rows), misses


def table_freerider(runs: list[dict[str, Any]]) -> tuple[str, list[str]]:
    from sectools import table

    rows, misses = [], []
    for label, rs in sorted(_by(runs, "freerider").items()):
        byz, hon = _count(rs, "byz_rounds"), _count(rs, "honest_rounds")
        played = sum(len(r["rejected"]) for r in rs)
        ok = byz == played and hon == 0
        rows.append([label, f"{byz}/{played}", str(hon), _verdict(ok)])
        if not ok:
            misses.append(f"freerider {label}: rejected {byz}/{played}, honest rejected {hon}")
    return table(
        ["federation", "free rider rejected (rounds)", "honest rejected", "goal"], rows
    ), misses


TITLES = {
    "skew": "Label skew: Dirichlet(0.3) (and shards:2, and validators on their own skewed data)",
    "iid": "IID",
    "backdoor": "Backdoor, 1 of 5 (trigger pixels -> label 0); goal: success <= 5% in every run, "
    "attacker rejected at least once",
    "alie": "ALIE, 2 of 6 colluders (z = 1 with 1e-6 jitter, 3, 10); goal: within 2 points",
    "attacks": "Sign-flip x10 / noise sd 10 / label-flip / lazy, 20 clients (breast_cancer, "
    "first seed); goal: robust rules within 3 points",
    "freerider": "Free rider (base + 1e-6 noise), 1 of 10 (digits) / 8 (breast_cancer)",
}


def render(
    runs: list[dict[str, Any]], central: dict[str, float], quick: bool, wall: float
) -> tuple[str, list[str]]:
    parts, misses = [], []
    present = {r["group"] for r in runs}
    for group in GROUPS:
        if group not in present:
            continue
        if group in ("skew", "iid"):
            t, m = table_accuracy(runs, central, group, 5.0 if group == "skew" else 1.5)
        elif group == "freerider":
            t, m = table_freerider(runs)
        else:
            t, m = table_attack(runs, group, {"alie": 2.0, "attacks": 3.0}.get(group, 100.0))
        parts += [f"### {TITLES[group]}", t]
        misses += m
    parts.append(
        f"{len(runs)} federations in {wall:.0f} s"
        + (" (quick mode: tiny sizes)." if quick else ".")
    )
    return "\n\n".join(parts), misses


def plots(runs: list[dict[str, Any]], central: dict[str, float], out_dir: Path) -> list[Path]:
    """Accuracy gap to centralized (skew and IID) and backdoor success, per federation."""
    from sectools import bar_plot, machine_footer

    made = []
    for group, goal in (("skew", 5.0), ("iid", 1.5)):
        by = _by(runs, group)
        if by:
            gaps = {
                label: 100 * statistics.fmean(_central_of(r, central) - r["accuracy"] for r in rs)
                for label, rs in sorted(by.items())
            }
            made.append(
                bar_plot(
                    out_dir / f"verdicts_{group}.png",
                    "Dirichlet(0.3) label skew: gap to centralized"
                    if group == "skew"
                    else "IID: gap to centralized",
                    "points below centralized (mean of seeds)",
                    gaps,
                    hline=(f"goal {goal:g} points", goal),
                    footer=machine_footer(),
                )
            )
    by = _by(runs, "backdoor")
    if by:
        success = {
            label: 100 * max(r["attack_success"] for r in rs) for label, rs in sorted(by.items())
        }
        made.append(
            bar_plot(
                out_dir / "verdicts_backdoor.png",
                "Backdoor success (worst seed)",
                "triggered test images classified as 0 (%)",
                success,
                hline=("goal 5%", 5.0),
                footer=machine_footer(),
            )
        )
    return made
