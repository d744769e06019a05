"""docs/one-machine.md runs as written: its ```bash blocks, extracted from the page, in order.

A devnet (anvil), an owner and three contributor daemons over libp2p on loopback, a job from
creation to payment, a governance proposal from vote to execution, then everything stopped by
the script itself. Only ``PORT`` (a free one) and ``PATH`` (this venv's ``milon`` first) are
given from outside; a failing or hanging run has every process the page started stopped here,
by the PIDs it wrote.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from milon_app.chain.devnet import find_anvil, free_port
from milon_app.errors import NotFoundError
from tests.procs import pid_gone

REPO = Path(__file__).resolve().parents[2]
PAGE = REPO / "docs" / "one-machine.md"
LIMIT_S = 540
PID_FILES = ("owner", "alice", "bob", "carol", "devnet")


def page_script(page: Path = PAGE) -> str:
    """The page's ```bash blocks, in order, as one script."""
    blocks = re.findall(r"^```bash\n(.*?)^```$", page.read_text(encoding="utf-8"), re.M | re.S)
    return "\n".join(blocks)


def test_the_page_has_the_whole_walk_through() -> None:
    script = page_script()
    for step in ("milon devnet", "--daemon", "job create", "job wait", "gov execute", "kill"):
        assert step in script, step


def _stop_leftovers(lab: Path) -> list[str]:
    """SIGTERM, then SIGKILL, every process the page recorded and left running."""
    left = []
    for name in PID_FILES:
        pid_file = lab / f"{name}.pid"
        if not pid_file.exists():
            continue
        pid = int(pid_file.read_text().strip())
        if pid_gone(pid):
            continue
        left.append(name)
        os.kill(pid, signal.SIGTERM)
        try:
            os.waitpid(pid, 0)
        except ChildProcessError:  # the script's child: wait until it is gone
            for _ in range(100):
                if pid_gone(pid):
                    break
                time.sleep(0.1)
            else:
                os.kill(pid, signal.SIGKILL)
    return left


def _tails(lab: Path) -> str:
    parts = []
    for name in ("devnet.out", "owner.log", "alice.log", "bob.log", "carol.log"):
        path = lab / name
        if path.exists():
            lines = path.read_text(errors="replace").splitlines()[-15:]
            parts.append(f"--- {name}\n" + "\n".join(lines))
    return "\n".join(parts)


def test_one_machine_walk_through_runs_as_written(tmp_path: Path) -> None:
    try:
        find_anvil()
    except NotFoundError as exc:  # pragma: no cover - CI installs it with npm ci
        pytest.skip(str(exc))
    script = tmp_path / "walkthrough.sh"
    script.write_text(page_script())
    env = dict(os.environ, PORT=str(free_port()), HOME=str(tmp_path / "home"))
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env.pop("MILON_HOME", None)
    lab = tmp_path / "milon-lab"
    try:
        proc = subprocess.run(
            ["bash", "-e", "-u", "-o", "pipefail", str(script)],
            cwd=tmp_path, env=env, capture_output=True, text=True, timeout=LIMIT_S,
        )  # fmt: skip
    except subprocess.TimeoutExpired as exc:
        left = _stop_leftovers(lab)
        pytest.fail(f"walk-through still running after {LIMIT_S} s ({left})\n{_tails(lab)}\n{exc}")
    left = _stop_leftovers(lab)
    out = proc.stdout
    assert proc.returncode == 0, f"{proc.stderr[-3000:]}\n{out[-3000:]}\n{_tails(lab)}"
    assert left == [], f"the page's own stop step left {left} running"
    assert "job 1 completed: 3/3 epochs" in out, out
    assert re.search(r"max-members\W+64\b", out), out
    claims = re.findall(r"claimable\s+([0-9.]+) MILON", out)
    assert len(claims) == 3 and all(float(c) > 0 for c in claims), out
    last_show = out.split("delegated the votes of")[0].rsplit("federation  1  lab", 1)[-1]
    stakes = re.findall(r"│ 20\s+│\s*\d+\s+│[^│]*│ active\s+│", last_show)
    assert len(stakes) == 3, "every contributor keeps its 20 MILON stake (none slashed)\n" + out
