"""Flower's simulation runtime (Ray) on this app: ``python run_sim.py CONFIG.json``.

Run with the Flower venv's interpreter and the repository root on PYTHONPATH.
"""

from __future__ import annotations

import os
import sys

from flower_digits import task
from flower_digits.client_app import app as client_app
from flower_digits.client_app import dp_app
from flower_digits.server_app import app as server_app
from flwr.simulation import run_simulation


def main() -> None:
    os.environ[task.CONFIG_ENV] = sys.argv[1]
    cfg = task.bench_config()
    run_simulation(
        server_app=server_app,
        # the privacy section's client-side DP clips on the client (fixedclipping_mod)
        client_app=dp_app if cfg.get("noise_multiplier") is not None else client_app,
        num_supernodes=int(cfg["clients"]),
        # every client runs at once, as MILON's contributor processes do (share the cores);
        # "client_cpus" 1 (the scale section): one Ray actor per core, clients queue for them
        backend_config={
            "client_resources": {
                "num_cpus": float(
                    cfg.get("client_cpus") or max(0.1, (os.cpu_count() or 1) / int(cfg["clients"]))
                ),
                "num_gpus": 0.0,
            }
        },
    )


if __name__ == "__main__":
    main()
