"""Flower's two runs for the end-to-end section: simulation (Ray) and deployment mode.

Flower lives only in the separate venv that ``tests/bench/setup_flower.sh`` makes
(``build/flower-venv``); nothing here imports it. Its processes get the repository
on PYTHONPATH so the hand-written app in ``tests/bench/flower_app`` trains with
MILON's own model spec, partition and trainer. Telemetry, update checks and
runtime dependency installs are off; everything listens on 127.0.0.1. Each process
is started in its own session and stopped, with every process it spawned (the
SuperExec and ServerApp/ClientApp children outlive their parent otherwise), by PID.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import time
from pathlib import Path
from typing import Any

from e2e_milon import Run

MISSING = "not run: Flower venv missing, run tests/bench/setup_flower.sh"
FLOWER_ENV = {
    "FLWR_TELEMETRY_ENABLED": "0",
    "FLWR_DISABLE_UPDATE_CHECK": "1",
    "RAY_USAGE_STATS_ENABLED": "0",
    "FLWR_DISABLE_RUNTIME_DEPENDENCY_INSTALLATION": "1",
}


def venv(repo: Path) -> Path | None:
    """The Flower venv's bin folder, or None when setup_flower.sh has not run."""
    bin_dir = Path(os.environ.get("FLOWER_VENV", repo / "build" / "flower-venv")) / "bin"
    return bin_dir if (bin_dir / "flwr").is_file() else None


def versions(bin_dir: Path) -> dict[str, str]:
    code = "import flwr, ray, torch; print(flwr.__version__, ray.__version__, torch.__version__)"
    out = subprocess.run([str(bin_dir / "python"), "-c", code], capture_output=True, text=True,
                         timeout=120, env={**os.environ, **FLOWER_ENV})
    parts = out.stdout.split()
    return dict(zip(("flwr", "ray", "torch (flower venv)"), parts, strict=False))


def _env(repo: Path, work: Path, bin_dir: Path) -> dict[str, str]:
    app = repo / "tests" / "bench" / "flower_app"
    return {
        **os.environ,
        **FLOWER_ENV,
        "PYTHONPATH": f"{repo}{os.pathsep}{app}",
        "FLWR_HOME": str(work / "flwr-home"),
        "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}",
    }


def _bench_config(work: Path, clients: int, rounds: int, epochs: int, name: str,
                  extra: dict[str, Any] | None = None) -> Path:
    cfg = {"clients": clients, "rounds": rounds, "seed": 0, "epochs_per_round": epochs,
           "threads": 1, "out": str(work / f"{name}-result.json"), **(extra or {})}
    path = work / f"{name}-config.json"
    path.write_text(json.dumps(cfg))
    return path


def _children(pid: int) -> list[int]:
    """Every live descendant of ``pid`` (from /proc), deepest last."""
    parent: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            parent[int(entry.name)] = int(stat.rsplit(")", 1)[1].split()[1])
    out, todo = [], [pid]
    while todo:
        cur = todo.pop()
        kids = [p for p, pp in parent.items() if pp == cur]
        out.extend(kids)
        todo.extend(kids)
    return out


def _group(pgid: int) -> list[int]:
    out = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if os.getpgid(int(entry.name)) == pgid:
                    out.append(int(entry.name))
            except OSError:
                continue
    return out


def stop_tree(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM ``proc`` and everything it started (its session), SIGKILL what lingers."""
    pids = sorted({proc.pid, *_children(proc.pid), *_group(proc.pid)})
    for sig in (signal.SIGTERM, signal.SIGKILL):
        for pid in pids:
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                continue
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            proc.poll()
            alive = [p for p in pids if _alive(p)]
            if not alive:
                return
            time.sleep(0.2)
        pids = [p for p in pids if _alive(p)]
    proc.wait(timeout=10)


def _alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def _start(cmd: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with open(log, "ab") as fh:
        return subprocess.Popen(cmd, env=env, stdout=fh, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, start_new_session=True)


def _result(run: Run, out: Path, t0: float, t_end: float) -> Run:
    data: dict[str, Any] = json.loads(out.read_text())
    timeline = sorted(data["timeline"], key=lambda e: e["round"])
    prev = timeline[0]["t"]
    for e in timeline[1:]:
        run.rounds.append((e["round"], e["t"] - prev, e["accuracy"]))
        prev = e["t"]
    run.wall_s = t_end - t0
    run.final_accuracy = run.rounds[-1][2] if run.rounds else None
    run.phases = {
        "start until the ServerApp runs": data["server_start"] - t0,
        "ServerApp start until round 1 begins": timeline[0]["t"] - data["server_start"],
        "rounds total": timeline[-1]["t"] - timeline[0]["t"],
        "after the last round": t_end - timeline[-1]["t"],
    }
    return run


def run_simulation(repo: Path, work: Path, bin_dir: Path, clients: int, rounds: int,
                   epochs: int, extra: dict[str, Any] | None = None) -> Run:
    """``run_simulation`` (Ray backend) in one driver process; Ray's workers are its children.
    ``extra`` goes into the app's config (the privacy section: DP, dataset, model)."""
    work.mkdir(parents=True, exist_ok=True)
    cfg = _bench_config(work, clients, rounds, epochs, "sim", extra)
    script = repo / "tests" / "bench" / "flower_app" / "run_sim.py"
    run = Run("Flower", "simulation (Ray)", f"1 + Ray workers ({clients} virtual nodes)",
              f"build/flower-venv/bin/python tests/bench/flower_app/run_sim.py CONFIG "
              f"(run_simulation, {clients} supernodes)")
    t0 = time.time()
    proc = _start([str(bin_dir / "python"), str(script), str(cfg)],
                  _env(repo, work, bin_dir), work / "sim.log")
    try:
        proc.wait(timeout=1800)
        t_end = time.time()
    finally:
        stop_tree(proc)
    out = work / "sim-result.json"
    if proc.returncode != 0 or not out.exists():
        tail = (work / "sim.log").read_text(errors="replace")[-2000:]
        raise RuntimeError(f"Flower simulation exited {proc.returncode}: {tail}")
    return _result(run, out, t0, t_end)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_port(port: int, proc: subprocess.Popen[bytes], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"flower-superlink exited with {proc.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.1)
    raise TimeoutError(f"flower-superlink did not open 127.0.0.1:{port} in {timeout}s")


def run_deployment(repo: Path, work: Path, bin_dir: Path, clients: int, rounds: int,
                   epochs: int) -> Run:
    """flower-superlink + ``clients`` flower-supernode processes + ``flwr run``, insecure on
    127.0.0.1, subprocess isolation (ServerApp/ClientApp in processes of their own)."""
    work.mkdir(parents=True, exist_ok=True)
    env = _env(repo, work, bin_dir)
    home = Path(env["FLWR_HOME"])
    home.mkdir(parents=True, exist_ok=True)
    link = _free_port()
    (home / "config.toml").write_text(
        f'[superlink]\ndefault = "bench"\n\n[superlink.bench]\n'
        f'address = "127.0.0.1:{link}"\ninsecure = true\n'
    )
    cfg = _bench_config(work, clients, rounds, epochs, "deploy")
    out = work / "deploy-result.json"
    app = repo / "tests" / "bench" / "flower_app"
    run = Run("Flower", "deployment: superlink + supernodes", f"{clients + 2} (superlink, "
              f"{clients} supernodes, ServerApp) + a ClientApp process per node",
              f"flower-superlink --insecure; flower-supernode --insecure x {clients}; "
              f"flwr run tests/bench/flower_app bench --stream")
    procs: list[subprocess.Popen[bytes]] = []
    t0 = time.time()
    try:
        procs.append(_start([str(bin_dir / "flower-superlink"), "--insecure", "--isolation",
                             "subprocess", "--host", "127.0.0.1", "--port", str(link),
                             "--database", str(work / "superlink.db")], env, work / "superlink.log"))
        _wait_port(link, procs[0], 120)
        for i in range(clients):
            procs.append(_start(
                [str(bin_dir / "flower-supernode"), "--insecure", "--superlink",
                 f"127.0.0.1:{link}", "--port", str(_free_port()), "--isolation", "subprocess",
                 "--node-config", f"partition-id={i} num-partitions={clients}"],
                env, work / f"supernode{i}.log"))
        procs.append(_start(
            [str(bin_dir / "flwr"), "run", str(app), "bench", "--stream", "--run-config",
             f"bench-config='{cfg}'"], env, work / "flwr-run.log"))
        deadline = time.monotonic() + 3600
        while not out.exists():
            for p in procs:
                if p.poll() not in (None, 0):
                    tail = (work / "flwr-run.log").read_text(errors="replace")[-2000:]
                    raise RuntimeError(f"a Flower process exited {p.returncode}: {tail}")
            if time.monotonic() > deadline:
                raise TimeoutError("Flower deployment run did not finish in 3600 s")
            time.sleep(0.2)
        t_end = time.time()
        time.sleep(0.5)  # the result file is written in one call; let it close
    finally:
        for p in reversed(procs):
            stop_tree(p)
    return _result(run, out, t0, t_end)
