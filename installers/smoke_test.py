"""Smoke-test a built or installed ``milon`` executable (bundle, tarball or .deb).

    python3 installers/smoke_test.py PATH/TO/milon [--anvil PATH] [--json-out FILE]

Runs the executable the way a contributor would, in a throwaway home: HOME
and every XDG folder point into a temporary folder deleted at the end, and
MILON_HOME is unset, so the app uses the platform folders as when installed.
It prints one line per check with its time:

- ``--version`` matches milon_app/__init__.py; ``hw`` and ``hw --json`` work;
- ``demo --rounds 2 --json`` trains a real federation (embedded EVM, libp2p on
  127.0.0.1, torch) and reaches a sane accuracy;
- a bad command line and a bad config end with the documented exit codes;
- the window opens offscreen (and under Xvfb when ``xvfb-run`` exists) after
  unlocking a real wallet, with torch not imported before the first frame,
  and the node starts behind it;
- with anvil: ``devnet`` from the bundle, ``--daemon`` against it, ``status``
  from another process, SIGTERM stops it with exit code 0;
- with dbus-daemon and gnome-keyring-daemon: ``wallet create --secret-store
  os-keyring`` finds the Secret Service from inside the bundle.

Standard library only (it tests the bundle, not this checkout's venv). Every
process it starts is stopped by its PID, also when a check fails.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PASSWORD = "smoke-test throwaway password"  # noqa: S105 - a throwaway wallet in a temp dir


def expected_version() -> str:
    text = (ROOT / "milon_app" / "__init__.py").read_text(encoding="utf-8")
    match = re.search(r'^__version__ = "([^"]+)"', text, re.M)
    if match is None:
        raise SystemExit("smoke_test: no __version__ in milon_app/__init__.py")
    return match.group(1)


class Failed(Exception):
    """A check did not pass; the message says what was seen."""


class Smoke:
    def __init__(self, exe: Path, tmp: Path, anvil: Path | None) -> None:
        self.exe, self.tmp, self.anvil = exe, tmp, anvil
        self.home = tmp / "home"
        self.procs: list[subprocess.Popen[str]] = []
        self.forked: list[int] = []  # daemons that fork themselves (dbus-daemon)
        self.results: list[dict[str, object]] = []
        for sub in ("home", "xdg-config", "xdg-data", "xdg-cache", "xdg-state", "run"):
            (tmp / sub).mkdir(mode=0o700)
        self.env = {
            k: v for k, v in os.environ.items()
            if not k.startswith(("MILON_", "XDG_", "PYTHON", "QT_", "DBUS_"))
        }
        self.env.update(
            HOME=str(self.home),  # no MILON_HOME: the platform folders, as installed
            XDG_CONFIG_HOME=str(tmp / "xdg-config"), XDG_DATA_HOME=str(tmp / "xdg-data"),
            XDG_CACHE_HOME=str(tmp / "xdg-cache"), XDG_STATE_HOME=str(tmp / "xdg-state"),
            XDG_RUNTIME_DIR=str(tmp / "run"), QT_QPA_PLATFORM="offscreen",
        )
        if anvil is not None:
            self.env["MILON_ANVIL"] = str(anvil)
        self.config_file = tmp / "xdg-config" / "milon" / "config.json"
        self.keystore = tmp / "xdg-data" / "milon" / "wallet" / "keystore.json"
        self.pw_file = tmp / "pw.txt"
        self.pw_file.write_text(PASSWORD + "\n", encoding="utf-8")
        self.pw_file.chmod(0o600)

    # -- helpers ------------------------------------------------------------------------------
    def run(self, *args: str, timeout: float = 300, env: dict[str, str] | None = None,
            prefix: tuple[str, ...] = ()) -> subprocess.CompletedProcess[str]:
        return subprocess.run([*prefix, str(self.exe), *args], capture_output=True, text=True,
                              timeout=timeout, env=env or self.env, check=False)

    def start(self, *args: str, env: dict[str, str] | None = None,
              prefix: tuple[str, ...] = ()) -> subprocess.Popen[str]:
        proc = subprocess.Popen([*prefix, str(self.exe), *args], stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True, env=env or self.env)
        self.procs.append(proc)
        return proc

    def stop(self, proc: subprocess.Popen[str], sig: int = signal.SIGTERM) -> int:
        if proc.poll() is None:
            proc.send_signal(sig)
        try:
            return proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            return proc.wait(timeout=30)

    def cleanup(self) -> None:
        for proc in reversed(self.procs):
            if proc.poll() is None:
                self.stop(proc)
            for stream in (proc.stdout, proc.stderr):
                if stream is not None:
                    stream.close()
        for pid in self.forked:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)

    def check(self, name: str, fn: Callable[[], str]) -> None:
        t0 = time.perf_counter()
        try:
            detail, ok = fn(), True
        except Failed as exc:
            detail, ok = str(exc), False
        except (OSError, subprocess.SubprocessError, ValueError, KeyError) as exc:
            detail, ok = f"{type(exc).__name__}: {exc}", False
        seconds = time.perf_counter() - t0
        self.results.append({"check": name, "ok": ok, "seconds": round(seconds, 2),
                             "detail": detail})
        print(f"{'PASS' if ok else 'FAIL'}  {name:<28} {seconds:7.2f} s  {detail}", flush=True)

    @staticmethod
    def expect(cond: bool, message: str) -> None:
        if not cond:
            raise Failed(message)

    def ok_run(self, *args: str, **kw: object) -> subprocess.CompletedProcess[str]:
        res = self.run(*args, **kw)  # type: ignore[arg-type]
        self.expect(res.returncode == 0,
                    f"`milon {' '.join(args)}` exited {res.returncode}: {res.stderr[-800:]}")
        return res

    # -- checks -------------------------------------------------------------------------------
    def version(self) -> str:
        out = self.ok_run("--version").stdout.strip()
        self.expect(out == f"milon {expected_version()}", f"got {out!r}")
        return out

    def hw(self) -> str:
        self.ok_run("hw")
        data = json.loads(self.ok_run("--json", "hw").stdout)
        return f"keys: {', '.join(sorted(data))[:80]}"

    def demo(self) -> str:
        res = self.ok_run("--json", "demo", "--rounds", "2", timeout=600)
        data = json.loads(res.stdout)
        rounds = data["rounds"]
        self.expect(len(rounds) == 2, f"{len(rounds)} rounds in the report")
        acc = float(data["final_accuracy"])
        self.expect(acc > 0.5, f"final accuracy {acc:.3f} is not above 0.5")
        return f"2 rounds, final accuracy {acc:.2%}, wall {data['wall_seconds']:.1f} s"

    def bad_input(self) -> str:
        res = self.run("demo", "--no-such-option")
        self.expect(res.returncode == 2, f"bad option: exit {res.returncode}, want 2 (usage)")
        bad = self.tmp / "bad.toml"
        bad.write_text("[chain\n", encoding="utf-8")
        res = self.run("--daemon", "--config", str(bad))
        self.expect(res.returncode == 9 and "not valid TOML" in res.stderr,
                    f"bad config: exit {res.returncode}, stderr {res.stderr[-300:]!r}")
        return "usage -> 2, malformed config -> 9 with the file named"

    def make_wallet(self) -> str:
        res = self.ok_run("wallet", "create", "--secret-store", "password-file",
                          "--password-file", str(self.pw_file), "--scrypt-n", "16384")
        self.write_config({})
        mode = self.keystore.stat().st_mode & 0o777
        self.expect(mode == 0o600, f"keystore mode {mode:o}, want 600")
        return res.stdout.splitlines()[0]

    def write_config(self, extra: dict[str, object]) -> None:
        """The user's settings file (what the first-run wizard writes) in the XDG folder."""
        config: dict[str, object] = {
            "wallet": {"secret_store": "password-file", "password_file": str(self.pw_file)},
            **extra,
        }
        self.config_file.parent.mkdir(parents=True, exist_ok=True)
        self.config_file.write_text(json.dumps(config), encoding="utf-8")

    def gui(self, prefix: tuple[str, ...] = ()) -> str:
        env = dict(self.env, MILON_GUI_BENCH=repr(time.time()))
        if prefix:
            env.pop("QT_QPA_PLATFORM")
        proc = self.start(env=env, prefix=prefix)
        try:
            out, err = proc.communicate(timeout=240)
        except subprocess.TimeoutExpired:
            self.stop(proc, signal.SIGKILL)
            raise Failed("the app did not close itself within 240 s") from None
        fields = dict(re.findall(r"(\w+)=(\S+)", out))
        self.expect(proc.returncode == 0 and "node_started_s" in fields,
                    f"exit {proc.returncode}, stdout {out[-300:]!r}, stderr {err[-600:]!r}")
        self.expect(fields.get("torch_imported") == "False",
                    "torch was imported before the first window")
        return (f"window at {float(fields['first_window_s']):.2f} s (torch not imported), "
                f"node started at {float(fields['node_started_s']):.2f} s")

    def daemon(self) -> str:
        devnet = self.start("--json", "devnet", "--port", str(free_port()), "--accounts", "2")
        assert devnet.stdout is not None
        text, line = "", ""
        while line != "}\n":  # the JSON document ends with a "}" line at column 0
            line = devnet.stdout.readline()
            if not line:
                raise Failed(f"devnet exited {devnet.wait()}: {devnet.stderr.read()[-600:]}")  # type: ignore[union-attr]
            text += line
        info = json.loads(text)
        # the settings file, as the systemd unit / LaunchAgent / Run key start it: --daemon alone
        self.write_config({"chain": {"rpc_url": info["rpc_url"], "manifest": info["manifest"]},
                           "node": {"roles": ["validator", "keeper"]}})
        log = self.tmp / "daemon.log"  # a file, not a pipe: nobody drains the event log here
        with log.open("w", encoding="utf-8") as err:
            node = subprocess.Popen([str(self.exe), "--daemon"], stdout=subprocess.DEVNULL,
                                    stderr=err, text=True, env=self.env)
        self.procs.append(node)
        status: dict[str, object] = {}
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if node.poll() is not None:
                raise Failed(f"daemon exited {node.returncode}: {log.read_text()[-600:]}")
            res = self.run("--json", "status", timeout=60)
            if res.returncode == 0:
                status = json.loads(res.stdout)
                break
            time.sleep(1)
        self.expect(status.get("state") == "running", f"no status from the daemon: {status}")
        code = self.stop(node)
        self.expect(code == 0, f"daemon exit code {code} after SIGTERM, want 0")
        self.expect(self.stop(devnet) == 0, "devnet did not stop cleanly on SIGTERM")
        peer = str(status["peer_id"])[:12]
        return f"daemon ran on anvil (block {status['block']}, peer {peer}…), status, SIGTERM -> 0"

    def os_keyring(self) -> str:
        run_dir = self.tmp / "keyring-run"
        run_dir.mkdir(mode=0o700)
        conf = self.tmp / "bus.conf"
        conf.write_text(BUS_CONFIG.format(dir=self.tmp), encoding="utf-8")
        out = subprocess.run(["dbus-daemon", f"--config-file={conf}", "--fork",
                              "--print-address=1", "--print-pid=1"], capture_output=True,
                             text=True, check=True, timeout=10, env=self.env).stdout.split()
        self.forked.append(int(out[1]))
        env = dict(self.env, DBUS_SESSION_BUS_ADDRESS=out[0], XDG_RUNTIME_DIR=str(run_dir))
        keyring = subprocess.Popen(
            ["gnome-keyring-daemon", "--foreground", "--unlock", "--components=secrets",
             f"--control-directory={run_dir / 'keyring'}"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            env=env)
        self.procs.append(keyring)
        assert keyring.stdin is not None
        keyring.stdin.write("throwaway-unlock")
        keyring.stdin.close()
        time.sleep(1.0)
        env["MILON_HOME"] = str(self.tmp / "keyring-home")  # a second wallet, kept apart
        res = self.run("wallet", "create", "--secret-store", "os-keyring", "--password-file",
                       str(self.pw_file), "--scrypt-n", "16384", env=env)
        self.expect(res.returncode == 0 and "SecretService" in res.stdout,
                    f"exit {res.returncode}: {res.stdout[-300:]} {res.stderr[-500:]}")
        return next(line for line in res.stdout.splitlines() if "kept in" in line).strip()


BUS_CONFIG = """<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig><type>session</type><listen>unix:dir={dir}</listen>
<policy context="default"><allow send_destination="*" eavesdrop="true"/>
<allow eavesdrop="true"/><allow own="*"/></policy></busconfig>
"""


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def throwaway_dir() -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="milon-smoke-") as tmp:
        yield Path(tmp)


def default_anvil() -> Path | None:
    base = ROOT / "contracts" / "node_modules" / "@foundry-rs" / "anvil-linux-amd64"
    found = sorted(base.rglob("anvil")) if base.exists() else []
    return next((p for p in found if p.is_file() and os.access(p, os.X_OK)), None)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("exe", type=Path, help="the milon executable to test")
    p.add_argument("--anvil", type=Path, help="anvil binary for the daemon check "
                   "(default: contracts/node_modules; the check is skipped without one)")
    p.add_argument("--json-out", type=Path, help="write the results as JSON here")
    args = p.parse_args()
    exe = args.exe if args.exe.is_absolute() or "/" in str(args.exe) else shutil.which(args.exe)
    if exe is None or not Path(exe).is_file() or not os.access(exe, os.X_OK):
        print(f"smoke_test: {args.exe} is not an executable file", file=sys.stderr)
        return 3
    anvil = args.anvil or default_anvil()
    print(f"smoke-testing {exe} (expects milon {expected_version()})", flush=True)
    with throwaway_dir() as tmp:
        s = Smoke(Path(exe).absolute(), tmp, anvil)
        try:
            s.check("--version", s.version)
            s.check("hw", s.hw)
            s.check("bad input exit codes", s.bad_input)
            s.check("demo --rounds 2", s.demo)
            s.check("wallet create", s.make_wallet)
            s.check("window (offscreen)", s.gui)
            if shutil.which("xvfb-run"):
                s.check("window (Xvfb)", lambda: s.gui(("xvfb-run", "-a")))
            if anvil is not None and os.name == "posix":
                s.check("devnet + --daemon + status", s.daemon)
            else:
                print("SKIP  daemon check: needs POSIX signals and an anvil binary (--anvil)")
            if shutil.which("dbus-daemon") and shutil.which("gnome-keyring-daemon"):
                s.check("OS keyring from the bundle", s.os_keyring)
            else:
                print("SKIP  OS keyring check: dbus-daemon or gnome-keyring-daemon missing")
        finally:
            s.cleanup()
    failed = [r["check"] for r in s.results if not r["ok"]]
    if args.json_out:
        args.json_out.write_text(json.dumps({"exe": str(exe), "results": s.results}, indent=1))
    print(f"{len(s.results) - len(failed)}/{len(s.results)} checks passed"
          + (f"; failed: {', '.join(map(str, failed))}" if failed else ""))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
