"""``report.py --only X`` changes only section X of an existing report (it used to rewrite the
whole file with that one section)."""

from __future__ import annotations

import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parents[2] / "tests" / "bench"
MACHINE = {"versions": {"torch": "2"}, "date": "then", "commit": "abc", "cpu": "cpu", "cores": 2,
           "ram_gib": 8, "os": "linux", "gpu": "none"}


def result(key: str, title: str, figure: str) -> dict:
    return {"key": key, "title": title, "ok": True, "wall_s": 3.0, "device": "cpu",
            "command": f"report.py --only {key}", "markdown": f"the figure is {figure}",
            "headline": [f"{figure} per thing"], "plots": [], "data": {}}


def test_a_partial_run_replaces_its_section_headline_and_row_only():
    sys.path.insert(0, str(BENCH))
    try:
        from report import render
        from splice import splice
    finally:
        sys.path.remove(str(BENCH))
    old = render([result("chain", "Chain cost", "100 gas"), result("gui", "GUI responsiveness",
                                                                   "400 ms")],
                 MACHINE, False, "report.py", 60.0)
    new = splice(old, [result("gui", "GUI responsiveness", "40 ms")])
    assert "the figure is 100 gas" in new and "- **Chain cost** (cpu): 100 gas per thing" in new
    assert "the figure is 40 ms" in new and "the figure is 400 ms" not in new
    assert "- **GUI responsiveness** (cpu): 40 ms per thing" in new and "400 ms per" not in new
    assert new.count("| GUI responsiveness |") == 1 and new.count("## ") == old.count("## ")
    assert new.index("## 4. Chain cost") < new.index("## 7. GUI responsiveness")
    assert new.startswith(old.split("## Headline")[0])  # the header keeps the full run's line
