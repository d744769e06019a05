"""Re-running some sections (``report.py --only``) updates only those in an existing report.

The report is one markdown file of numbered ``## N. Title`` sections, a headline
list (``- **Title** (device): ...``) and a status table (``| Title | device |
wall | status |``). A partial run replaces, for each section it ran, that
section's body, its headline bullets and its table row, and leaves every other
section as it was (they keep the run that made them); ``results.json`` gets the
same treatment per section key.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any


def splice(existing: str, results: list[dict[str, Any]]) -> str:
    """``existing`` with the sections in ``results`` replaced (see the module docstring)."""
    from report import render

    fresh = render(results, {"versions": {}, "date": "", "commit": "", "cpu": "", "cores": 0,
                             "ram_gib": 0, "os": "", "gpu": ""}, False, "", 0.0)
    text = existing
    for r in results:
        title = r["title"]
        text = _replace_section(text, fresh, title)
        text = _replace_lines(text, fresh, f"- **{title}**")
        text = _replace_lines(text, fresh, f"| {title} |")
    missing = [r["title"] for r in results if f". {r['title']}\n" not in text]
    if missing:
        raise ValueError(f"the report has no section {', '.join(missing)}: run every section")
    return text


def _section(text: str, title: str) -> tuple[int, int] | None:
    match = re.search(rf"^## \d+\. {re.escape(title)}\n", text, flags=re.M)
    if match is None:
        return None
    nxt = re.search(r"^## ", text[match.end():], flags=re.M)
    end = match.end() + nxt.start() if nxt else len(text)
    return match.start(), end


def _replace_section(text: str, fresh: str, title: str) -> str:
    old, new = _section(text, title), _section(fresh, title)
    if old is None or new is None:
        return text
    body = fresh[new[0]:new[1]].rstrip("\n") + "\n\n"
    return text[: old[0]] + body + text[old[1]:].lstrip("\n")


def _replace_lines(text: str, fresh: str, prefix: str) -> str:
    """Every line starting with ``prefix`` in ``text`` replaced by those of ``fresh``."""
    new = [ln for ln in fresh.splitlines() if ln.startswith(prefix)]
    lines = text.splitlines(keepends=True)
    at = [i for i, ln in enumerate(lines) if ln.startswith(prefix)]
    if not at or not new:
        return text
    keep = [ln for i, ln in enumerate(lines) if i not in set(at)]
    insert = [ln + "\n" for ln in new]
    pos = at[0]
    return "".join(keep[:pos] + insert + keep[pos:])


def merge_results(path: Path, payload: dict[str, Any]) -> dict[str, Any]:
    """``payload`` (a partial run's results.json) merged into the one at ``path``, by key."""
    if not path.is_file():
        return payload
    try:
        old = json.loads(path.read_text())
    except ValueError:
        return payload
    ran = {s["key"]: s for s in payload["sections"]}
    merged = [ran.pop(s["key"], s) for s in old.get("sections", [])] + list(ran.values())
    return {**old, "sections": merged, "partial_runs": [
        *old.get("partial_runs", []),
        {k: payload[k] for k in ("command", "total_s") if k in payload}
        | {"date": payload["machine"].get("date"), "commit": payload["machine"].get("commit")},
    ]}
