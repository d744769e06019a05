from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from milon_app.exit_codes import DESCRIPTIONS, ExitCode

DOC = Path(__file__).resolve().parents[2] / "docs" / "exit-codes.md"


def test_every_code_is_described_and_documented():
    rows = {
        int(m.group(1)): (m.group(2), m.group(3))
        for m in re.finditer(r"^\| (\d+) \| (\w+) \| (.+?) \|$", DOC.read_text(), re.M)
    }
    assert set(rows) == {int(c) for c in ExitCode}
    for code in ExitCode:
        name, text = rows[int(code)]
        assert name == code.name
        assert text == DESCRIPTIONS[code]


def test_codes_are_unique():
    values = [int(c) for c in ExitCode]
    assert len(values) == len(set(values))


def test_help_lists_exit_codes():
    out = subprocess.run(
        [sys.executable, "-m", "milon_app", "--help"], capture_output=True, text=True, check=True
    ).stdout
    for code in ExitCode:
        assert DESCRIPTIONS[code] in out
