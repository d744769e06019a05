"""The privacy section's report: its table, plots, goals and headline from the rows it ran."""

from __future__ import annotations

from typing import Any

from privacy_runs import Row
from suite import BenchContext, SectionResult

GOAL_ACC_PT, GOAL_AUC = 5.0, 0.55  # issue 23: eps 8 within 5 pt on digits; AUC <= 0.55 at eps 3
MODE_NAMES = {
    "none": "no privacy",
    "client-dp": "client-dp",
    "dp-sgd": "dp-sgd",
    "flower-client-dp": "client-side DP (fixed clipping)",
}


def _f(v: float | None, spec: str) -> str:
    return "-" if v is None else format(v, spec)


def baseline(rows: list[Row], system: str, dataset: str) -> float | None:
    """The system's no-privacy accuracy on ``dataset`` (what its DP rows are compared with)."""
    return next(
        (
            r.accuracy
            for r in rows
            if r.system == system and r.dataset == dataset and r.mode == "none"
        ),
        None,
    )


def gap_pt(rows: list[Row], r: Row) -> float | None:
    base = baseline(rows, r.system, r.dataset)
    return None if base is None or r.accuracy is None else (r.accuracy - base) * 100


def goals(rows: list[Row], acc_pt: float, auc_max: float) -> list[str]:
    """Issue 23's goals, met or missed with the numbers, per mode that ran."""
    out = []
    for r in rows:
        if r.dataset != "digits" or r.mode == "none" or r.accuracy is None:
            continue
        name = f"{r.system} {MODE_NAMES[r.mode]}"
        if r.epsilon == 8.0:
            gap = gap_pt(rows, r)
            if gap is not None:
                ok = "met" if gap >= -acc_pt else "MISSED"
                out.append(
                    f"digits, epsilon 8: {name} {r.accuracy:.2%} vs no privacy "
                    f"{baseline(rows, r.system, 'digits'):.2%} ({gap:+.1f} pt; goal within "
                    f"{acc_pt:g} pt): {ok}"
                )
        if r.epsilon == 3.0 and r.mia_auc is not None:
            ok = "met" if r.mia_auc <= auc_max else "MISSED"
            out.append(
                f"digits, epsilon 3: {name} membership-inference AUC {r.mia_auc:.3f} "
                f"(goal <= {auc_max:g}): {ok}"
            )
    return out


def _table(rows: list[Row]) -> str:
    from sectools import table

    body = []
    for r in rows:
        gap = gap_pt(rows, r)
        body.append([
            r.system, r.dataset, MODE_NAMES[r.mode], _f(r.epsilon, "g"),
            _f(r.noise_multiplier, ".3f"), _f(r.noise_std, ".3f"), _f(r.epsilon_spent, ".2f"),
            _f(r.accuracy, ".2%"), "-" if gap is None or r.mode == "none" else f"{gap:+.1f} pt",
            _f(r.mia_auc, ".3f"), _f(r.wall_s, ".0f"), r.note,
        ])  # fmt: skip
    md: str = table(
        [
            "system",
            "data",
            "privacy",
            "target ε",
            "sigma",
            "noise sd",
            "ε spent",
            "final acc.",
            "vs no privacy",
            "MIA AUC",
            "wall s",
            "note",
        ],
        body,
        "llllrrrrrrrl",
    )
    return md


def _plots(ctx: BenchContext, rows: list[Row]) -> list[Any]:
    from sectools import line_plot, machine_footer

    footer = machine_footer()
    digits = [r for r in rows if r.dataset == "digits"]
    acc: dict[str, tuple[list[float], list[float]]] = {}
    auc: dict[str, tuple[list[float], list[float]]] = {}
    for r in digits:
        if r.epsilon is None:
            continue
        key = f"{r.system} {MODE_NAMES[r.mode]}"
        if r.accuracy is not None:
            acc.setdefault(key, ([], []))[0].append(r.epsilon)
            acc[key][1].append(100 * r.accuracy)
        if r.mia_auc is not None:
            auc.setdefault(key, ([], []))[0].append(r.epsilon)
            auc[key][1].append(r.mia_auc)
    plain = [r for r in digits if r.mode == "none"]
    hl_acc = _one_label([(r.system, r.accuracy) for r in plain], 100, ".1%")
    hl_auc = _one_label([(r.system, r.mia_auc) for r in plain], 1, ".3f")
    hl_auc[f"goal {GOAL_AUC:g} (at ε 3)"] = GOAL_AUC
    return [
        line_plot(
            ctx.out_dir / "privacy_accuracy.png",
            "Final accuracy against ε (digits)",
            "target ε (δ 1e-5)",
            "test accuracy %",
            acc,
            hlines=hl_acc,
            logx=True,
            footer=footer,
        ),
        line_plot(
            ctx.out_dir / "privacy_mia.png",
            "Membership-inference AUC against ε (digits)",
            "target ε (δ 1e-5)",
            "attack AUC (0.5: coin toss)",
            auc,
            hlines=hl_auc,
            logx=True,
            footer=footer,
        ),
    ]


def _one_label(values: list[tuple[str, float | None]], scale: float, spec: str) -> dict[str, float]:
    """Reference lines for the no-privacy rows, all named in the first label (they lie
    close together; one label per line would print over each other)."""
    got = [(s, v) for s, v in values if v is not None]
    text = "no privacy: " + ", ".join(f"{s} {format(v, spec)}" for s, v in got)
    return {(text if i == 0 else " " * i): scale * v for i, (_s, v) in enumerate(got)}


def _throughput_md(tp: dict[str, Any] | None) -> list[str]:
    from sectools import table

    if tp is None:
        return [
            "\nTrainer throughput with dp-sgd: not measured (dp-sgd is not a supported "
            "mode in this checkout)."
        ]
    med = tp["median"]
    rows = [
        [k, f"{med[k]:,.0f}", ", ".join(f"{v:,.0f}" for v in tp["samples_per_s"][k])]
        for k in ("plain", "dp-sgd")
    ]
    return [
        f"\n**Trainer throughput** (digits MLP, {tp['samples']:,} samples, {tp['epochs']} "
        f"epochs a run, one thread, {tp['repeats']} runs each, alternating; dp-sgd at ε "
        f"{tp['epsilon']:g}: Opacus per-sample gradients, Poisson sampling)\n",
        table(["trainer", "samples/s (median)", "runs"], rows),
        f"\ndp-sgd / plain: **{tp['ratio']:.2f}x**.",
    ]


def result(
    ctx: BenchContext,
    params: dict[str, Any],
    rows: list[Row],
    tp: dict[str, Any] | None,
    loads: tuple[tuple[float, ...], tuple[float, ...]],
    section_s: float,
) -> SectionResult:
    from sectools import machine_footer

    d = params["digits"]
    md = [
        f"Digits: {d['nodes']} clients x {d['rounds']} rounds of {d['epochs']} epochs (split "
        "by capacity as the demo does), δ 1e-5, clip 1.0."
    ]
    if "image" in params:
        im = params["image"]
        md[0] += (
            f" shapes1500 (32x32 RGB, 1,200 / 300, a ~10k-parameter CNN): {im['nodes']} "
            f"clients x {im['rounds']} rounds, ε {', '.join(f'{e:g}' for e in im['epsilons'])}"
            " only (to keep the section within its time on a shared 2-core machine)."
        )
    md += ["", _table(rows)]
    met = goals(rows, GOAL_ACC_PT, GOAL_AUC)
    md += ["\n**Goals** (issue 23)\n", *[f"- {g}" for g in met]]
    plots = _plots(ctx, rows) if rows else []
    md += (
        [
            f"\n![accuracy against epsilon](benchmarks/{plots[0].name})",
            f"![membership inference against epsilon](benchmarks/{plots[1].name})",
        ]
        if plots
        else []
    )
    md += _throughput_md(tp)
    md.append(
        f"\nMachine: {machine_footer()}; load average {loads[0][0]:.1f} before, "
        f"{loads[1][0]:.1f} after (other work shared the 2 cores). Section wall time "
        f"{section_s:.0f} s; the rows run one after the other."
    )
    md += _notes(params, rows)
    headline = _headline(rows, tp, met, d["nodes"])
    return SectionResult(
        key="privacy", title="Privacy",
        command="bash tests/bench/setup_flower.sh && .venv/bin/python tests/bench/report.py "
                "--only privacy",
        markdown="\n".join(md),
        data={"params": params, "rows": [r.to_dict() for r in rows], "throughput": tp,
              "goals": met, "loadavg_before": loads[0], "loadavg_after": loads[1],
              "section_s": section_s},
        headline=headline, plots=plots, device="cpu",
    )  # fmt: skip


def _headline(rows: list[Row], tp: dict[str, Any] | None, met: list[str], nodes: int) -> list[str]:
    eight = [r for r in rows if r.dataset == "digits" and r.epsilon == 8.0 and r.accuracy]
    base = {s: baseline(rows, s, "digits") for s in ("MILON", "Flower")}
    parts = [f"{r.system} {MODE_NAMES[r.mode]} {r.accuracy:.1%}" for r in eight if r.accuracy]
    line = (
        f"digits, {nodes} clients, ε 8 (δ 1e-5): "
        + ", ".join(parts)
        + " vs no privacy "
        + " / ".join(f"{s} {_f(b, '.1%')}" for s, b in base.items())
    )
    three = [
        f"{r.system} {MODE_NAMES[r.mode]} {r.mia_auc:.3f}"
        for r in rows
        if r.dataset == "digits" and r.epsilon == 3.0 and r.mia_auc is not None
    ]
    if three:
        line += "; MIA AUC at ε 3: " + ", ".join(three)
    if tp is not None:
        line += f"; dp-sgd trainer {tp['ratio']:.2f}x plain samples/s"
    missed = sum("MISSED" in g for g in met)
    line += f"; {missed} of {len(met)} goal checks missed"
    return [line]


def _param_counts() -> dict[str, int]:
    from privacy_runs import SHAPES_CNN

    from milon_app.compute.model_spec import ModelSpec, digits_mlp

    return {"digits": digits_mlp().param_count(),
            "shapes1500": ModelSpec.from_dict(SHAPES_CNN).param_count()}  # fmt: skip


def noise_norms(rows: list[Row], nodes: int, params: int) -> dict[str, float]:
    """Expected L2 norm of the noise on the *mean* update, per client-level DP row at ε 8 on
    digits: MILON averages ``nodes`` independently noised updates (sd / sqrt(nodes) per
    coordinate), Flower's sd is already on the mean; the clipped mean's norm is <= clip."""
    out = {}
    for r in rows:
        if r.dataset == "digits" and r.epsilon == 8.0 and r.noise_std is not None:
            if r.mode == "client-dp":
                out[f"MILON {MODE_NAMES[r.mode]}"] = r.noise_std / nodes**0.5 * params**0.5
            elif r.mode == "flower-client-dp":
                out[f"Flower {MODE_NAMES[r.mode]}"] = r.noise_std * params**0.5
    return out


def _notes(params: dict[str, Any], rows: list[Row]) -> list[str]:
    d = params["digits"]
    counts = _param_counts()
    norms = noise_norms(rows, d["nodes"], counts["digits"])
    out = [
        "\nWhat the rows are: a MILON row is `milon demo --dp MODE --dp-epsilon E` on the "
        "embedded chain with the committee judging every update (no governance cycle or "
        "centralized baseline; updates over the in-process transport, not libp2p: the model "
        "is what is measured, and libp2p hosts cost minutes a row on this shared machine), its "
        "final global model read from the owner's store. A Flower row is Flower's simulation "
        "(Ray) of the same job with MILON's trainer and the same members' data (the demo's IID "
        "shares after the owner's held-out validation samples). ε is the target for the whole "
        "job, sigma the noise multiplier Opacus' RDP accountant gives for it (client-dp and "
        "Flower: one release per round, the same sigma for both). **Noise sd** is per "
        "coordinate: MILON client-dp adds sigma x 2 x clip to *each* member's clipped update on "
        "the member's machine (no one is trusted with a raw update; replace-one adjacency), "
        "Flower adds sigma x clip / clients to the *mean* on its server (which sees every "
        "clipped update in the clear; add/remove-one adjacency): averaged over "
        f"{d['nodes']} members MILON's noise on the mean is sigma x 2 x clip / sqrt({d['nodes']})"
        f", {2 * d['nodes'] ** 0.5:.1f}x Flower's at the same sigma. MIA AUC: the loss-threshold "
        "attack (lower loss: member) on the final model, members' training samples against as "
        "many test samples; 0.5 is a coin toss (its sd is about 0.02 at these sizes).",
    ]
    if norms:
        out.append(
            "\nWhy client-level DP costs this much here: at ε 8 the noise on the mean update "
            "has an expected L2 norm of "
            + ", ".join(f"{v:.1f} ({k})" for k, v in norms.items())
            + f" over the digits MLP's {counts['digits']:,} parameters, against at most "
            "1.0 (the clip) for the mean of the clipped updates. Client-level DP hides a whole "
            f"member, and with {d['nodes']} members that takes noise far above the signal; it "
            f"pays off with hundreds of members a round, not {d['nodes']}."
        )
    if any(r.mode == "dp-sgd" for r in rows):
        total = d["rounds"] * d["epochs"]
        out.append(
            "\ndp-sgd: sigma is per step (noise on each step's summed clipped per-sample "
            "gradients, Poisson sampling); each member's noise is calibrated for the job's "
            f"total epochs ({d['rounds']} x {d['epochs']} = {total} on digits), the most it "
            "could be assigned, while the capacity split gives it a share of each round's "
            "epochs, so **ε spent** (the member that trained most) stays below the target."
        )
    return out
