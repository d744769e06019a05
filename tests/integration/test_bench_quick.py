"""The benchmark suite's quick mode runs end to end and writes a complete report.

Runs ``tests/bench/report.py --quick`` in a subprocess into a temporary
folder (never docs/) and checks that every section ran, has its tables and
its plots, and that every plot is a well-formed PNG. Figures are not checked:
quick mode's sizes are too small to mean anything; CI runs this to keep the
suite from rotting.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import struct
import subprocess
import sys
import zlib
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
RUNNER = REPO / "tests" / "bench" / "report.py"
SECTIONS = ["trainer", "e2e", "transfer", "chain", "scale", "robustness", "gui", "verdicts",
            "privacy"]
LIMIT_S = 900


def png_problem(path: Path) -> str | None:
    """None when ``path`` is a well-formed PNG (signature, IHDR first, CRCs, IEND last)."""
    data = path.read_bytes()
    if not data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "no PNG signature"
    pos, kinds = 8, []
    while pos < len(data):
        if pos + 12 > len(data):
            return "truncated chunk"
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kind = data[pos + 4 : pos + 8]
        body = data[pos + 8 : pos + 8 + length]
        (crc,) = struct.unpack(">I", data[pos + 8 + length : pos + 12 + length])
        if zlib.crc32(kind + body) != crc:
            return f"bad CRC in chunk {kind!r}"
        if kind == b"IHDR":
            width, height = struct.unpack(">II", body[:8])
            if width < 100 or height < 100:
                return f"image is only {width}x{height}"
        kinds.append(kind)
        pos += 12 + length
    if not kinds or kinds[0] != b"IHDR" or kinds[-1] != b"IEND" or b"IDAT" not in kinds:
        return f"chunk order {kinds[:3]}...{kinds[-1:]}"
    return None


def test_png_check_rejects_a_damaged_file(tmp_path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    good = tmp_path / "good.png"
    fig = plt.figure(figsize=(2, 2))
    fig.savefig(good, format="png")
    plt.close(fig)
    assert png_problem(good) is None
    data = bytearray(good.read_bytes())
    data[40] ^= 0xFF
    bad = tmp_path / "bad.png"
    bad.write_bytes(bytes(data))
    assert png_problem(bad) is not None


# The sections CI runs: the rest (e2e: a demo and daemons; gui: the window's stall
# benchmark; verdicts: committee-judged federations) take ~130 s together in quick mode and
# exercise paths the demo, daemon and GUI tests already run; they run with --long. So does
# privacy (three demo jobs and the attack: 60-150 s in quick mode here, by the load).
CI_SECTIONS = ["trainer", "transfer", "chain", "scale", "robustness"]


def test_quick_mode_writes_the_ci_sections(tmp_path: Path) -> None:
    run_quick(tmp_path, CI_SECTIONS)


@pytest.mark.long
def test_quick_mode_writes_every_section(tmp_path: Path) -> None:
    run_quick(tmp_path, SECTIONS)


def run_quick(tmp_path: Path, sections: list[str]) -> None:
    """``report.py --quick`` on ``sections`` (all: no --only) and every check of its report."""
    out = tmp_path / "report" / "benchmarks.md"
    env = dict(os.environ, MPLBACKEND="Agg", QT_QPA_PLATFORM="offscreen")
    only = [] if sections == SECTIONS else ["--only", ",".join(sections)]
    proc = subprocess.Popen(
        [sys.executable, str(RUNNER), "--quick", *only, "--out", str(out)], cwd=REPO, env=env,
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True,
    )
    try:
        log, _ = proc.communicate(timeout=LIMIT_S)
    finally:
        with contextlib.suppress(ProcessLookupError):  # the runner and anything it left
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    assert out.is_file(), log[-3000:]
    text = out.read_text()
    results = json.loads((out.parent / "benchmarks" / "results.json").read_text())
    assert results["quick"] is True
    assert [s["key"] for s in results["sections"]] == sections
    e2e_present = (REPO / "tests" / "bench" / "sec_e2e.py").is_file()
    for key in sections:
        sec = next(s for s in results["sections"] if s["key"] == key)
        n = SECTIONS.index(key) + 1  # a section keeps its number in a partial report
        assert f"## {n}. {sec['title']}\n" in text, (key, sec["title"])
        if key == "e2e" and not e2e_present:
            assert not sec["ok"] and "sec_e2e.py is missing" in sec["error"]
            continue
        assert sec["ok"], (key, sec.get("error"), sec.get("log_tail", "")[-2000:])
        assert "|---" in sec["markdown"], f"{key}: no table"
        assert sec["plots"], f"{key}: no plot"
        assert sec["headline"], f"{key}: no headline figure"
        assert sec["command"], f"{key}: no command"
    for ref in re.findall(r"!\[[^\]]*\]\((benchmarks/[^)]+\.png)\)", text):
        png = out.parent / ref
        assert png.is_file(), ref
        assert png_problem(png) is None, (ref, png_problem(png))
    if "robustness" in sections:
        assert len(re.findall(r"robustness_\w+\.png", text)) == 4  # one plot per attack
    for what in ("| CPU |", "| RAM |", "| OS |", "| versions |", "torch", "commit"):
        assert what in text, what
    assert proc.returncode == (0 if e2e_present or "e2e" not in sections else 1), log[-3000:]


def test_bad_arguments_are_refused_with_a_reason() -> None:
    cases = [
        (["--quick", "--out", str(REPO / "docs" / "benchmarks.md")], "never writes into"),
        (["--only", "trainer,warp"], "unknown section(s) warp"),
        (["--out", "/tmp/report.txt"], "must be a .md file"),
    ]
    for args, why in cases:
        res = subprocess.run([sys.executable, str(RUNNER), *args], cwd=REPO, capture_output=True,
                             text=True, timeout=120)
        assert res.returncode == 3, (args, res.stderr)
        assert why in res.stderr, (args, res.stderr)
