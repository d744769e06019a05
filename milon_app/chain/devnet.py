"""A local anvil devnet on loopback, started from the npm package's binary.

Anvil is started by its binary's path and stopped by that PID: killing an npx
or node wrapper can leave the real anvil running (see STACK.md).

Anvil writes the state of every older block to disk, by default under
``~/.foundry/anvil/tmp``, and leaves it there when stopped by a signal: a
1,000-member simulation left 13 GB, and a day of test runs filled the disk.
Each process here gets its own cache folder, removed when it stops, and keeps at
most ``history_states`` of those states, as a full node keeps only recent ones.
"""

from __future__ import annotations

import os
import platform
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

from milon_app.errors import ChainError, NotFoundError

_ARCH = {"x86_64": "amd64", "amd64": "amd64", "aarch64": "arm64", "arm64": "arm64"}
_OS = {"Linux": "linux", "Darwin": "darwin", "Windows": "win32"}

# The older blocks whose state anvil keeps on disk (``--max-persisted-states``): calls and
# balances at a block further back answer "block out of range". About an hour at the
# devnet's default one-second blocks; a simulation, whose blocks hold thousands of
# members' state, keeps fewer (milon_app/sim/run.py).
HISTORY_STATES = 4096


def find_anvil() -> Path:
    """$MILON_ANVIL, else contracts/node_modules of a source checkout, else ``anvil`` on PATH."""
    env = os.environ.get("MILON_ANVIL")
    if env:
        if not Path(env).is_file():
            raise NotFoundError(f"MILON_ANVIL points at {env}, which is not a file")
        return Path(env)
    system = _OS.get(platform.system(), platform.system().lower())
    arch = _ARCH.get(platform.machine().lower(), platform.machine().lower())
    exe = "anvil.exe" if system == "win32" else "anvil"
    repo = Path(__file__).resolve().parents[2]
    candidate = repo / "contracts" / "node_modules" / "@foundry-rs" / f"anvil-{system}-{arch}"
    if (candidate / "bin" / exe).is_file():
        return candidate / "bin" / exe
    found = shutil.which("anvil")
    if found:
        return Path(found)
    raise NotFoundError(
        "anvil not found: run `npm ci` in contracts/ (it ships in @foundry-rs/anvil), "
        "or set MILON_ANVIL to the binary"
    )


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Anvil:
    """One anvil process on ``host`` (127.0.0.1 unless a test network needs another address);
    use as a context manager or call stop()."""

    def __init__(
        self,
        port: int | None = None,
        *,
        accounts: int = 10,
        chain_id: int = 31337,
        state_file: Path | None = None,
        block_time_s: float | None = None,
        mixed_mining: bool = True,
        history_states: int = HISTORY_STATES,
        host: str = "127.0.0.1",
    ) -> None:
        """``block_time_s``: an empty block that often even when idle (chain time moves on);
        with ``mixed_mining`` transactions are still mined at once, not at the next tick.
        ``history_states``: how many older blocks' state stay queryable (see the module)."""
        self.port = port or free_port()
        self.host = host
        self.accounts = accounts
        self.chain_id = chain_id
        self.state_file = state_file
        self.block_time_s = block_time_s
        self.mixed_mining = mixed_mining
        self.history_states = history_states
        self.proc: subprocess.Popen[bytes] | None = None
        self.cache_dir: Path | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self, timeout_s: float = 15.0) -> Anvil:
        self.cache_dir = Path(tempfile.mkdtemp(prefix="milon-anvil-"))
        cmd = [
            str(find_anvil()),
            "--host",
            self.host,
            "--port",
            str(self.port),
            "--accounts",
            str(self.accounts),
            "--chain-id",
            str(self.chain_id),
            "--silent",
            "--cache-path",
            str(self.cache_dir),
            "--max-persisted-states",
            str(self.history_states),
        ]
        if self.state_file is not None:
            cmd += ["--state", str(self.state_file)]
        if self.block_time_s:
            cmd += ["--block-time", str(self.block_time_s)]
            if self.mixed_mining:
                cmd.append("--mixed-mining")
        self.proc = subprocess.Popen(
            cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
        )
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                err = self.proc.stderr.read().decode(errors="replace") if self.proc.stderr else ""
                code = self.proc.returncode
                self.stop()
                raise ChainError(f"anvil exited with code {code}: {err.strip()}")
            try:
                with socket.create_connection((self.host, self.port), timeout=0.2):
                    return self
            except OSError:
                time.sleep(0.05)
        self.stop()
        raise ChainError(f"anvil did not open {self.host}:{self.port} within {timeout_s}s")

    def stop(self) -> None:
        proc, self.proc = self.proc, None
        if proc is not None and proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)
        if proc is not None and proc.stderr:
            proc.stderr.close()
        cache, self.cache_dir = self.cache_dir, None
        if cache is not None:
            shutil.rmtree(cache, ignore_errors=True)

    def __enter__(self) -> Anvil:
        return self.start() if self.proc is None else self

    def __exit__(self, *exc: object) -> None:
        self.stop()
