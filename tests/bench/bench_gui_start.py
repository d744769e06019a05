"""Time from process start to the first window of ``milon`` (goal: under 2 s).

Each run starts ``python -m milon_app --home TMP`` offscreen with
MILON_GUI_BENCH=1: the app prints the seconds since its process was created
once the main window is shown (after unlocking the wallet from a password
file), and whether torch was imported by then (it should not be), then
closes. The wallet uses the real scrypt cost unless --scrypt-n says otherwise,
because decrypting it is part of every start. Prints figures; asserts nothing.

    .venv/bin/python tests/bench/bench_gui_start.py [--runs 5] [--scrypt-n 262144]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def make_home(root: Path, kdf_n: int) -> Path:
    from milon_app.config import Config, Paths, save_config
    from milon_app.session import setup

    paths = Paths.default(root)
    cfg = Config()
    cfg.p2p.transport = "inprocess"
    save_config(cfg, paths.config_file)
    pw = root / "pw.txt"
    pw.write_text("bench password\n")
    pw.chmod(0o600)
    setup.apply_setup(
        paths,
        setup.WalletChoice("create", "bench password", "bench password"),
        setup.SecretChoice("password-file", str(pw)),
        setup.NetworkChoice("simulated"),
        kdf_n=kdf_n,
    )
    return root


def one_run(home: Path) -> tuple[float, float, bool, float]:
    """(seconds to the first window as the app saw it, as seen from here, torch imported,
    seconds until the wallet was unlocked and the node started)."""
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", MILON_GUI_BENCH=repr(time.time()))
    t0 = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, "-m", "milon_app", "--home", str(home)],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env,
    )
    assert proc.stdout is not None
    try:
        fields: dict[str, str] = {}
        seen = 0.0
        for line in proc.stdout:
            if line.startswith("first_window_s="):
                seen = time.perf_counter() - t0
            fields.update(part.split("=", 1) for part in line.split())
            if "node_started_s" in fields:
                return (float(fields["first_window_s"]), seen, fields["torch_imported"] == "True",
                        float(fields["node_started_s"]))
        raise RuntimeError(f"the app exited with {proc.wait()} before showing a window")
    finally:
        try:
            proc.wait(timeout=120)  # it closes itself: stops the session, then quits
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--runs", type=int, default=5)
    p.add_argument("--scrypt-n", type=int, default=2**18, help="keystore scrypt cost")
    args = p.parse_args()
    with tempfile.TemporaryDirectory(prefix="milon-bench-gui-") as tmp:
        home = make_home(Path(tmp) / "home", args.scrypt_n)
        one_run(home)  # warm-up: bytecode and font caches
        rows = [one_run(home) for _ in range(args.runs)]
    print(f"{'run':>4}{'window s':>10}{'observed s':>12}{'node started s':>16}  torch before window")
    for i, (app_s, seen_s, torch, started_s) in enumerate(rows, 1):
        print(f"{i:>4}{app_s:>10.3f}{seen_s:>12.3f}{started_s:>16.3f}  {'yes' if torch else 'no'}")
    median = statistics.median(r[0] for r in rows)
    started = statistics.median(r[3] for r in rows)
    print(f"median time to the main window {median:.3f} s (goal < 2 s); wallet unlocked "
          f"(scrypt n={args.scrypt_n}), tabs built and node started at {started:.3f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
