"""Under a real X server, a new user's first minutes by key and mouse (issue 20 item 7).

The test starts its own Xvfb on a free display (``-displayfd``), runs the desktop app in
a child process on it (``QT_QPA_PLATFORM=xcb``: this process already chose offscreen) and
lets :mod:`tests.gui.xvfb_tour` type and click through the first-run wizard (a new
wallet, its password typed twice, the encrypted-file store, the simulated federation),
the Federations tab's Join and the Jobs tab's Accept of the welcome job's round-1
assignment, until the reward and the loss curve show. Every step leaves a PNG, checked
here for size and content; they go to ``$MILON_XVFB_SHOTS`` when set, else to tmp_path.
About 30 s on 2 cores. Skipped, with the reason, where Xvfb is not installed.
"""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

import pytest

from tests.gui import xvfb_tour
from tests.procs import pid_gone

pytestmark = pytest.mark.skipif(
    shutil.which("Xvfb") is None,
    reason="Xvfb is not installed (Debian package xvfb; .ci/setup installs it)",
)

MIN_BYTES = 8_000  # a blank or black window compresses to far less


def picture_problem(path: Path) -> str | None:
    """Why ``path`` is not a real picture of a window, or None when it is."""
    from PySide6.QtGui import QImage

    if not path.exists():
        return "missing"
    size = path.stat().st_size
    if size < MIN_BYTES:
        return f"only {size} bytes"
    image = QImage(str(path))
    if image.isNull():
        return "not a readable PNG"
    if image.width() < 600 or image.height() < 400:
        return f"{image.width()}x{image.height()} is smaller than any window of the tour"
    colours: dict[int, int] = {}
    samples = 0
    for y in range(0, image.height(), 7):
        for x in range(0, image.width(), 7):
            rgb = image.pixel(x, y)
            colours[rgb] = colours.get(rgb, 0) + 1
            samples += 1
    if len(colours) < 8:
        return f"only {len(colours)} colours"
    if max(colours.values()) > 0.97 * samples:
        return "one colour covers almost all of it"
    return None


def test_first_run_to_an_accepted_assignment_under_xvfb(tmp_path: Path) -> None:
    out = Path(os.environ.get("MILON_XVFB_SHOTS") or tmp_path / "shots")
    with xvfb_tour.xvfb() as (display, pid):
        assert display.startswith(":") and not pid_gone(pid)
        result = xvfb_tour.run_tour(out, display, timeout_s=180)
    deadline = time.monotonic() + 10
    while not pid_gone(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert pid_gone(pid), "Xvfb still runs after the tour"
    assert result.returncode == 0, f"the tour failed (see {out}/failed.png):\n{result.output}"
    problems = {name: picture_problem(out / f"{name}.png") for name in xvfb_tour.SHOTS}
    assert {n: p for n, p in problems.items() if p} == {}
    for step in ("finish", "joined", "accepted", "reward"):
        assert f'"step": "{step}"' in result.output
