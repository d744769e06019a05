"""A small federation of real daemon processes on anvil, for the fault tests.

One anvil on 127.0.0.1, one owner daemon and contributor daemons talking
libp2p on fixed loopback ports (so a restarted daemon keeps the address it
registered on chain). Each daemon can be killed with SIGKILL and restarted
from the same folder; its JSON event log and its SQLite state can be read
while it runs. Every process is stopped by PID in :meth:`Federation.close`.

A "holder" member is a funded account that joins the federation and then
never answers its assignments, like a member whose machine is off. While it
holds an assignment, the contract keeps a round's commit phase open until the
accept deadline, so a test can act between a contributor's commit and its
reveal without racing it; :meth:`Federation.release` then has it decline
(its epochs are re-split over the others, as the contract does for any
decline), and the round goes on.
"""

from __future__ import annotations

import json
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from milon_app.chain.bindings import AssignmentState, JobStatus, Milon
from milon_app.chain.client import ChainClient
from milon_app.chain.deploy import Suite, deploy_suite
from milon_app.chain.devnet import Anvil, free_port
from milon_app.chain.events import EventCursor
from milon_app.p2p.identity import peer_id_of_key
from milon_app.wallet.keystore import Wallet
from tests.procs import stop_process

ETHER = 10**18
PASSWORD = "throwaway-test-password"  # a THROWAWAY test keystore password
STAKE = 50 * ETHER


@dataclass
class DaemonProc:
    """One `milon --daemon` process and its folder; restartable after a kill."""

    name: str
    home: Path
    toml: Path
    address: str
    proc: subprocess.Popen | None = None
    starts: int = 0

    @property
    def data(self) -> Path:
        return self.home / "data"

    @property
    def log(self) -> Path:
        return self.home / "daemon.log"

    def start(self) -> None:
        log = open(self.log, "ab")  # noqa: SIM115 - the child owns it; closed on our side below
        try:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "milon_app", "--home", str(self.home), "--daemon",
                 "--config", str(self.toml)],
                stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            )
        finally:
            log.close()
        self.starts += 1

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def kill9(self) -> None:
        """SIGKILL by PID: no cleanup, no flush, no goodbye."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=30)

    def stop(self) -> int | None:
        proc = self.proc
        if proc is None:
            return None
        return stop_process(proc)

    def events(self, kind: str | None = None, since_start: int = 1) -> list[dict[str, Any]]:
        """The JSON event lines of this daemon's log, from its ``since_start``-th start on."""
        out: list[dict[str, Any]] = []
        starts = 0
        if not self.log.exists():
            return out
        for line in self.log.read_text(errors="replace").splitlines():
            if not line.startswith("{"):
                continue
            try:
                e = json.loads(line)
            except json.JSONDecodeError:
                continue  # a line cut short by SIGKILL
            if e.get("event") == "NodeStarted":
                starts += 1
            if starts >= since_start and (kind is None or e.get("event") == kind):
                out.append(e)
        return out

    def query(self, sql: str, args: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        """Read the daemon's state DB (WAL: readable while it writes)."""
        con = sqlite3.connect(f"file:{self.data / 'node.db'}?mode=ro", uri=True, timeout=10)
        try:
            return con.execute(sql, args).fetchall()
        finally:
            con.close()

    def status(self, timeout: float = 30) -> tuple[int, dict[str, Any] | str, float]:
        """`milon --json status` against this daemon: (exit code, reply, seconds taken)."""
        t0 = time.monotonic()
        res = subprocess.run(
            [sys.executable, "-m", "milon_app", "--json", "status", "--data-dir", str(self.data)],
            capture_output=True, text=True, timeout=timeout,
        )
        took = time.monotonic() - t0
        if res.returncode != 0:
            return res.returncode, res.stderr, took
        return 0, json.loads(res.stdout), took

    def tail(self, chars: int = 4000) -> str:
        text = self.log.read_text(errors="replace") if self.log.exists() else ""
        return f"--- {self.name} (pid {self.proc.pid if self.proc else '-'})\n{text[-chars:]}"


def _write_toml(home: Path, acct: Any, rpc: str, manifest: Path, extra: str) -> Path:
    data = home / "data"
    (data / "wallet").mkdir(parents=True, exist_ok=True)
    Wallet.import_key(data / "wallet" / "keystore.json", bytes(acct.key), PASSWORD, kdf_n=2**14)
    pw = home / "password"
    pw.write_text(PASSWORD)
    pw.chmod(0o600)
    toml = home / "node.toml"
    toml.write_text(
        f'[chain]\nrpc_url = "{rpc}"\nmanifest = "{manifest}"\n\n'
        f'[wallet]\nsecret_store = "password-file"\npassword_file = "{pw}"\n\n'
        f'[compute]\nmax_threads = 1\n\n'
        f'[node]\ndata_dir = "{data}"\npoll_interval_s = 0.3\n{extra}'
    )
    return toml


@dataclass
class Member:
    """A contributor daemon to start: its config beyond the defaults."""

    name: str
    capacity: int
    partition: str = ""
    node_extra: str = ""  # more [node] keys, e.g. 'accept_mode = "never"'


@dataclass
class Federation:
    anvil: Anvil
    client: ChainClient
    suite: Suite
    milon: Milon
    manifest: Path
    fed: int
    owner: DaemonProc
    nodes: dict[str, DaemonProc]
    holder: Any = None
    accounts: dict[str, Any] = field(default_factory=dict)

    # -- life -------------------------------------------------------------------------
    @classmethod
    def start(cls, tmp: Path, members: list[Member], *, holder_capacity: int = 0) -> Federation:
        anvil = Anvil(accounts=len(members) + 3).start()
        fed_obj: Federation | None = None
        try:
            client = ChainClient.connect(anvil.url, dev_accounts=len(members) + 2)
            owner_acct = client.dev_accounts[0]
            suite = deploy_suite(client, owner_acct, dev=True)
            manifest = tmp / "manifest.json"
            suite.manifest.save(manifest)
            milon = Milon(suite)
            fed = milon.create_federation(owner_acct, "faults", b"\0" * 32, 10 * ETHER)
            port = free_port()
            owner_addr = f"/ip4/127.0.0.1/tcp/{port}/p2p/{peer_id_of_key(bytes(owner_acct.key))}"
            owner_home = tmp / "owner"
            owner = DaemonProc("owner", owner_home, _write_toml(
                owner_home, owner_acct, anvil.url, manifest,
                f'roles = ["owner", "keeper"]\n\n[p2p]\nlisten = "/ip4/127.0.0.1/tcp/{port}"\n',
            ), owner_acct.address)
            fed_obj = cls(anvil, client, suite, milon, manifest, fed, owner, {})
            fed_obj.accounts["owner"] = owner_acct
            for i, m in enumerate(members):
                acct = client.dev_accounts[1 + i]
                milon.transfer(owner_acct, acct.address, 1_000 * ETHER)
                home = tmp / m.name
                listen = f"/ip4/127.0.0.1/tcp/{free_port()}"
                part = f'partition = "{m.partition}"\n' if m.partition else ""
                toml = _write_toml(
                    home, acct, anvil.url, manifest,
                    f'{part}{m.node_extra}\n[p2p]\nlisten = "{listen}"\n'
                    f'bootstrap = ["{owner_addr}"]\n\n'
                    f'[[federations]]\nid = {fed}\nstake = "{STAKE // ETHER}"\n'
                    f"capacity = {m.capacity}\n",
                )
                fed_obj.nodes[m.name] = DaemonProc(m.name, home, toml, acct.address)
                fed_obj.accounts[m.name] = acct
            if holder_capacity:
                holder = client.dev_accounts[1 + len(members)]
                milon.transfer(owner_acct, holder.address, 1_000 * ETHER)
                milon.join(holder, fed, 100 * ETHER, holder_capacity, "offline")
                fed_obj.holder = holder
            owner.start()
            for d in fed_obj.nodes.values():
                d.start()
            fed_obj.wait("every contributor to join",
                         lambda: len(milon.active_members(fed)) == len(members) + bool(holder_capacity),
                         240)
            return fed_obj
        except BaseException:
            if fed_obj is not None:
                fed_obj.close()
            else:
                anvil.stop()
            raise

    def close(self) -> dict[str, int | None]:
        """Stop every daemon by PID, then anvil; returns the exit codes of the daemons that
        were still running (SIGTERM must end each cleanly, with 0)."""
        running = [d for d in self.daemons() if d.alive()]
        for d in self.daemons():
            d.stop()
        self.anvil.stop()
        return {d.name: d.proc.returncode if d.proc else None for d in running}

    def daemons(self) -> list[DaemonProc]:
        return [self.owner, *self.nodes.values()]

    def logs(self) -> str:
        return "\n".join(d.tail() for d in self.daemons())

    def wait(self, what: str, predicate: Callable[[], bool], timeout: float,
             poll_s: float = 0.25, dead_ok: tuple[str, ...] = ()) -> float:
        """Wait until ``predicate()``; fails early if a daemon not in ``dead_ok`` died.
        Returns the seconds waited."""
        t0 = time.monotonic()
        while time.monotonic() - t0 < timeout:
            if predicate():
                return time.monotonic() - t0
            for d in self.daemons():
                if d.proc is not None and d.name not in dead_ok and not d.alive():
                    raise AssertionError(
                        f"daemon {d.name} exited with {d.proc.returncode} while waiting for "
                        f"{what}\n{self.logs()}"
                    )
            time.sleep(poll_s)
        raise AssertionError(f"timed out after {timeout}s waiting for {what}\n{self.logs()}")

    def ensure_running(self) -> None:
        """Restart any daemon an earlier (failed) test left dead."""
        for d in self.daemons():
            if d.proc is not None and not d.alive():
                d.start()

    # -- jobs and rounds --------------------------------------------------------------
    def create_job(self, *, model: str = "digits-mlp", epochs: int = 9, per_round: int = 9,
                   quorum: int = 2, rule: str = "fedavg") -> int:
        res = subprocess.run(
            [sys.executable, "-m", "milon_app", "--home", str(self.owner.home), "--json", "job",
             "create", "--fed", str(self.fed), "--model", model, "--dataset", "digits",
             "--epochs", str(epochs), "--epochs-per-round", str(per_round),
             "--reward-per-epoch", "1", "--rule", rule, "--quorum", str(quorum),
             "--rpc", self.anvil.url, "--manifest", str(self.manifest), "--dev-account", "0"],
            capture_output=True, text=True, timeout=180,
        )
        assert res.returncode == 0, res.stderr
        return int(json.loads(res.stdout)["id"])

    def state(self, job_id: int, name: str, r: int = 1) -> AssignmentState:
        return self.milon.assignment(job_id, r, self.nodes[name].address).state

    def round_started(self, job_id: int, r: int = 1) -> bool:
        return self.milon.job(job_id).current_round >= r

    def completed(self, job_id: int) -> bool:
        return self.milon.job(job_id).status is JobStatus.COMPLETED

    def release(self, job_id: int, r: int = 1) -> None:
        """The silent holder finally answers round ``r``: it declines, so its epochs are
        re-split over the members still in the round and the commit phase can close."""
        if self.milon.assignment(job_id, r, self.holder.address).state is AssignmentState.ASSIGNED:
            self.milon.decline(self.holder, job_id, r)

    def chain_events(self, name: str | None = None) -> list[Any]:
        events = EventCursor(self.client, self.suite.by_name(),
                             self.suite.manifest.deployed_block).poll()
        return [e for e in events if name is None or e.name == name]

    def member_events(self, name: str, job_id: int, who: str, r: int | None = None) -> list[Any]:
        return [e for e in self.chain_events(name)
                if e.args.get("jobId") == job_id and e.args.get("member") == who
                and (r is None or e.args.get("round") == r)]

    def finish(self, job_id: int, timeout: float = 240, dead_ok: tuple[str, ...] = ()) -> None:
        """Wait for the job to complete. Epochs the holder gave back after the others had
        committed are trained in a later round; there the holder is released as soon as
        every running member in the round has committed."""

        def done() -> bool:
            if self.completed(job_id):
                return True
            r = self.milon.job(job_id).current_round
            if r > 1 and self.holder is not None:
                members = [d for n, d in self.nodes.items() if n not in dead_ok]
                states = [self.milon.assignment(job_id, r, d.address).state for d in members]
                if AssignmentState.ACCEPTED not in states and AssignmentState.ASSIGNED not in states:
                    self.release(job_id, r)
            return False

        self.wait(f"job {job_id} to complete", done, timeout, dead_ok=dead_ok)
