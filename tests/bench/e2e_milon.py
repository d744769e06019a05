"""MILON's two runs for the end-to-end section: ``milon demo`` and separate daemons on anvil.

Both run the same job as the Flower app in ``tests/bench/flower_app``: digits MLP,
IID partition of the seed-0 split, capacities 100, 200, ... (so a round's epochs split
2/4/6/8 among 4 contributors), FedAvg, the default committee (protocol v2: with no more
than seven members every one sits and judges every update but its own; the round
finalizes once two thirds of the committee's weight confirm one model). The multi-process run is
the real deployment shape: anvil, one owner daemon and N contributor daemons talking
libp2p on 127.0.0.1, the job created with ``milon job create``. Its figures come from
the daemons' own structured logs (one JSON line per event, wall-clock stamped), so
the per-phase profile costs the run nothing extra. Every process started here is
stopped by its PID, also on failure.
"""

from __future__ import annotations

import json
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from statistics import median
from typing import Any

from tests.procs import stop_process


@dataclass
class Run:
    """What one system/mode measured; ``rounds`` holds (round, seconds, accuracy)."""

    system: str
    mode: str
    processes: str
    command: str
    wall_s: float | None = None
    rounds: list[tuple[int, float, float | None]] = field(default_factory=list)
    final_accuracy: float | None = None
    phases: dict[str, float] = field(default_factory=dict)  # setup and per-round phases, s
    gas_per_round: float | None = None  # every transaction of the job's rounds, / rounds
    note: str = ""

    @property
    def s_per_round(self) -> float | None:
        return median(r[1] for r in self.rounds) if self.rounds else None

    def to_dict(self) -> dict[str, Any]:
        return {
            "system": self.system,
            "mode": self.mode,
            "processes": self.processes,
            "command": self.command,
            "wall_s": self.wall_s,
            "s_per_round_median": self.s_per_round,
            "rounds": [{"round": r, "s": s, "accuracy": a} for r, s, a in self.rounds],
            "final_accuracy": self.final_accuracy,
            "phases": self.phases,
            "note": self.note,
        }


def run_demo(python: str, nodes: int, rounds: int, epochs: int, repo: Path) -> Run:
    """``milon --json demo``: embedded EVM, every node in one process."""
    cmd = [python, "-m", "milon_app", "--json", "demo", "--nodes", str(nodes),
           "--rounds", str(rounds), "--epochs-per-round", str(epochs), "--seed", "0"]
    shown = (f"milon --json demo --nodes {nodes} --rounds {rounds} --epochs-per-round {epochs} "
             "--seed 0")
    t0 = time.monotonic()
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=1800, cwd=repo)
    wall = time.monotonic() - t0
    if res.returncode != 0:
        raise RuntimeError(f"milon demo exited {res.returncode}: {res.stderr[-2000:]}")
    data = json.loads(res.stdout)
    run = Run("MILON", "demo: embedded EVM, one process", "1", shown, wall_s=wall)
    run.rounds = [(r["round"], r["wall_s"], r["accuracy"]) for r in data["rounds"]]
    run.final_accuracy = data["final_accuracy"]
    job_s = sum(r[1] for r in run.rounds)
    run.phases = {"rounds total": job_s, "everything else": wall - job_s}
    run.note = (
        "wall includes interpreter start, deploying the suite, 4 joins, the governance "
        "cycle and the centralized baseline the demo also runs"
    )
    return run


def _write_node(home: Path, acct: Any, rpc: str, manifest: Path, extra: str) -> Path:
    from tests.helpers.daemon_fed import write_daemon_config

    return write_daemon_config(
        home, acct, rpc, manifest, f'dataset = "digits"\n{extra}',
        compute='device = "cpu"\nmax_threads = 1\n', poll_s=None,
    )


def _stop(proc: subprocess.Popen[bytes]) -> None:
    stop_process(proc)


def _events(log: Path) -> list[dict[str, Any]]:
    out = []
    if log.exists():
        for line in log.read_text(errors="replace").splitlines():
            if line.startswith("{"):
                try:
                    out.append(json.loads(line))
                except json.JSONDecodeError:
                    continue
    return out


def run_daemons(python: str, nodes: int, rounds: int, epochs: int, work: Path,
                poll_s: float | None = None, block_time_s: float | None = None) -> Run:
    """anvil + 1 owner daemon + ``nodes`` contributor daemons over libp2p on 127.0.0.1;
    ``block_time_s``: anvil mines only every that many seconds (else at once)."""
    from milon_app.chain.bindings import JobStatus
    from tests.helpers.daemon_fed import owner_endpoint, spawn_daemon, start_chain_federation

    poll = "" if poll_s is None else f"poll_interval_s = {poll_s}\n"
    procs: dict[str, subprocess.Popen[bytes]] = {}
    homes: dict[str, Path] = {}
    marks: dict[str, float] = {}
    t0 = time.time()
    chain = start_chain_federation(work, "bench", nodes, block_time_s=block_time_s)
    anvil, manifest, milon, fed = chain.anvil, chain.manifest, chain.milon, chain.fed
    owner_acct, accts = chain.deployer, chain.members
    try:
        marks["chain"] = time.time()
        listen, owner_addr = owner_endpoint(owner_acct)
        homes["owner"] = work / "owner"
        tomls = {"owner": _write_node(
            homes["owner"], owner_acct, anvil.url, manifest,
            f'roles = ["owner", "keeper"]\n{poll}\n[p2p]\nlisten = "{listen}"\n',
        )}
        for i, acct in enumerate(accts):
            homes[f"node{i}"] = work / f"node{i}"
            tomls[f"node{i}"] = _write_node(
                homes[f"node{i}"], acct, anvil.url, manifest,
                f'partition = "{i}/{nodes}"\n{poll}\n[p2p]\nbootstrap = ["{owner_addr}"]\n\n'
                f'[[federations]]\nid = {fed}\nstake = "50"\ncapacity = {100 * (i + 1)}\n',
            )
        for name, home in homes.items():
            procs[name] = spawn_daemon(home, tomls[name], python)
        _wait(lambda: len(milon.active_members(fed)) == nodes, 600, procs, "every join")
        marks["joined"] = time.time()
        res = subprocess.run(
            [python, "-m", "milon_app", "--home", str(homes["owner"]), "--json", "job", "create",
             "--fed", str(fed), "--model", "digits-mlp", "--dataset", "digits",
             "--epochs", str(rounds * epochs), "--epochs-per-round", str(epochs),
             "--reward-per-epoch", "1", "--rule", "fedavg", "--committee", "0",
             "--rpc", anvil.url, "--manifest", str(manifest), "--dev-account", "0"],
            capture_output=True, text=True, timeout=300,
        )
        if res.returncode != 0:
            raise RuntimeError(f"milon job create exited {res.returncode}: {res.stderr[-2000:]}")
        marks["job created"] = time.time()
        chain.client.note_external_write()
        first_block = chain.client.block_number()
        job_id = milon.job_count()
        owner_log = homes["owner"] / "daemon.log"

        def finished() -> bool:
            if milon.job(job_id).status is not JobStatus.COMPLETED:
                return False
            evald = [e for e in _events(owner_log) if e.get("event") == "RoundEvaluated"]
            return any(e["round"] == rounds for e in evald)

        _wait(finished, 1800, procs, "the job to complete")
        t_end = time.time()
        gas = _gas_since(chain.client, first_block)
    except BaseException:
        for name, home in homes.items():
            tail = (home / "daemon.log").read_text(errors="replace")[-1500:]
            print(f"--- {name}\n{tail}")
        raise
    finally:
        for p in procs.values():
            _stop(p)
        anvil.stop()
    run = Run(
        "MILON", "multi-process: anvil + daemons, libp2p", f"{nodes + 2} (anvil, owner, {nodes})",
        f"anvil + `milon --daemon` x {nodes + 1} + `milon job create --epochs {rounds * epochs} "
        f"--epochs-per-round {epochs} --rule fedavg`",
        wall_s=t_end - t0,
    )
    run.gas_per_round = gas / rounds
    _profile(run, homes, marks, t0, rounds)
    return run


def _gas_since(client: Any, first: int) -> int:
    """Gas used by every transaction mined from block ``first`` on (the job's rounds: every
    daemon's accepts, commits, reveals, verdicts, confirmations and the keeper's calls)."""
    client.note_external_write()
    last = client.block_number()
    return sum(int(client.w3.eth.get_block(n)["gasUsed"]) for n in range(first, last + 1))


def _wait(pred: Any, timeout: float, procs: dict[str, subprocess.Popen[bytes]], what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return
        for name, p in procs.items():
            if p.poll() is not None:
                raise RuntimeError(f"daemon {name} exited with {p.returncode} waiting for {what}")
        time.sleep(0.2)
    raise TimeoutError(f"timed out after {timeout}s waiting for {what}")


PHASES = (
    "owner opens round, all accept",
    "all trained",
    "all committed",
    "all revealed",
    "committee judged, all voted",
    "aggregated, confirmed, finalized",
    "owner evaluated",
)


def _profile(run: Run, homes: dict[str, Path], marks: dict[str, float], t0: float,
             rounds: int) -> None:
    """Rounds, accuracy and a per-phase split from the daemons' event logs."""
    evs = [e for home in homes.values() for e in _events(home / "daemon.log")]

    def last(kind: str, r: int) -> float | None:
        ts = [e["ts"] for e in evs if e.get("event") == kind and e.get("round") == r]
        return max(ts) if ts else None

    def first(kind: str, r: int) -> float | None:
        ts = [e["ts"] for e in evs if e.get("event") == kind and e.get("round") == r]
        return min(ts) if ts else None

    acc = {e["round"]: e["accuracy"] for e in evs if e.get("event") == "RoundEvaluated"}
    prev = marks["job created"]
    per_phase: dict[str, list[float]] = {p: [] for p in PHASES}
    train_s: list[float] = [e["wall_s"] for e in evs if e.get("event") == "TrainingFinished"]
    for r in range(1, rounds + 1):
        done = last("RoundEvaluated", r)
        if done is None:
            continue
        run.rounds.append((r, done - prev, acc.get(r)))
        points = [prev, last("AssignmentDecision", r), last("TrainingFinished", r),
                  last("UpdateCommitted", r), last("UpdateRevealed", r),
                  last("VerdictSubmitted", r), first("RoundFinalized", r), done]
        if all(p is not None for p in points):
            for name, a, b in zip(PHASES, points[:-1], points[1:], strict=True):
                per_phase[name].append(b - a)  # type: ignore[operator]
        prev = done
    run.final_accuracy = acc.get(rounds)
    run.phases = {
        "anvil + deploy + fund": marks["chain"] - t0,
        "daemons start + join": marks["joined"] - marks["chain"],
        "job create (CLI)": marks["job created"] - marks["joined"],
        "rounds total": prev - marks["job created"],
    }
    for name in PHASES:
        if per_phase[name]:
            run.phases[f"per round, until {name} (median)"] = median(per_phase[name])
    if train_s:
        run.phases["training inside the trainer, per update (median)"] = median(train_s)
