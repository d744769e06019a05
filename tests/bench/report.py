"""The benchmark suite runner: runs every section and writes the report with its plots.

    .venv/bin/python tests/bench/report.py [--quick] [--only trainer,chain,...] [--out docs/benchmarks.md]

Each section (``tests/bench/sec_<key>.py``, ``run(ctx) -> SectionResult``) runs
in its own child process, so one section's imports, threads, Qt application or
crash cannot change another's figures; a section that is missing, fails or
runs past its time limit is reported as such and the runner goes on. The
report records the machine, the versions and the git commit once, and each
section says which command reproduces its figures and on which device they
were measured. ``--quick`` only proves every section still runs (tiny sizes,
figures meaningless) and writes into a fresh temporary folder unless ``--out``
names one; it refuses to write into the repository's ``docs/``.

Exit code: 0 when every section ran, 1 when any failed, 3 for bad arguments.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import datetime as dt
import importlib
import importlib.metadata as md
import json
import os
import platform
import signal
import subprocess
import sys
import tempfile
import time
import traceback
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
sys.path[:0] = [str(HERE), str(REPO)]

from suite import BenchContext, SectionResult  # noqa: E402

SECTIONS: dict[str, str] = {  # key -> title, in report order
    "trainer": "Trainer overhead",
    "e2e": "End to end vs Flower",
    "transfer": "Transfer",
    "chain": "Chain cost",
    "scale": "Scale",
    "robustness": "Robustness",
    "gui": "GUI responsiveness",
    "verdicts": "Verdicts",
    "privacy": "Privacy",
}
LIMIT_S = {"full": 1800, "quick": 300}  # per section: a hung section cannot stall the suite
# scale's own budgets: real nodes 1,200 s, then milon sim at 4,000 and Flower 2,400 s
FULL_LIMIT_S = {"scale": 3900}
VERSIONS = ["torch", "web3", "py-evm", "libp2p", "PySide6-Essentials", "matplotlib", "flwr"]
BAD_INPUT = 3


def runner_command(quick: bool, only: list[str] | None = None) -> str:
    cmd = ".venv/bin/python tests/bench/report.py"
    if quick:
        cmd += " --quick"
    if only:
        cmd += " --only " + ",".join(only)
    return cmd


# -- the machine ------------------------------------------------------------------------------
def machine_info() -> dict[str, Any]:
    """CPU, cores, RAM, OS, GPU, package versions, commit and date: what every figure depends on."""
    import psutil

    from milon_app.compute.hardware import cpu_model_name

    versions = {"python": platform.python_version()}
    for dist in VERSIONS:
        try:
            versions[dist] = md.version(dist)
        except md.PackageNotFoundError:
            # Flower lives in its own venv (tests/bench/setup_flower.sh), never in MILON's:
            # the e2e section reports the version it ran there
            versions[dist] = "not in this venv" if dist == "flwr" else "not installed"
    gpu = "none"
    try:
        import torch

        if torch.cuda.is_available():
            gpu = ", ".join(
                torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())
            )
            versions["cuda"] = str(torch.version.cuda)
    except Exception as exc:  # torch missing or broken: say so, the report still runs
        gpu = f"unknown ({exc})"
    return {
        "cpu": cpu_model_name(),
        "cores": os.cpu_count() or 0,
        "ram_gib": round(psutil.virtual_memory().total / 2**30, 1),
        "os": platform.platform(),
        "gpu": gpu,
        "versions": versions,
        "commit": _git_commit(),
        "date": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
    }


def _git_commit() -> str:
    try:
        head = subprocess.run(
            ["git", "rev-parse", "--short=12", "HEAD"], cwd=REPO, capture_output=True,
            text=True, timeout=10, check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"], cwd=REPO,
            capture_output=True, text=True, timeout=10,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown (not a git checkout)"
    return head + (" (with uncommitted changes)" if dirty else "")


# -- one section in a child process -----------------------------------------------------------
def _child(key: str, quick: bool, out_dir: Path, work_dir: Path, result_file: Path) -> int:
    """Runs inside the child: import the section, run it, write its result as JSON."""
    ctx = BenchContext(quick=quick, out_dir=out_dir, work_dir=work_dir, repo_root=REPO,
                       python=sys.executable)
    module = importlib.import_module(f"sec_{key}")
    res: SectionResult = module.run(ctx)
    data = dataclasses.asdict(res)
    data["plots"] = [str(p) for p in res.plots]
    result_file.write_text(json.dumps(data, default=str))
    return 0


def run_section(key: str, quick: bool, out_dir: Path, work_root: Path) -> dict[str, Any]:
    """Run one section in a child process; a failure becomes a result that says what went wrong."""
    work = work_root / key
    work.mkdir(parents=True, exist_ok=True)
    result_file = work_root / f"{key}.result.json"
    log_file = work_root / f"{key}.log"
    if not (HERE / f"sec_{key}.py").is_file():
        return _failed(key, f"tests/bench/sec_{key}.py is missing", 0.0)
    cmd = [sys.executable, str(Path(__file__).resolve()), "--section", key,
           "--out-dir", str(out_dir), "--work-dir", str(work), "--result", str(result_file)]
    if quick:
        cmd.append("--quick")
    limit = LIMIT_S["quick"] if quick else FULL_LIMIT_S.get(key, LIMIT_S["full"])
    env = dict(os.environ, MPLBACKEND="Agg", QT_QPA_PLATFORM="offscreen")
    t0 = time.monotonic()
    with log_file.open("w") as log:
        proc = subprocess.Popen(cmd, cwd=REPO, stdout=log, stderr=subprocess.STDOUT, env=env,
                                start_new_session=True)
        try:
            rc = proc.wait(timeout=limit)
        except subprocess.TimeoutExpired:
            rc = None
        finally:
            _stop_group(proc)
    wall = time.monotonic() - t0
    tail = log_file.read_text(errors="replace")[-3000:]
    if rc is None:
        return _failed(key, f"ran past its {limit} s limit and was stopped", wall, tail)
    if rc != 0 or not result_file.is_file():
        return _failed(key, f"the section's process exited with code {rc}", wall, tail)
    res = json.loads(result_file.read_text())
    res["wall_s"] = round(wall, 1)
    res["ok"] = True
    return res


def _stop_group(proc: subprocess.Popen[Any]) -> None:
    """Stop the section's process group (its own session): the child and anything it left."""
    for sig, grace in ((signal.SIGTERM, 10.0), (signal.SIGKILL, 0.0)):
        try:
            os.killpg(proc.pid, sig)
        except (ProcessLookupError, PermissionError):
            break  # the group is empty: everything has exited
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=grace or None)
        time.sleep(0.2 if grace else 0)
    if proc.poll() is None:
        proc.wait()


def _failed(key: str, why: str, wall: float, log_tail: str = "") -> dict[str, Any]:
    return {"key": key, "title": SECTIONS[key], "ok": False, "error": why, "log_tail": log_tail,
            "wall_s": round(wall, 1), "markdown": "", "data": {}, "headline": [], "plots": [],
            "device": "-", "command": ""}


# -- the report -------------------------------------------------------------------------------
def render(results: list[dict[str, Any]], machine: dict[str, Any], quick: bool,
           command: str, total_s: float) -> str:
    v = machine["versions"]
    lines = [
        "# MILON benchmarks",
        "",
        f"Made by `{command}` on {machine['date']} at commit `{machine['commit']}` in "
        f"{total_s / 60:.1f} min. Every section below says which command reproduces its "
        "figures and on which device they were measured; all figures in one section come "
        "from the same run.",
        "",
    ]
    if quick:
        lines += ["> **Quick mode**: tiny sizes that only prove the suite runs; the figures "
                  "mean nothing.", ""]
    lines += [
        "| machine | |", "|---|---|",
        f"| CPU | {machine['cpu']} ({machine['cores']} cores) |",
        f"| RAM | {machine['ram_gib']} GiB |",
        f"| OS | {machine['os']} |",
        f"| GPU | {machine['gpu']} |",
        "| versions | " + ", ".join(f"{k} {val}" for k, val in v.items()) + " |",
        "",
        "## Headline figures", "",
    ]
    for r in results:
        for h in r.get("headline", []):
            lines.append(f"- **{r['title']}** ({r['device']}): {h}")
        if not r["ok"]:
            lines.append(f"- **{r['title']}**: did not run ({r['error']})")
    lines += ["", "| section | device | wall time | status |", "|---|---|---:|---|"]
    for r in results:
        status = "ok" if r["ok"] else "FAILED"
        lines.append(f"| {r['title']} | {r['device']} | {r['wall_s']:.0f} s | {status} |")
    lines.append("")
    for r in results:
        n = list(SECTIONS).index(r["key"]) + 1  # the numbering, whatever ran
        lines += [f"## {n}. {r['title']}", ""]
        if not r["ok"]:
            lines += [f"**This section did not run**: {r['error']}.", ""]
            if r.get("log_tail"):
                lines += ["```", r["log_tail"].strip()[-1500:], "```", ""]
            continue
        lines += [f"Device: **{r['device']}** · command: `{r['command']}` · "
                  f"wall time {r['wall_s']:.0f} s", "", r["markdown"].strip(), ""]
    return "\n".join(lines) + "\n"


def _parse(argv: list[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="tiny sizes: prove the suite runs")
    ap.add_argument("--only", default="", help="comma-separated sections: " + ",".join(SECTIONS))
    ap.add_argument("--out", type=Path, help="the report's path (default docs/benchmarks.md; "
                    "in quick mode a fresh temporary folder)")
    ap.add_argument("--section", help=argparse.SUPPRESS)  # internal: run one section (child)
    ap.add_argument("--out-dir", type=Path, help=argparse.SUPPRESS)
    ap.add_argument("--work-dir", type=Path, help=argparse.SUPPRESS)
    ap.add_argument("--result", type=Path, help=argparse.SUPPRESS)
    return ap.parse_args(argv)


def _bad(msg: str) -> int:
    print(f"report.py: error: {msg}", file=sys.stderr)
    return BAD_INPUT


def main(argv: list[str] | None = None) -> int:
    args = _parse(argv)
    if args.section:
        return _child(args.section, args.quick, args.out_dir, args.work_dir, args.result)
    only = [s.strip() for s in args.only.split(",") if s.strip()] or list(SECTIONS)
    unknown = [s for s in only if s not in SECTIONS]
    if unknown:
        return _bad(f"--only: unknown section(s) {', '.join(unknown)}; "
                    f"expected some of {', '.join(SECTIONS)}")
    docs = REPO / "docs"
    if args.out is None:
        out = (Path(tempfile.mkdtemp(prefix="milon-bench-quick-")) / "benchmarks.md"
               if args.quick else docs / "benchmarks.md")
    else:
        out = args.out.resolve()
        if out.suffix != ".md":
            return _bad(f"--out {args.out}: the report must be a .md file")
        if args.quick and out.parent.resolve() == docs.resolve():
            return _bad(f"--out {args.out}: quick mode never writes into {docs}")
    out_dir = out.parent / "benchmarks"
    out_dir.mkdir(parents=True, exist_ok=True)
    command = runner_command(args.quick, None if only == list(SECTIONS) else only)
    machine = machine_info()
    results: list[dict[str, Any]] = []
    t0 = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="milon-bench-work-") as work:
        for key in only:
            print(f"[bench] {key} ...", flush=True)
            try:
                res = run_section(key, args.quick, out_dir, Path(work))
            except Exception:  # the runner itself must go on to the next section
                res = _failed(key, "the runner could not start it", 0.0, traceback.format_exc())
            state = "ok" if res["ok"] else f"FAILED: {res['error']}"
            print(f"[bench] {key} {state} ({res['wall_s']:.0f} s)", flush=True)
            results.append(res)
    total = time.monotonic() - t0
    payload = {"machine": machine, "quick": args.quick, "command": command,
               "total_s": round(total, 1), "sections": results}
    if only != list(SECTIONS) and out.is_file() and not args.quick:
        # a partial run: only its sections change in the report (the others keep their run)
        from splice import merge_results, splice

        out.write_text(splice(out.read_text(), results))
        payload = merge_results(out_dir / "results.json", payload)
    else:
        out.write_text(render(results, machine, args.quick, command, total))
    (out_dir / "results.json").write_text(json.dumps(payload, indent=1, default=str))
    print(f"[bench] wrote {out} and {out_dir}/ in {total:.0f} s", flush=True)
    return 0 if all(r["ok"] for r in results) else 1


if __name__ == "__main__":
    raise SystemExit(main())
