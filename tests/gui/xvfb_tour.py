"""A new user's first minutes under a real X server, driven by key and mouse events.

``.venv/bin/python tests/gui/xvfb_tour.py --out docs/images`` starts its own Xvfb on a
free display (``-displayfd``, no TCP), runs the desktop app in a child process on it
(``QT_QPA_PLATFORM=xcb``, a throwaway HOME, no keyring service: the headless default) and
drives it with ``QTest`` key clicks and mouse clicks on the real widgets, as a user would:

1. the first-run wizard: "Create a new account", the password typed twice; the password
   kept in the encrypted file (no keyring runs), its master password typed twice; "this
   machine's simulated federation"; Finish;
2. the main window comes up and the node starts (no password asked again);
3. the Jobs tab's accept policy set to "manual" (Down key on the mode box, Apply policy);
4. the Federations tab: the federation's row clicked, a stake and a capacity typed, Join;
5. the welcome job's round-1 assignment waits for the user on the Jobs tab: its row
   clicked, Accept;
6. the node trains; once round 1 is finalized the Wallet tab shows the reward to claim
   and the Training tab this node's loss curve.

Each step is saved as a PNG grabbed from the X server (``QScreen.grabWindow``), numbered
in :data:`SHOTS` order. The README's pictures come from here; ``tests/gui/
test_xvfb_tour.py`` runs the same tour and checks every picture. ``--display :N`` uses
a running X server instead of starting one. The keystore uses the cheapest scrypt setting
tests use (a real first run uses 2**18) and the simulated members talk in-process.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

SHOTS = (
    "01-wizard-account",
    "02-wizard-password",
    "03-wizard-network",
    "04-wizard-ready",
    "05-node-started",
    "06-federation-joined",
    "07-assignment-waiting",
    "08-assignment-accepted",
    "09-wallet-reward",
    "10-training",
)
PW = "tour password 1"  # a throwaway wallet on a throwaway chain
MASTER = "tour master 1"
STAKE = "20"
CAPACITY = "400"  # the simulated members have 100, 200 and 300
SCREEN = "1400x1000x24"
WINDOW = (1280, 800)


# -- the X server ---------------------------------------------------------------------------------
@contextlib.contextmanager
def xvfb(screen: str = SCREEN, timeout_s: float = 20.0) -> Iterator[tuple[str, int]]:
    """Start Xvfb on a free display; yields (DISPLAY, pid) and stops it by PID."""
    exe = shutil.which("Xvfb")
    if exe is None:
        raise FileNotFoundError("Xvfb is not installed (Debian package xvfb; .ci/setup installs it)")
    read_fd, write_fd = os.pipe()
    with tempfile.TemporaryFile() as log:
        proc = subprocess.Popen(
            [exe, "-displayfd", str(write_fd), "-screen", "0", screen, "-nolisten", "tcp",
             "-noreset"],
            pass_fds=(write_fd,), stdin=subprocess.DEVNULL, stdout=log, stderr=log,
        )
        os.close(write_fd)
        try:
            yield f":{_display_number(read_fd, proc, log, timeout_s)}", proc.pid
        finally:
            os.close(read_fd)
            if proc.poll() is None:
                os.kill(proc.pid, signal.SIGTERM)
                try:
                    proc.wait(10)
                except subprocess.TimeoutExpired:
                    os.kill(proc.pid, signal.SIGKILL)
                    proc.wait(10)


def _display_number(fd: int, proc: subprocess.Popen[bytes], log: Any, timeout_s: float) -> int:
    """The line Xvfb writes to ``-displayfd`` once it accepts connections."""
    number = b""
    deadline = time.monotonic() + timeout_s
    while not number.endswith(b"\n"):
        left = deadline - time.monotonic()
        if left <= 0 or proc.poll() is not None:
            log.seek(0)
            raise RuntimeError(f"Xvfb did not start: {log.read().decode(errors='replace')}")
        ready, _, _ = select.select([fd], [], [], min(left, 0.5))
        if ready:
            number += os.read(fd, 16)
    return int(number)


def child_env(display: str, home: Path) -> dict[str, str]:
    """The app's environment: the X display, xcb, a private HOME, no session bus."""
    env = dict(os.environ, DISPLAY=display, QT_QPA_PLATFORM="xcb")
    runtime = home / "runtime"
    runtime.mkdir(mode=0o700, parents=True, exist_ok=True)
    env.update(
        HOME=str(home / "home"),
        XDG_DATA_HOME=str(home / "xdg-data"),
        XDG_CONFIG_HOME=str(home / "xdg-config"),
        XDG_RUNTIME_DIR=str(runtime),
        DBUS_SESSION_BUS_ADDRESS=f"unix:path={home / 'no-bus'}",
    )
    for name in ("PYTHON_KEYRING_BACKEND", "MILON_WALLET_PASSWORD_FILE",
                 "MILON_WALLET_MASTER_PASSWORD_FILE", "WAYLAND_DISPLAY", "QT_SCALE_FACTOR"):
        env.pop(name, None)
    return env


@dataclass
class TourResult:
    returncode: int
    output: str
    wall_s: float


def run_tour(out: Path, display: str, timeout_s: float = 240.0) -> TourResult:
    """Run the GUI tour in a child process on ``display``; kills it (by PID) on timeout."""
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="milon-tour-") as tmp:
        proc = subprocess.Popen(
            [sys.executable, str(Path(__file__).resolve()), "--child", "--out", str(out)],
            env=child_env(display, Path(tmp)), stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        )
        try:
            output, _ = proc.communicate(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            os.kill(proc.pid, signal.SIGKILL)
            output, _ = proc.communicate()
            output += f"\n(the tour ran past {timeout_s:.0f} s and was killed)"
            return TourResult(124, output, time.monotonic() - t0)
    return TourResult(proc.returncode, output, time.monotonic() - t0)


# -- the GUI, in the child ------------------------------------------------------------------------
Wait = tuple[Callable[[], bool], float, str]  # (done?, timeout s, what)


class Tour:
    """Steps through :meth:`script` on a Qt timer, so it runs inside the wizard's and the
    app's own event loops; each ``yield`` waits for a condition."""

    def __init__(self, app: Any, milon: Any, out: Path) -> None:
        from PySide6.QtCore import QTimer

        self.app, self.milon, self.out = app, milon, out
        self.script = self.steps()
        self.wait: Wait | None = None
        self.deadline = 0.0
        self.busy = False
        self.error: str | None = None
        self.done = False
        self.shots: list[Path] = []
        self.t0 = time.monotonic()
        self.timer = QTimer()
        self.timer.timeout.connect(self.tick)
        self.timer.start(50)

    # -- plumbing ------------------------------------------------------------------------------
    def tick(self) -> None:
        if self.busy or self.done:
            return
        self.busy = True
        try:
            if self.wait is not None:
                check, _, what = self.wait
                if not check():
                    if time.monotonic() > self.deadline:
                        raise TimeoutError(f"gave up waiting for {what}")
                    return
            self.wait = next(self.script)
            self.deadline = time.monotonic() + self.wait[1]
        except StopIteration:
            self.finish()
        except Exception as exc:  # report, leave a picture of where it stuck, and quit
            self.error = f"{type(exc).__name__}: {exc}"
            self.grab(self.top(), "failed", number=False)
            self.finish()
        finally:
            self.busy = False

    def finish(self) -> None:
        from PySide6.QtWidgets import QDialog

        self.done = True
        self.timer.stop()
        for w in self.app.topLevelWidgets():  # a wizard or dialog still open: give up on it
            if isinstance(w, QDialog) and w.isVisible():
                w.reject()
        if self.milon.window is not None:
            self.milon.request_quit()

    def log(self, step: str) -> None:
        print(json.dumps({"t": round(time.monotonic() - self.t0, 2), "step": step}), flush=True)

    @staticmethod
    def pause(seconds: float) -> Wait:
        end = time.monotonic() + seconds
        return (lambda: time.monotonic() >= end), seconds + 5, f"{seconds} s"

    def top(self) -> Any:
        from PySide6.QtWidgets import QWidget

        widgets = [w for w in self.app.topLevelWidgets()
                   if isinstance(w, QWidget) and w.isVisible() and w.width() > 200]
        window = self.milon.window
        return window if window is not None and window.isVisible() else (
            widgets[0] if widgets else None)

    def grab(self, widget: Any, name: str, *, number: bool = True) -> None:
        """The widget's window as the X server shows it (falls back to Qt's own render)."""
        if widget is None:
            return
        window = widget.window()
        pixmap = window.screen().grabWindow(int(window.winId()))
        if pixmap.isNull() or pixmap.width() < 50:
            pixmap = window.grab()
        path = self.out / f"{name}.png"
        if not pixmap.save(str(path), "PNG", 0):  # quality 0: the PNG's strongest compression
            raise OSError(f"could not write {path}")
        if number:
            self.shots.append(path)
            self.log(f"shot {path.name}")

    def shot(self, widget: Any, name: str) -> Iterator[Wait]:
        """Let the last events paint, then grab (a generator: ``yield from``)."""
        assert name in SHOTS, name
        yield self.pause(0.5)
        self.grab(widget, name)

    # -- input, as a user gives it ------------------------------------------------------------
    @staticmethod
    def click(widget: Any, pos: Any = None) -> None:
        from PySide6.QtCore import Qt
        from PySide6.QtTest import QTest

        if not (widget.isVisible() and widget.isEnabled()):
            raise RuntimeError(f"cannot click {widget!r}: hidden or disabled")
        if pos is None:
            QTest.mouseClick(widget, Qt.MouseButton.LeftButton)
        else:
            QTest.mouseClick(widget, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier,
                             pos)

    def type_into(self, edit: Any, text: str) -> None:
        """Click the field, select what is there (Ctrl+A) and type over it."""
        from PySide6.QtCore import Qt
        from PySide6.QtTest import QTest

        self.click(edit)
        QTest.keyClick(edit, Qt.Key.Key_A, Qt.KeyboardModifier.ControlModifier)
        QTest.keyClicks(edit, text)
        if edit.text() != text:
            raise RuntimeError(f"typed {text!r}, the field holds {edit.text()!r}")

    def open_tab(self, title: str) -> Any:
        window = self.milon.window
        bar = window.tabs.tabBar()
        index = next(i for i in range(bar.count()) if bar.tabText(i) == title)
        self.click(bar, bar.tabRect(index).center())
        if window.tabs.currentIndex() != index:
            raise RuntimeError(f"clicking the {title} tab did not open it")
        return window.pages[title]

    def click_row(self, table: Any, row: int) -> None:
        rect = table.visualRect(table.model().index(row, 0))
        self.click(table.viewport(), rect.center())
        if table.currentRow() != row:
            raise RuntimeError(f"clicking row {row} did not select it")

    @staticmethod
    def texts(table: Any, column: int) -> list[str]:
        return [table.item(r, column).text() if table.item(r, column) else ""
                for r in range(table.rowCount())]

    # -- the tour ------------------------------------------------------------------------------
    def steps(self) -> Iterator[Wait]:
        from PySide6.QtCore import Qt
        from PySide6.QtTest import QTest
        from PySide6.QtWidgets import QWizard

        from milon_app.gui.wizard import SetupWizard

        found: list[SetupWizard] = []

        def wizard_shown() -> bool:
            found[:] = [w for w in self.app.topLevelWidgets()
                        if isinstance(w, SetupWizard) and w.isVisible()]
            return bool(found)

        yield wizard_shown, 30, "the first-run wizard"
        wiz = found[0]
        yield (lambda: wiz.secret_page.backend is not None), 30, "the keyring check"
        self.log("wizard")

        page = wiz.wallet_page
        self.click(page.kinds.button(page.KINDS.index("create")))
        self.type_into(page.password, PW)
        self.type_into(page.confirm, PW)
        yield from self.shot(wiz, "01-wizard-account")
        self.click(wiz.button(QWizard.WizardButton.NextButton))
        yield (lambda: wiz.currentPage() is wiz.secret_page), 10, "the password page"

        secret = wiz.secret_page
        encrypted = next(b for b in secret.stores.buttons() if b.objectName() == "encrypted-file")
        self.click(encrypted)
        self.type_into(secret.master, MASTER)
        self.type_into(secret.master_confirm, MASTER)
        yield from self.shot(wiz, "02-wizard-password")
        self.click(wiz.button(QWizard.WizardButton.NextButton))
        yield (lambda: wiz.currentPage() is wiz.network_page), 30, "the network page"

        net = wiz.network_page.form
        self.click(next(b for b in net.kinds.buttons() if b.objectName() == "simulated"))
        yield from self.shot(wiz, "03-wizard-network")
        self.click(wiz.button(QWizard.WizardButton.NextButton))
        yield (lambda: wiz.currentPage() is wiz.finish_page), 10, "the last page"
        yield from self.shot(wiz, "04-wizard-ready")
        self.click(wiz.button(QWizard.WizardButton.FinishButton))
        self.log("finish")

        milon = self.milon
        yield (lambda: milon.session_started), 90, "the node to start"
        window = milon.window
        yield (lambda: bool(window.pages)), 30, "the tabs"
        window.resize(*WINDOW)
        node = window.pages["Node"]
        loads = node.loads
        yield (lambda: node.loads > loads), 30, "the Node tab"
        self.log("started")
        yield from self.shot(window, "05-node-started")

        # manual policy first, so the welcome job's assignment waits for the Accept click
        jobs = self.open_tab("Jobs")
        for _ in range(jobs.mode.count()):  # auto -> manual: the Down key on the mode box
            if jobs.mode.currentText() == "manual":
                break
            QTest.keyClick(jobs.mode, Qt.Key.Key_Down)
        if jobs.mode.currentText() != "manual":
            raise RuntimeError(f"accept mode box shows {jobs.mode.currentText()!r}")
        self.click(jobs.apply_policy)
        session = milon.session
        yield (lambda: session.core.policy.mode == "manual"), 20, "the manual policy"

        feds = self.open_tab("Federations")
        yield (lambda: feds.feds.rowCount() > 0), 30, "the federations"
        self.click_row(feds.feds, 0)
        self.type_into(feds.stake, STAKE)
        self.type_into(feds.capacity, CAPACITY)  # a bigger share: a few epochs, a curve
        self.click(feds.join_button)
        yield (lambda: self.texts(feds.feds, 6)[:1] == ["member"]), 60, "membership"
        self.log("joined")
        yield from self.shot(window, "06-federation-joined")

        jobs = self.open_tab("Jobs")

        def waiting() -> int | None:
            needs = self.texts(jobs.assignments, 4)
            return needs.index("yes") if "yes" in needs else None

        yield (lambda: waiting() is not None), 90, "an assignment waiting for the user"
        row = waiting()
        assert row is not None
        self.click_row(jobs.assignments, row)
        self.log("assignment")
        yield from self.shot(window, "07-assignment-waiting")
        key = jobs.assignments.item(row, 0).text(), jobs.assignments.item(row, 1).text()
        self.click(jobs.accept_button)

        def accepted() -> bool:
            for r in range(jobs.assignments.rowCount()):
                cells = [jobs.assignments.item(r, c).text() for c in range(4)]
                if (cells[0], cells[1]) == key and cells[3] in ("accepted", "committed",
                                                                 "revealed"):
                    return True
            return False

        yield accepted, 30, "the accepted assignment"
        self.log("accepted")
        yield from self.shot(window, "08-assignment-accepted")

        wallet = self.open_tab("Wallet")
        loads = wallet.loads
        # the reward for round 1 once its committee finalized it (refreshed every 2 s)
        yield (lambda: wallet.loads > loads and wallet.claim_button.isEnabled()), 120, "a reward"
        self.log("reward")
        yield from self.shot(window, "09-wallet-reward")

        training = self.open_tab("Training")
        loads = training.loads

        def curve() -> bool:
            xs = training.loss_curve.getData()[0]
            return training.loads > loads and xs is not None and len(xs) > 0

        yield curve, 60, "the loss curve"
        self.log("training")
        yield from self.shot(window, "10-training")


def child(out: Path) -> int:
    """The app on the X display, driven by :class:`Tour`; 0 when every step was done."""
    from PySide6.QtWidgets import QApplication

    from milon_app.config import Paths
    from milon_app.gui.app import MilonApp, icon
    from milon_app.gui.theme import apply_theme
    from milon_app.session.session import SessionOptions
    from milon_app.wallet.keystore import MIN_KDF_N

    app = QApplication([sys.argv[0]])
    if app.platformName() != "xcb":
        print(f"expected the xcb platform, got {app.platformName()!r}", flush=True)
        return 2
    app.setApplicationName("milon")
    app.setApplicationDisplayName("MILON")
    app.setWindowIcon(icon())
    apply_theme(app, False)
    paths = Paths.default(Path(os.environ["HOME"]) / "milon")
    milon = MilonApp(app, paths, opts=SessionOptions(tick_s=0.1, transport="inprocess"),
                     kdf_n=MIN_KDF_N)
    milon.closed.connect(app.quit)
    tour = Tour(app, milon, out)
    try:
        if milon.start() is not None:
            app.exec()
    finally:
        milon.shutdown()
    if tour.error or not tour.done:
        print(f"tour failed: {tour.error or 'the app ended early'}", flush=True)
        return 1
    print(json.dumps({"shots": [str(p) for p in tour.shots],
                      "wall_s": round(time.monotonic() - tour.t0, 1)}), flush=True)
    return 0


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="tests/gui/xvfb_tour.py", description=__doc__.split("\n")[0])
    p.add_argument("--out", type=Path, required=True, help="folder for the PNGs")
    p.add_argument("--display", help="use this running X server (e.g. :99) instead of Xvfb")
    p.add_argument("--timeout", type=float, default=240.0, help="seconds before giving up")
    p.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.child:
        return child(args.out)
    with contextlib.ExitStack() as stack:
        display = args.display or stack.enter_context(xvfb())[0]
        result = run_tour(args.out, display, args.timeout)
    print(result.output, end="")
    print(f"tour: exit {result.returncode} after {result.wall_s:.1f} s", file=sys.stderr)
    return result.returncode


if __name__ == "__main__":
    raise SystemExit(main())
