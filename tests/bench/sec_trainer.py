"""Section 1, trainer overhead: MILON's trainer vs a bare PyTorch loop, same model/batch/device.

Wraps ``bench_trainer.py`` (its cases, bare loop and alternating-order
timing). CPU runs use one torch thread, the steadiest figure on a shared
machine; every case also runs on CUDA when this machine has a CUDA device.
"""

from __future__ import annotations

from suite import BenchContext, SectionResult

GOAL = 0.97


def run(ctx: BenchContext) -> SectionResult:
    import torch
    from bench_trainer import CASES, measure_case
    from sectools import bar_plot, machine_footer, table

    from milon_app.compute.datasets import load_builtin
    from milon_app.compute.hardware import cpu_model_name

    scale, reps = (0.05, 1) if ctx.quick else (1.0, 5)
    torch.set_num_threads(1)
    devices = [("cpu", f"cpu ({cpu_model_name()}, 1 thread)")]
    if torch.cuda.is_available():
        devices.append(("cuda", f"cuda ({torch.cuda.get_device_name(0)})"))
    data = load_builtin("digits", seed=0)
    rows, raw, bars = [], [], {}
    for dev, dev_label in devices:
        for label, factory, batch, epochs_1 in CASES[:1] if ctx.quick else CASES:
            spec = factory(batch)
            d = data.for_model(spec)
            epochs = max(1, round(epochs_1 * scale))
            m = measure_case(spec, d.x_train, d.y_train, epochs, torch.device(dev), reps)
            raw.append({"device": dev_label, "model": label, "batch": batch, "epochs": epochs, **m})
            rows.append([dev_label, label, batch, epochs, f"{m['bare_sps']:,.0f}",
                         f"{m['milon_sps']:,.0f}", f"**{m['ratio']:.3f}**", f"{m['cpu_ratio']:.3f}"])
            bars[f"{dev} {label.split()[-1]} b{batch}"] = m["ratio"]
    plot = bar_plot(ctx.out_dir / "trainer_ratio.png", "MILON trainer / bare PyTorch loop",
                    "samples/s ratio", bars, hline=(f"goal {GOAL}", GOAL), footer=machine_footer())
    worst = {dl: min(r["ratio"] for r in raw if r["device"] == dl) for _, dl in devices}
    md = "\n\n".join([
        "Both sides build the same model from the same spec and seed, train the same epochs on "
        "digits (1,437 training samples) and hand back the final state on the CPU; they run in "
        f"alternating order and the median of {reps} runs (after a warm-up) is taken. "
        "*ratio* = MILON samples/s / bare samples/s (goal ≥ 0.97); *cpu-time ratio* compares "
        "process CPU time, which a busy shared machine disturbs less than wall time.",
        table(["device", "model", "batch", "epochs", "bare samples/s", "MILON samples/s", "ratio",
               "cpu-time ratio"], rows, "lllrrrrr"),
        "Worst ratio per device: " + "; ".join(f"{k}: **{v:.3f}**" for k, v in worst.items())
        + (". No CUDA device on this machine: GPU figures are absent, not estimated."
           if len(devices) == 1 else "."),
        f"![trainer ratio](benchmarks/{plot.name})",
    ])
    return SectionResult(
        key="trainer", title="Trainer overhead",
        command=".venv/bin/python tests/bench/report.py --only trainer"
        + (" --quick" if ctx.quick else "")
        + "  (or tests/bench/bench_trainer.py --threads 1 --reps 5 [--device cuda])",
        markdown=md, data={"cases": raw, "reps": reps, "scale": scale, "worst": worst},
        headline=[f"trainer/bare samples/s worst ratio {v:.3f} on {k} (goal ≥ {GOAL})"
                  for k, v in worst.items()],
        plots=[plot], device=" + ".join(dl for _, dl in devices),
    )
