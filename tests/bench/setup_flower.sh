#!/usr/bin/env bash
# Creates build/flower-venv: a SEPARATE virtualenv holding Flower for the e2e benchmark
# (tests/bench/sec_e2e.py). Flower is never a dependency of MILON: it lives only here.
# torch==2.13.0 goes in first (the local CPU wheel, the same torch MILON uses), then a
# pinned flwr[simulation] (Ray) and scikit-learn for the digits data.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
VENV="${FLOWER_VENV:-$ROOT/build/flower-venv}"
PY="${PYTHON:-python3}"
FLWR_VERSION="1.41.0"  # 1.42.0 needs a certifi newer than the registry here offers

"$PY" -m venv "$VENV"
"$VENV/bin/python" -m pip install --quiet --upgrade pip
"$VENV/bin/python" -m pip install --quiet "torch==2.13.0"
"$VENV/bin/python" -m pip install --quiet "flwr[simulation]==$FLWR_VERSION" "scikit-learn" "numpy" \
    "safetensors"
export FLWR_TELEMETRY_ENABLED=0 FLWR_DISABLE_UPDATE_CHECK=1 RAY_USAGE_STATS_ENABLED=0
"$VENV/bin/python" -c "import flwr, ray, torch; print('flower venv ready:', flwr.__version__, 'ray', ray.__version__, 'torch', torch.__version__)"
