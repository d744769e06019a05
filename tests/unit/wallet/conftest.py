"""Wallet test fixtures: an isolated keyring environment and a real Secret Service.

Every test here runs with no reachable D-Bus session and no keyring override,
so nothing can reach the developer's own keyring. ``secret_service`` starts a
private dbus-daemon plus ``gnome-keyring-daemon --unlock`` (password on stdin)
and stops both by PID.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

KDF_N = 2**14  # tests only; real keystores use 2**18

_BUS_CONFIG = """<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>session</type>
  <listen>unix:dir={dir}</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow send_destination="*" eavesdrop="true"/>
    <allow eavesdrop="true"/>
    <allow own="*"/>
  </policy>
</busconfig>
"""


@pytest.fixture(autouse=True)
def keyring_env(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Path:
    """No session bus, no keyring override, private XDG folders: the headless default."""
    root = tmp_path_factory.mktemp("keyring-env")
    monkeypatch.setenv("HOME", str(root / "home"))
    monkeypatch.setenv("XDG_DATA_HOME", str(root / "xdg-data"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(root / "xdg-config"))
    monkeypatch.setenv("DBUS_SESSION_BUS_ADDRESS", f"unix:path={root / 'no-bus'}")
    for name in (
        "PYTHON_KEYRING_BACKEND",
        "MILON_WALLET_PASSWORD_FILE",
        "MILON_WALLET_MASTER_PASSWORD_FILE",
    ):
        monkeypatch.delenv(name, raising=False)
    return root


def _gone(pid: int) -> bool:
    """True once the process has exited (a zombie waiting for its reaper counts as gone)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, IndexError):
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        return False
    return state in ("Z", "X")


def _stop(pid: int) -> None:
    """Stop a daemon we forked (not our child, so no wait()) by its PID."""
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    for _ in range(100):
        if _gone(pid):
            return
        time.sleep(0.02)
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)


@pytest.fixture
def secret_service(keyring_env: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A real, unlocked GNOME Secret Service on a private session bus; yields its address."""
    missing = [b for b in ("dbus-daemon", "gnome-keyring-daemon") if shutil.which(b) is None]
    if missing:
        pytest.skip(
            f"{', '.join(missing)} not installed (Debian: apt-get install -y dbus gnome-keyring)"
        )
    root = keyring_env / "secret-service"
    (root / "bus").mkdir(parents=True)
    runtime = root / "run"
    runtime.mkdir(mode=0o700)
    conf = root / "bus.conf"
    conf.write_text(_BUS_CONFIG.format(dir=root / "bus"))
    env = dict(os.environ, XDG_RUNTIME_DIR=str(runtime))
    out = subprocess.run(
        ["dbus-daemon", f"--config-file={conf}", "--fork", "--print-address=1", "--print-pid=1"],
        capture_output=True,
        text=True,
        env=env,
        check=True,
        timeout=10,
    ).stdout.split()
    address, bus_pid = out[0], int(out[1])
    keyring_proc: subprocess.Popen[bytes] | None = None
    try:
        env["DBUS_SESSION_BUS_ADDRESS"] = address
        keyring_proc = subprocess.Popen(
            [
                "gnome-keyring-daemon",
                "--foreground",
                "--unlock",
                "--components=secrets",
                f"--control-directory={runtime / 'keyring'}",
            ],
            stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            env=env,
        )
        assert keyring_proc.stdin is not None
        keyring_proc.stdin.write(b"unlock-password-for-tests")
        keyring_proc.stdin.close()
        monkeypatch.setenv("DBUS_SESSION_BUS_ADDRESS", address)
        monkeypatch.setenv("XDG_RUNTIME_DIR", str(runtime))
        _wait_ready(keyring_proc)
        yield address
    finally:
        if keyring_proc is not None:
            keyring_proc.terminate()
            try:
                keyring_proc.wait(5)
            except subprocess.TimeoutExpired:
                keyring_proc.kill()
                keyring_proc.wait(5)
        _stop(bus_pid)


def _wait_ready(proc: subprocess.Popen[bytes]) -> None:
    from keyring.backends.SecretService import Keyring

    deadline = time.monotonic() + 15
    while True:
        if proc.poll() is not None:
            pytest.fail(f"gnome-keyring-daemon exited early with code {proc.returncode}")
        try:
            Keyring.priority  # raises until the service answers on the bus
            return
        except RuntimeError:
            if time.monotonic() > deadline:
                pytest.fail("gnome-keyring-daemon did not answer on the private bus within 15 s")
            time.sleep(0.05)
