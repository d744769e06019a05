"""A small federation of real daemon processes on anvil, for the fault tests.

One anvil on 127.0.0.1, one owner daemon and contributor daemons talking
libp2p on fixed loopback ports (so a restarted daemon keeps the address it
registered on chain). Each daemon can be killed with SIGKILL and restarted
from the same folder, or frozen with SIGSTOP and thawed with SIGCONT (a
machine that hangs); its JSON event log and its SQLite state can be read
while it runs. Every process is stopped by PID in :meth:`Federation.close`.

Protocol v2 (docs/protocol.md): a round needs two active members; with no
more than seven, every member sits on the committee with its stake as its
voting weight, and an update is judged by the members other than its
author. Members may join with different stakes (:class:`Member`), so a test
can seat a light committee member whose absence still leaves the others
above the participation and confirmation thresholds (two thirds). Anvil's
time is wall time; :meth:`Federation.skip_past` moves it forward to a
deadline (a dead committee member keeps the verdict window open until then).
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

from milon_app.chain.bindings import AssignmentState, JobStatus, Param
from milon_app.chain.devnet import free_port
from milon_app.chain.events import EventCursor
from tests.helpers.daemon_fed import (
    ETHER,
    ChainFederation,
    owner_endpoint,
    spawn_daemon,
    start_chain_federation,
    write_daemon_config,
)
from tests.procs import stop_process

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
    frozen: bool = False

    @property
    def data(self) -> Path:
        return self.home / "data"

    @property
    def log(self) -> Path:
        return self.home / "daemon.log"

    def start(self) -> None:
        self.proc = spawn_daemon(self.home, self.toml)
        self.starts += 1

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def kill9(self) -> None:
        """SIGKILL by PID: no cleanup, no flush, no goodbye."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=30)
        self.frozen = False

    def freeze(self) -> None:
        """SIGSTOP by PID: the process hangs where it is (sockets open, nothing answers)."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGSTOP)
        self.frozen = True

    def thaw(self) -> None:
        """SIGCONT by PID: the frozen process runs on from where it stopped."""
        if self.proc is not None and self.frozen and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGCONT)
        self.frozen = False

    def stop(self) -> int | None:
        proc = self.proc
        if proc is None:
            return None
        self.thaw()  # a stopped process cannot act on SIGTERM
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
    # the members' capacities are set by hand: no per-job benchmark overrides them
    compute = "max_threads = 1\njob_benchmark_s = 0\n"
    return write_daemon_config(home, acct, rpc, manifest, extra, compute=compute)


@dataclass
class Member:
    """A contributor daemon to start: its config beyond the defaults."""

    name: str
    capacity: int
    partition: str = ""
    node_extra: str = ""  # more [node] keys, e.g. 'accept_mode = "never"'
    stake: int = STAKE  # its stake, so also its committee weight (every member sits, <= 7)


@dataclass
class Federation(ChainFederation):
    owner: DaemonProc
    nodes: dict[str, DaemonProc]
    accounts: dict[str, Any] = field(default_factory=dict)

    # -- life -------------------------------------------------------------------------
    @classmethod
    def start(cls, tmp: Path, members: list[Member]) -> Federation:
        chain = start_chain_federation(tmp, "faults", len(members), spare=1)
        anvil, milon, manifest, fed = chain.anvil, chain.milon, chain.manifest, chain.fed
        owner_acct = chain.deployer
        fed_obj: Federation | None = None
        try:
            listen, owner_addr = owner_endpoint(owner_acct)
            owner_home = tmp / "owner"
            owner = DaemonProc("owner", owner_home, _write_toml(
                owner_home, owner_acct, anvil.url, manifest,
                f'roles = ["owner", "keeper"]\n\n[p2p]\nlisten = "{listen}"\n',
            ), owner_acct.address)
            fed_obj = cls(**vars(chain), owner=owner, nodes={})
            fed_obj.accounts["owner"] = owner_acct
            for m, acct in zip(members, chain.members, strict=True):
                home = tmp / m.name
                listen = f"/ip4/127.0.0.1/tcp/{free_port()}"
                part = f'partition = "{m.partition}"\n' if m.partition else ""
                toml = _write_toml(
                    home, acct, anvil.url, manifest,
                    f'{part}{m.node_extra}\n[p2p]\nlisten = "{listen}"\n'
                    f'bootstrap = ["{owner_addr}"]\n\n'
                    f'[[federations]]\nid = {fed}\nstake = "{m.stake // ETHER}"\n'
                    f"capacity = {m.capacity}\n",
                )
                fed_obj.nodes[m.name] = DaemonProc(m.name, home, toml, acct.address)
                fed_obj.accounts[m.name] = acct
            owner.start()
            for d in fed_obj.nodes.values():
                d.start()
            fed_obj.wait("every contributor to join",
                         lambda: len(milon.active_members(fed)) == len(members), 240)
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
            d.stop()  # thaws a frozen one first
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
        """Thaw any daemon an earlier (failed) test left frozen; restart any it left dead."""
        for d in self.daemons():
            d.thaw()
            if d.proc is not None and not d.alive():
                d.start()

    # -- jobs and rounds --------------------------------------------------------------
    def create_job(self, *, model: str = "digits-mlp", epochs: int = 9, per_round: int = 9,
                   committee: int = 0, rule: str = "fedavg") -> int:
        """`milon job create` as the owner; committee 0: the governed default (7), so every
        member of a federation this small sits."""
        res = subprocess.run(
            [sys.executable, "-m", "milon_app", "--home", str(self.owner.home), "--json", "job",
             "create", "--fed", str(self.fed), "--model", model, "--dataset", "digits",
             "--epochs", str(epochs), "--epochs-per-round", str(per_round),
             "--reward-per-epoch", "1", "--rule", rule, "--committee", str(committee),
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

    def chain_events(self, name: str | None = None) -> list[Any]:
        events = EventCursor(self.client, self.suite.by_name(),
                             self.suite.manifest.deployed_block).poll()
        return [e for e in events if name is None or e.name == name]

    def member_events(self, name: str, job_id: int, who: str, r: int | None = None) -> list[Any]:
        return [e for e in self.chain_events(name)
                if e.args.get("jobId") == job_id and e.args.get("member") == who
                and (r is None or e.args.get("round") == r)]

    def seated(self, job_id: int, name: str, r: int = 1) -> bool:
        return self.milon.seat(job_id, r, self.nodes[name].address).seated

    def voted(self, job_id: int, name: str, r: int = 1) -> bool:
        return self.milon.seat(job_id, r, self.nodes[name].address).voted

    def net_reward(self, epochs: int) -> int:
        """What a member is credited for ``epochs`` accepted epochs at this module's reward of
        1 MILON per epoch: the gross less the validators' share, which forms their pool."""
        gross = epochs * ETHER
        return gross - gross * self.milon.params()[Param.VALIDATOR_SHARE_BPS] // 10_000

    def validator_pay(self, job_id: int, who: str) -> dict[int, int]:
        """round -> what ``who`` was paid from the validators' pool of ``job_id``."""
        out: dict[int, int] = {}
        for e in self.chain_events("ValidatorPaid"):
            if e.args["jobId"] == job_id and e.args["validator"] == who:
                out[e.args["round"]] = out.get(e.args["round"], 0) + int(e.args["amount"])
        return out

    def skip_past(self, deadline: int) -> None:
        """Move anvil's clock just past ``deadline`` (a chain timestamp), if it is not yet."""
        ahead = deadline - self.client.now() + 1
        if ahead > 0:
            self.client.increase_time(ahead)

    def finish(self, job_id: int, timeout: float = 240, dead_ok: tuple[str, ...] = (),
               absent: tuple[str, ...] = ()) -> None:
        """Wait for the job to complete. ``absent``: committee members that will not vote
        (dead); once every other seated member has voted on a round's updates, the clock is
        moved past the verdict deadline so a keeper can tally without them (on a real chain
        the round would just wait out its verdict window)."""

        def done() -> bool:
            if self.completed(job_id):
                return True
            r = self.milon.job(job_id).current_round
            if not absent or r == 0:
                return False
            rnd = self.milon.round(job_id, r)
            if rnd.tallied or rnd.closed or rnd.revealed_count == 0:
                return False
            present = [n for n in self.nodes if n not in absent and self.seated(job_id, n, r)]
            if all(self.voted(job_id, n, r) for n in present):
                self.skip_past(rnd.verdict_deadline)
            return False

        self.wait(f"job {job_id} to complete", done, timeout, dead_ok=dead_ok)
