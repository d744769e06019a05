"""The ServerApp: FedAvg over all clients, the global model evaluated after every round
on MILON's held-out test set; the timeline is written as JSON for the benchmark.

With ``noise_multiplier`` in the benchmark config (the privacy section) FedAvg is wrapped
in Flower's client-side DP (``DifferentialPrivacyClientSideFixedClipping``: the clients'
``fixedclipping_mod`` clips each update to ``clip``, the server adds Gaussian noise of
sd ``noise_multiplier * clip / clients`` to the average); the final model is saved too."""

from __future__ import annotations

import json
import os
import time
from typing import Any

from flwr.app import ArrayRecord, ConfigRecord, Context, MetricRecord
from flwr.serverapp import Grid, ServerApp
from flwr.serverapp.strategy import DifferentialPrivacyClientSideFixedClipping, FedAvg, Strategy

from flower_digits import task
from milon_app.compute.trainer import evaluate

app = ServerApp()


@app.main()
def main(grid: Grid, context: Context) -> None:
    t_start = time.time()
    cfg = task.bench_config(dict(context.run_config))
    clients, rounds, seed = int(cfg["clients"]), int(cfg["rounds"]), int(cfg["seed"])
    model, data_name = str(cfg.get("model", "")), str(cfg.get("dataset", ""))
    spec = task.spec(model, data_name)
    data = task.dataset(seed, data_name, model)
    timeline: list[dict[str, Any]] = []

    def evaluate_fn(server_round: int, arrays: ArrayRecord) -> MetricRecord:
        loss, acc = evaluate(spec, arrays.to_torch_state_dict(), data.x_test, data.y_test)
        timeline.append({"round": server_round, "t": time.time(), "accuracy": acc, "loss": loss})
        return MetricRecord({"accuracy": acc, "loss": loss})

    strategy: Strategy = FedAvg(
        fraction_train=1.0,
        fraction_evaluate=0.0,  # MILON evaluates the global model centrally, so does this
        min_train_nodes=clients,
        min_available_nodes=clients,
    )
    if cfg.get("noise_multiplier") is not None:
        strategy = DifferentialPrivacyClientSideFixedClipping(
            strategy, float(cfg["noise_multiplier"]), float(cfg["clip"]), clients
        )
    result = strategy.start(
        grid=grid,
        initial_arrays=ArrayRecord(spec.build(seed).state_dict()),
        num_rounds=rounds,
        train_config=ConfigRecord(
            {"epochs-per-round": int(cfg["epochs_per_round"]), "seed": seed,
             "threads": int(cfg["threads"]), "dataset": data_name, "model": model,
             "holdout": bool(cfg.get("holdout", False)), "samples": int(cfg.get("samples", 0))}
        ),
        evaluate_fn=evaluate_fn,
    )
    out = {"server_start": t_start, "server_end": time.time(), "timeline": timeline}
    if cfg.get("save_model"):  # the privacy section scores its attack on the final model
        import torch

        torch.save(result.arrays.to_torch_state_dict(), cfg["save_model"])
    tmp = cfg["out"] + ".tmp"
    with open(tmp, "w", encoding="utf-8") as fh:
        json.dump(out, fh)
    os.replace(tmp, cfg["out"])  # the benchmark polls for the file: never show it half-written
