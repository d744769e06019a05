"""Section 5, part two: ``milon sim`` at 1,000 and 4,000 members beside Flower's simulation.

The real-node sizes (``sec_scale.py``) stop at 256; beyond, issue 18 asks for the
simulation mode (real contracts on anvil, real node roles, batched training) and
for Flower's simulation (Ray, its own venv: ``tests/bench/setup_flower.sh``) at
the same member counts and model. Each run is a child process; its JSON is kept.

    .venv/bin/python tests/bench/sec_scale_sim.py --members 1000    # one sim size, prints JSON
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from suite import BenchContext

SIM_SIZES = (1000, 4000)
FLOWER_SIZES = (16, 64, 256, 1000, 4000)
COMMITTEE = 16
ROUNDS = 2
DEFAULT_BUDGET_S = 2400  # MILON_BENCH_SCALE_SIM_BUDGET_S: both tools together
# MILON_BENCH_SCALE_SIM_SIZES / MILON_BENCH_SCALE_FLOWER_SIZES (e.g. "1000") override the sizes


def sim_command(python: str, members: int, rounds: int) -> list[str]:
    return [python, "-m", "milon_app", "sim", "--members", str(members), "--committee",
            str(COMMITTEE), "--rounds", str(rounds), "--rpc", "anvil", "--json"]


def _child(cmd: list[str], cwd: Path, log: Path, limit_s: float) -> tuple[str | None, str]:
    """stdout of a child that finished with 0 within ``limit_s``, else None and why."""
    with log.open("w") as err:
        proc = subprocess.Popen(cmd, cwd=cwd, stdout=subprocess.PIPE, stderr=err, text=True,
                                start_new_session=True)
        try:
            out, _ = proc.communicate(timeout=max(limit_s, 1))
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, 9)
            proc.communicate()
            return None, f"stopped at the budget after {limit_s:.0f} s"
    if proc.returncode != 0:
        tail = log.read_text(errors="replace").strip().splitlines()[-1:] or ["no output"]
        return None, f"exited with code {proc.returncode}: {tail[0][-300:]}"
    return out, ""


def run_sim(ctx: BenchContext, members: int, rounds: int, limit_s: float) -> dict[str, Any]:
    t0 = time.monotonic()
    out, why = _child(sim_command(ctx.python, members, rounds), ctx.repo_root,
                      ctx.work_dir / f"sim-{members}.log", limit_s)
    res: dict[str, Any] = {"members": members, "wall_s": time.monotonic() - t0,
                           "load_after": os.getloadavg()[0]}
    if out is None:
        return {**res, "ok": False, "why": why}
    return {**res, "ok": True, **json.loads(out)}


def run_flower(ctx: BenchContext, sizes: tuple[int, ...], limit_s: float) -> dict[str, Any]:
    script = Path(__file__).resolve().parent / "flower_scale.py"
    cmd = [ctx.python, str(script), "--sizes", ",".join(map(str, sizes)), "--rounds",
           str(ROUNDS), "--budget-s", f"{max(limit_s - 60, 60):.0f}"]
    out, why = _child(cmd, ctx.repo_root, ctx.work_dir / "flower-scale.log", limit_s)
    if out is None:
        return {"ok": False, "why": why, "sizes": []}
    data = json.loads(out)
    if "error" in data:
        return {"ok": False, "why": str(data["error"]), "sizes": []}
    return {"ok": True, **data}


def _exp(n1: int, t1: float, n2: int, t2: float) -> float:
    return math.log(t2 / t1) / math.log(n2 / n1)


def _sim_rows(sims: list[dict[str, Any]]) -> list[list[Any]]:
    rows: list[list[Any]] = []
    for s in sims:
        if not s["ok"]:
            rows.append([f"{s['members']:,}", "—", "—", "—", "—", "—", "—", s["why"]])
            continue
        rs = s["rounds"]
        rows.append([
            f"{s['members']:,}", f"{len(s['cohorts'])} x {max(s['cohorts'])}",
            f"{s['setup_seconds']:.0f}",
            " / ".join(f"{r['wall_seconds']:.1f}" for r in rs),
            " / ".join(f"{r['gas_per_member']:,.0f}" for r in rs),
            " / ".join(f"{r['accepted']}/{r['round_members']}" for r in rs),
            " / ".join(f"{100 * (r['accuracy'] or 0):.1f}%" for r in rs),
            f"{s['peak_rss_mib']:.0f}",
        ])
    return rows


def _side_by_side(real: list[dict[str, Any]], sims: list[dict[str, Any]],
                  flower: dict[str, Any]) -> list[list[Any]]:
    """One row per member count: MILON's last round (real nodes or sim) and Flower's."""
    mine: dict[int, tuple[str, float, float]] = {}
    for r in real:
        if r.get("ok"):
            mine.setdefault(r["nodes"], (f"real nodes, {r['transport']}", r["round_s"],
                                         r["peak_rss_mib"]))
    for s in sims:
        if s["ok"]:
            mine[s["members"]] = ("milon sim", s["rounds"][-1]["wall_seconds"],
                                  s["peak_rss_mib"])
    theirs = {f["clients"]: f for f in flower.get("sizes", [])}
    rows = []
    for n in sorted(set(mine) | set(theirs)):
        how, wall, rss = mine.get(n, ("—", math.nan, math.nan))
        f = theirs.get(n, {})
        fr = f.get("round_wall_seconds") or []
        fwall = fr[-1] if fr else math.nan
        note = f.get("skipped") or f.get("failed") or ""
        rows.append([f"{n:,}", how, "—" if math.isnan(wall) else f"{wall:.1f}",
                     "—" if math.isnan(rss) else f"{rss:.0f}",
                     "—" if math.isnan(fwall) else f"{fwall:.1f}",
                     f"{f['peak_rss_mib_tree']:.0f}" if "peak_rss_mib_tree" in f else "—",
                     f"x{wall / fwall:.1f}" if fr and not math.isnan(wall) else note[:80]])
    return rows


def _growth(sims: list[dict[str, Any]], flower: dict[str, Any]) -> str:
    """Exponent k of round time ~ n^k between consecutive sizes that completed."""
    points = [("milon sim", s["members"], s["rounds"][-1]["wall_seconds"])
              for s in sims if s["ok"]]
    points += [("Flower", f["clients"], f["round_wall_seconds"][-1])
               for f in flower.get("sizes", []) if f.get("round_wall_seconds")]
    parts = [f"{a[0]} {a[1]:,}→{b[1]:,}: n^{_exp(a[1], a[2], b[1], b[2]):.2f}"
             for a, b in itertools.pairwise(points) if a[0] == b[0]]
    return "; ".join(parts)


def _sizes(var: str, default: tuple[int, ...]) -> tuple[int, ...]:
    """Sizes from ``var`` (comma-separated), else ``default``: a shorter run on a busy day."""
    text = os.environ.get(var, "").strip()
    return tuple(int(x) for x in text.split(",")) if text else default


def run(ctx: BenchContext, real: list[dict[str, Any]]) -> tuple[str, dict[str, Any]]:
    """Markdown for the simulation part of the section, and its data."""
    from sectools import table

    budget = float(os.environ.get("MILON_BENCH_SCALE_SIM_BUDGET_S", DEFAULT_BUDGET_S))
    t0 = time.monotonic()
    sizes = (8,) if ctx.quick else _sizes("MILON_BENCH_SCALE_SIM_SIZES", SIM_SIZES)
    sims = [run_sim(ctx, n, 1 if ctx.quick else ROUNDS, budget - (time.monotonic() - t0))
            for n in sizes]
    left = budget - (time.monotonic() - t0)
    fsizes = (16,) if ctx.quick else _sizes("MILON_BENCH_SCALE_FLOWER_SIZES", FLOWER_SIZES)
    flower = (run_flower(ctx, fsizes, left) if left > 120
              else {"ok": False, "why": "not started: the budget is spent", "sizes": []})
    flower_note = "" if flower["ok"] else f" Flower: {flower['why']}."
    md = "\n\n".join([
        f"**Simulation mode** (`milon sim --members N --committee {COMMITTEE} --rounds "
        f"{ROUNDS} --rpc anvil --json`, one run each): the real contracts on a private anvil, "
        "every member a `NodeCore` with its own account, state DB and blob store, the "
        "in-process transport, a tiny model (64→32→10 MLP on digits, 32 samples a member) "
        "trained for all members at once (vectorised); members in cohorts of at most 128 "
        "(the contract's round cap), each its own federation and job with a committee of "
        f"{COMMITTEE}. Figures per round (round 1 / round 2).",
        table(["members", "cohorts", "set-up s", "round s", "gas / member", "accepted",
               "accuracy", "peak RSS MiB"], _sim_rows(sims)),
        "**Side by side with Flower's simulation** (Ray, "
        f"flwr {flower.get('flwr', '?')}, its own venv; the same model, 32 samples a client, "
        f"{flower.get('epochs', 2)} local epochs, every client every round, FedAvg, no chain, "
        "no committee, no checks; a client asks Ray for one CPU). Last round's wall time; "
        "MILON's peak RSS is its process's (anvil not included), Flower's the sum over its "
        "process tree (driver, Ray's GCS, raylet and workers)." + flower_note,
        table(["members", "MILON", "MILON round s", "MILON peak RSS MiB", "Flower round s",
               "Flower peak RSS MiB", "MILON / Flower"], _side_by_side(real, sims, flower)),
        f"Growth: {_growth(sims, flower) or 'not enough sizes completed'}.",
    ])
    return md, {"sim": sims, "flower": flower}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--members", type=int, required=True)
    ap.add_argument("--rounds", type=int, default=ROUNDS)
    args = ap.parse_args()
    import tempfile

    with tempfile.TemporaryDirectory(prefix="milon-scale-sim-") as tmp:
        ctx = BenchContext(quick=False, out_dir=Path(tmp), work_dir=Path(tmp),
                           repo_root=Path(__file__).resolve().parents[2], python=sys.executable)
        print(json.dumps(run_sim(ctx, args.members, args.rounds, 3600)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
