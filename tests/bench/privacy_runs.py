"""The privacy section's runs: a MILON row, a Flower row, the trainer's throughput.

A MILON row is ``milon demo`` with ``--dp`` in a child process (tests/bench/privacy_demo.py)
that also scores the membership-inference attack on the final model. A Flower row is the
end-to-end section's Flower app in simulation (Ray), with Flower's client-side DP
(``DifferentialPrivacyClientSideFixedClipping`` + ``fixedclipping_mod``) whose noise
multiplier comes from :func:`flower_dp`: the same Opacus RDP accountant, (epsilon, delta)
and rounds as MILON's client-dp (the Flower venv has no Opacus, so it is computed here and
passed in). Both train the same members' data: the demo's IID shares of the training split
less the owner's held-out validation samples.
"""

from __future__ import annotations

import json
import subprocess
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent

# A small CNN for 32x32 RGB images (~10k parameters, no BatchNorm: Opacus' per-sample
# gradients need layers without cross-sample statistics).
SHAPES_CNN: dict[str, Any] = {
    "version": 1,
    "input_shape": [3, 32, 32],
    "layers": [
        {"type": "Conv2d", "in_channels": 3, "out_channels": 16, "kernel_size": 3, "stride": 2,
         "padding": 1},
        {"type": "ReLU"},
        {"type": "Conv2d", "in_channels": 16, "out_channels": 32, "kernel_size": 3, "stride": 2,
         "padding": 1},
        {"type": "ReLU"},
        {"type": "MaxPool2d", "kernel_size": 2},
        {"type": "Flatten"},
        {"type": "Linear", "in_features": 512, "out_features": 10},
    ],
    "loss": "cross_entropy",
    "optimizer": {"type": "sgd", "lr": 0.05, "momentum": 0.9},
    "batch_size": 32,
}  # fmt: skip


@dataclass
class Row:
    system: str  # MILON or Flower
    dataset: str
    mode: str  # none, client-dp, dp-sgd, flower-client-dp
    epsilon: float | None  # None: no privacy
    accuracy: float | None = None
    accuracy_by_round: list[float | None] = field(default_factory=list)
    mia_auc: float | None = None
    noise_multiplier: float | None = None
    noise_std: float | None = None  # per coordinate: on each update (MILON) or the mean (Flower)
    epsilon_spent: float | None = None
    wall_s: float | None = None
    note: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def flower_dp(
    epsilon: float, delta: float, rounds: int, clip: float, clients: int
) -> dict[str, float]:
    """Flower's client-side DP settings for the target (epsilon, delta) over ``rounds``.

    Flower's server adds N(0, (sigma * clip / clients)^2) to the mean of ``clients`` updates
    each clipped to ``clip``: a Gaussian mechanism on their sum with sensitivity ``clip``
    (one client more or less) and noise ``sigma * clip``, every round (sample rate 1). That
    is the release MILON's accountant composes for client-dp (whose sensitivity is
    ``2 * clip`` and noise ``sigma * 2 * clip``), so the same sigma gives the same epsilon."""
    from milon_app.federation.privacy import epsilon_spent, noise_multiplier

    sigma = noise_multiplier(epsilon, delta, rounds)
    return {
        "noise_multiplier": sigma,
        "clip": clip,
        "noise_std_on_mean": sigma * clip / clients,
        "epsilon_spent": epsilon_spent(sigma, rounds, delta),
    }


def milon_row(
    python: str,
    work: Path,
    name: str,
    dataset: str,
    model: str,
    mode: str,
    epsilon: float | None,
    p: dict[str, int],
) -> Row:
    """One ``milon demo`` job with ``mode`` at ``epsilon`` and the attack on its model.
    The members' updates go over the in-process transport (no libp2p hosts): what is
    measured here is the model, and on a shared 2-core machine the hosts' threads cost
    minutes a row."""
    out = work / f"milon-{name}-{mode}-{epsilon}.json"
    cmd = [
        python,
        str(HERE / "privacy_demo.py"),
        str(out),
        "--dataset",
        dataset,
        "--model",
        model,
        "--nodes",
        str(p["nodes"]),
        "--rounds",
        str(p["rounds"]),
        "--epochs-per-round",
        str(p["epochs"]),
        "--transport",
        "inprocess",
    ]
    if mode != "none":
        cmd += ["--dp", mode, "--epsilon", f"{epsilon:g}"]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=1200)
    if proc.returncode != 0 or not out.is_file():
        raise RuntimeError(f"privacy_demo.py exited {proc.returncode}: {proc.stderr[-1500:]}")
    d = json.loads(out.read_text())
    priv = d.get("privacy", {})
    return Row(
        "MILON",
        name,
        mode,
        epsilon,
        d["final_accuracy"],
        d["accuracy_by_round"],
        d["mia_auc"],
        priv.get("noise_multiplier"),
        priv.get("noise_std"),
        priv.get("epsilon_spent"),
        d["wall_s"],
        note=_accepted_note(d["accepted_by_round"], p["nodes"]),
    )


def _accepted_note(accepted: list[int], nodes: int) -> str:
    short = [f"r{i}: {a}/{nodes}" for i, a in enumerate(accepted, 1) if a < nodes]
    return "accepted " + ", ".join(short) if short else ""


def flower_row(
    repo: Path,
    work: Path,
    bin_dir: Path,
    name: str,
    dataset: str,
    model: str,
    epsilon: float | None,
    p: dict[str, int],
    delta: float,
    clip: float,
) -> Row:
    """Flower's simulation of the same job, with client-side DP at ``epsilon`` (None: off)."""
    import e2e_flower as fl

    tag = f"flower-{name}-{epsilon}"
    extra: dict[str, Any] = {
        "dataset": dataset,
        "model": model,
        "holdout": True,
        "save_model": str(work / tag / "model.pt"),
    }
    dp: dict[str, float] = {}
    if epsilon is not None:
        dp = flower_dp(epsilon, delta, p["rounds"], clip, p["nodes"])
        extra.update(noise_multiplier=dp["noise_multiplier"], clip=clip)
    t0 = time.monotonic()
    run = fl.run_simulation(repo, work / tag, bin_dir, p["nodes"], p["rounds"], p["epochs"], extra)
    wall = time.monotonic() - t0
    auc = flower_auc(work / tag / "model.pt", dataset, model)
    return Row(
        "Flower",
        name,
        "none" if epsilon is None else "flower-client-dp",
        epsilon,
        run.final_accuracy,
        [r[2] for r in run.rounds],
        auc,
        dp.get("noise_multiplier"),
        dp.get("noise_std_on_mean"),
        dp.get("epsilon_spent"),
        wall,
    )


def flower_auc(model_file: Path, dataset: str, model: str) -> float:
    """The same attack on Flower's final model (the members: the same shares as MILON's)."""
    import torch
    from privacy_demo import attack_sets

    from milon_app.demo_data import load_workload
    from milon_app.federation.membership import attack_auc

    wl = load_workload(model, dataset, 0)
    d = wl.data
    state = torch.load(model_file, weights_only=True)
    members, non_members = attack_sets(d.x_train, d.y_train, d.x_test, d.y_test, 0)
    return attack_auc(wl.spec, state, members, non_members)


def throughput(epochs: int, repeats: int, epsilon: float = 8.0) -> dict[str, Any]:
    """Trainer samples/s on the digits MLP (all training data, one thread) without and with
    dp-sgd at ``epsilon``, alternating, ``repeats`` times each after one warm-up run each:
    the medians and their ratio."""
    import statistics

    from milon_app.compute.datasets import DatasetSpec, load_dataset
    from milon_app.compute.model_spec import digits_mlp
    from milon_app.compute.privacy_spec import PrivacySpec
    from milon_app.compute.trainer import train

    data = load_dataset(DatasetSpec(kind="builtin", name="digits", test_fraction=0.2, seed=0))
    plain = digits_mlp()
    dp = plain.with_privacy(PrivacySpec("dp-sgd", epsilon, 1e-5, 1.0))
    n = int(data.x_train.shape[0])
    rates: dict[str, list[float]] = {"plain": [], "dp-sgd": []}
    for spec in (plain, dp):  # warm-up, not counted: first-call imports and allocations
        train(spec, None, (data.x_train[:64], data.y_train[:64]), epochs=1, seed=0, threads=1)
    for i in range(repeats):
        for key, spec in (("plain", plain), ("dp-sgd", dp)):
            res = train(spec, None, (data.x_train, data.y_train), epochs=epochs, seed=i, threads=1)
            rates[key].append(n * epochs / res.wall_s)
    med = {k: statistics.median(v) for k, v in rates.items()}
    return {
        "samples": n,
        "epochs": epochs,
        "repeats": repeats,
        "epsilon": epsilon,
        "samples_per_s": rates,
        "median": med,
        "ratio": med["dp-sgd"] / med["plain"],
    }


def image_npz(folder: Path, out: Path) -> Path:
    """The image folder's pixels and labels as an NPZ, in the folder's order: the Flower
    venv has no Pillow, so both systems read this file (the same bytes, the same split)."""
    import numpy as np

    from milon_app.compute.data_files import load_image_folder

    x, y, _classes = load_image_folder(folder, image_size=None, grayscale=False)
    np.savez(out, x=x, y=y)
    return out
