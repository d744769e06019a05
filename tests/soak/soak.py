"""Soak run: many rounds of a digits job on anvil with separate `milon --daemon` processes and churn.

    python -m tests.soak.soak [--rounds 50] [--churn-every 5] [--nodes 3] [--json OUT]

An owner daemon (owner + keeper roles) and ``--nodes`` contributor daemons run
one FedAvg job of ``rounds`` rounds (one epoch per contributor per round; the
default committee: with no more than seven members every one sits, and
judges every update but its own). Every ``--churn-every`` rounds one
contributor leaves the federation (it finishes the round it is in, its
committee duty included, then its daemon is stopped) and a new contributor
joins, or one that left earlier withdraws its stake and comes back from its
old data folder. After every round the RSS of each daemon
process (and its children) is sampled with psutil. It prints a table of
memory per daemon life (first, last, MB per round over the whole life and
over its second half), the rounds that failed (timed out) or stalled, and the
wall time; it asserts nothing (tests/integration/test_soak.py does).
Every process it starts is stopped by its PID, also on failure.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any

from milon_app.chain.bindings import AssignmentState, JobStatus
from tests.helpers.daemon_fed import (
    ChainFederation,
    owner_endpoint,
    spawn_daemon,
    start_chain_federation,
    write_daemon_config,
)
from tests.procs import stop_process

from .results import Life, RoundRecord, SoakResult, rss_mb

STAKE = "50"
COOLDOWN_S = 65  # the dev deployment's 60 s leave cooldown, plus a margin (anvil time is wall time)


class Node:
    """One daemon's folder, config and (when running) process."""

    def __init__(self, name: str, home: Path, acct: Any, toml_extra: str, cfg: dict[str, str]):
        self.name, self.home, self.acct = name, home, acct
        self.toml = write_daemon_config(home, acct, cfg["rpc"], Path(cfg["manifest"]), toml_extra)
        self.proc: subprocess.Popen[bytes] | None = None
        self.life: Life | None = None
        self.lives = 0
        self.left_at = 0.0

    def start(self, round_no: int) -> Life:
        self.proc = spawn_daemon(self.home, self.toml)
        self.lives += 1
        self.life = Life(f"{self.name}#{self.lives}", self.proc.pid, round_no)
        return self.life

    def stop(self) -> int | None:
        """SIGTERM by PID, SIGKILL after 60 s; the exit code (None if it had to be killed)."""
        proc, self.proc = self.proc, None
        if proc is None:
            return 0
        return stop_process(proc)

    def tail(self, n: int = 2000) -> str:
        log = self.home / "daemon.log"
        return log.read_text(errors="replace")[-n:] if log.exists() else ""


class Soak:
    def __init__(self, work: Path, rounds: int, churn_every: int, nodes: int, stall_s: float,
                 say: Callable[[str], None] = print) -> None:  # fmt: skip
        self.work, self.rounds, self.churn_every, self.n = work, rounds, churn_every, nodes
        self.stall_s, self.say = stall_s, say
        events = (rounds - 1) // churn_every if churn_every else 0
        self.pool_size = nodes + min(events, nodes)  # new joiners first, then comebacks
        self.nodes: list[Node] = []
        self.lives: list[Life] = []
        self.churn: list[str] = []
        self.exits: dict[str, int | None] = {}
        self.revealed: dict[str, int] = {}
        self.members_at_end: list[str] = []

    # -- set-up --------------------------------------------------------------------------------
    def _setup(self, chain: ChainFederation) -> None:
        self.owner_acct, accts = chain.deployer, chain.members
        self.manifest, self.milon, self.fed = chain.manifest, chain.milon, chain.fed
        self.cfg = {"rpc": chain.rpc, "manifest": str(self.manifest)}
        listen, self.owner_addr = owner_endpoint(self.owner_acct)
        extra = f'roles = ["owner", "keeper"]\n\n[p2p]\nlisten = "{listen}"\n'
        self.owner = Node("owner", self.work / "owner", self.owner_acct, extra, self.cfg)
        for i, a in enumerate(accts):
            extra = (f'partition = "{i}/{self.pool_size}"\n\n[p2p]\nbootstrap = '
                     f'["{self.owner_addr}"]\n\n[[federations]]\nid = {self.fed}\n'
                     f'stake = "{STAKE}"\ncapacity = 100\n')  # fmt: skip
            self.nodes.append(Node(f"node{i}", self.work / f"node{i}", a, extra, self.cfg))

    def _start(self, node: Node, round_no: int) -> None:
        self.lives.append(node.start(round_no))

    def _running(self) -> list[Node]:
        return [n for n in [self.owner, *self.nodes] if n.proc is not None]

    def _check_alive(self) -> None:
        for n in self._running():
            assert n.proc is not None
            if n.proc.poll() is not None:
                raise RuntimeError(f"daemon {n.name} exited with {n.proc.returncode}:\n{n.tail()}")

    def _wait(self, what: str, predicate: Callable[[], bool], timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if predicate():
                return
            self._check_alive()
            time.sleep(0.3)
        raise RuntimeError(f"timed out after {timeout:.0f} s waiting {what}")

    def _create_job(self) -> int:
        per_round = self.n  # one epoch per contributor
        res = subprocess.run(
            [sys.executable, "-m", "milon_app", "--home", str(self.owner.home), "--json", "job",
             "create", "--fed", str(self.fed), "--model", "digits-mlp", "--dataset", "digits",
             "--epochs", str(self.rounds * per_round), "--epochs-per-round", str(per_round),
             "--reward-per-epoch", "1", "--rule", "fedavg", "--committee", "0",
             "--rpc", self.cfg["rpc"], "--manifest", str(self.manifest), "--dev-account", "0"],
            capture_output=True, text=True, timeout=180, check=False,
        )  # fmt: skip
        if res.returncode != 0:
            raise RuntimeError(f"milon job create failed ({res.returncode}): {res.stderr}")
        return self.milon.job_count()

    # -- churn ---------------------------------------------------------------------------------
    def _leave(self, node: Node, after: int) -> None:
        """In the round after ``after``: leave once the node has no unfinished work in it,
        then stop it when that round is over (its update must stay fetchable until then).

        Leaving mid-round, not at a round boundary, keeps the leave from racing the owner's
        next startRound."""
        job = self.job_id

        def next_started() -> bool:
            j = self.milon.job(job)
            return j.current_round > after or j.status is not JobStatus.OPEN

        self._wait(f"round {after + 1} to start", next_started, self.stall_s)
        r = self.milon.job(job).current_round
        busy = (AssignmentState.ASSIGNED, AssignmentState.ACCEPTED, AssignmentState.COMMITTED)

        def idle() -> bool:
            return self.milon.assignment(job, r, node.acct.address).state not in busy

        self._wait(f"{node.name} to finish round {r}", idle, 300)
        for attempt in range(3):  # the daemon may send from the same account at that moment
            try:
                self.milon.request_leave(node.acct, self.fed)
                break
            except Exception:
                self.milon.client.forget_nonces()
                if attempt == 2:
                    raise
                time.sleep(1)
        self._wait(f"round {r} to close", lambda: self._closed(r), self.stall_s * 3)
        self._decline_late_assignment(node, r)
        code = node.stop()
        self.exits[node.life.node if node.life else node.name] = code
        node.left_at = time.monotonic()

    def _decline_late_assignment(self, node: Node, r: int) -> None:
        """If the next round started before the leave landed, give its epochs back.

        A node that is no longer active does no work for the job (NodeCore skips it), so
        epochs assigned to it would otherwise wait for the accept deadline."""
        job = self.milon.job(self.job_id)
        deadline = time.monotonic() + 30
        while job.current_round <= r and job.status is JobStatus.OPEN:
            if time.monotonic() > deadline:
                return
            time.sleep(0.3)
            job = self.milon.job(self.job_id)
        nxt = job.current_round
        if nxt > r and self.milon.assignment(self.job_id, nxt, node.acct.address).state is (
            AssignmentState.ASSIGNED
        ):
            self.milon.client.forget_nonces()
            self.milon.decline(node.acct, self.job_id, nxt)
            self.say(f"  {node.name} was assigned round {nxt} before its leave landed: declined")

    def _closed(self, r: int) -> bool:
        rnd = self.milon.round(self.job_id, r)
        return rnd.finalized or rnd.timed_out

    def _joiner(self, k: int) -> tuple[Node, str] | None:
        """Alternate a fresh account and a comeback. A comeback must wait out the 60 s leave
        cooldown; if nobody else can join, the driver waits for the earliest leaver's."""
        fresh = [n for n in self.nodes if n.lives == 0]
        gone = sorted(
            (n for n in self.nodes if n.lives and n.proc is None), key=lambda n: n.left_at
        )
        back = [n for n in gone if time.monotonic() - n.left_at > COOLDOWN_S]
        order = [(fresh, "joins"), (back, "comes back")]
        for group, verb in order if k % 2 == 0 else order[::-1]:
            if group:
                return group[0], verb
        if gone:
            time.sleep(max(0.0, gone[0].left_at + COOLDOWN_S - time.monotonic()))
            return gone[0], "comes back"
        return None

    def _churn(self, round_no: int, k: int) -> str:
        """The joiner starts first (a daemon takes a while to boot), then the oldest leaves."""
        running = [n for n in self.nodes if n.proc is not None]
        leaver = min(running, key=lambda n: n.life.started_round if n.life else 0)
        pick = self._joiner(k)
        joined = ""
        if pick is not None:
            node, verb = pick
            if verb == "comes back":
                self.milon.client.forget_nonces()
                self.milon.withdraw_stake(node.acct, self.fed)
            self._start(node, round_no)
            joined = f", {node.name} {verb}"
        self._leave(leaver, round_no)
        note = f"after round {round_no}: {leaver.name} left{joined}"
        self.say(note)
        return note

    # -- the run -------------------------------------------------------------------------------
    def run(self) -> SoakResult:
        t0 = time.monotonic()
        chain = start_chain_federation(self.work, "soak", self.pool_size)
        records: list[RoundRecord] = []
        completed = False
        try:
            self._setup(chain)
            self._start(self.owner, 0)
            for node in self.nodes[: self.n]:
                self._start(node, 0)
            active = lambda: len(self.milon.active_members(self.fed)) == self.n  # noqa: E731
            self._wait("every contributor to join", active, 240)
            self.job_id = self._create_job()
            records, completed = self._rounds()
        finally:
            for n in [*self.nodes, self.owner]:
                if n.proc is not None:
                    life = n.life.node if n.life else n.name
                    self.exits[life] = n.stop()
            chain.anvil.stop()
        return SoakResult(records, self.lives, self.churn, time.monotonic() - t0, self.stall_s,
                          completed, self.exits, self.revealed, self.members_at_end)  # fmt: skip

    def _rounds(self) -> tuple[list[RoundRecord], bool]:
        records: list[RoundRecord] = []
        seen, started = 0, time.monotonic()
        k = 0
        while seen < self.rounds or (seen < self.rounds + 10 and self._job_open()):
            self._wait(f"round {seen + 1} to close", lambda: self._done_through() > seen,
                       self.stall_s * 4)  # fmt: skip
            r = seen + 1
            rnd = self.milon.round(self.job_id, r)
            members = self.milon.round_members(self.job_id, r)
            now = time.monotonic()
            states = [self.milon.assignment(self.job_id, r, m).state for m in members]
            seats = [self.milon.seat(self.job_id, r, m)
                     for m in self.milon.committee(self.job_id, r)]  # fmt: skip
            rec = RoundRecord(r, now - started, len(members),
                              states.count(AssignmentState.REVEALED), rnd.finalized,
                              rnd.timed_out, states.count(AssignmentState.DECLINED),
                              rnd.epochs, rnd.epochs_trained, seated=len(seats),
                              voted=sum(s.voted for s in seats))  # fmt: skip
            self._sample(r)
            if self.churn_every and r % self.churn_every == 0 and r < self.rounds:  # planned
                rec.churn = self._churn(r, k)
                self.churn.append(rec.churn)
                k += 1
            self.say(f"round {r:>3}: {rec.seconds:5.1f} s, {rec.accepted}/{rec.members} revealed"
                     f"{f' ({rec.declined} declined)' if rec.declined else ''}, "
                     f"{rec.trained}/{rec.epochs} epochs accepted, "
                     f"{rec.voted}/{rec.seated} of the committee voted, "
                     f"{'finalized' if rec.finalized else 'TIMED OUT'}")  # fmt: skip
            records.append(rec)
            seen, started = r, now
        # A joiner that is still booting is let in before everything stops, so it is never
        # killed half-way through its join (and the run says who was a member at the end).
        booting = [n for n in self.nodes if n.proc is not None]
        self._wait("every running contributor to be a member",
                   lambda: all(self.milon.member(self.fed, n.acct.address).active
                               for n in booting), self.stall_s)  # fmt: skip
        self.members_at_end = sorted(n.name for n in booting)
        names = {n.acct.address: n.name for n in self.nodes}
        self.revealed = {n.name: 0 for n in self.nodes if n.lives}
        for r in range(1, len(records) + 1):
            for m in self.milon.round_members(self.job_id, r):
                if self.milon.assignment(self.job_id, r, m).state is AssignmentState.REVEALED:
                    self.revealed[names[m]] += 1
        job = self.milon.job(self.job_id)
        return records, job.status is JobStatus.COMPLETED

    def _job_open(self) -> bool:
        return self.milon.job(self.job_id).status is JobStatus.OPEN

    def _sample(self, r: int) -> None:
        """RSS of every running daemon; a joiner counts from the first round it is a member."""
        for n in self._running():
            assert n.life is not None and n.proc is not None
            joining = n is not self.owner and not n.life.samples
            if joining and not self.milon.member(self.fed, n.acct.address).active:
                continue
            n.life.samples.append((r, rss_mb(n.proc.pid)))

    def _done_through(self) -> int:
        """The highest round number that is closed."""
        cur = self.milon.job(self.job_id).current_round
        return cur if cur and self._closed(cur) else cur - 1


def run_soak(rounds: int = 50, churn_every: int = 5, nodes: int = 3, stall_s: float = 120.0,
             work: Path | None = None, say: Callable[[str], None] = print) -> SoakResult:  # fmt: skip
    """Run the soak in ``work`` (kept, with every daemon's log) or in a temporary folder."""
    if work is not None:
        work.mkdir(parents=True, exist_ok=True)
        return Soak(work, rounds, churn_every, nodes, stall_s, say).run()
    with tempfile.TemporaryDirectory(prefix="milon-soak-") as tmp:
        return Soak(Path(tmp), rounds, churn_every, nodes, stall_s, say).run()


def _say(message: str) -> None:
    print(message, flush=True)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--rounds", type=int, default=50)
    p.add_argument("--churn-every", type=int, default=5)
    p.add_argument("--nodes", type=int, default=3)
    p.add_argument("--stall-s", type=float, default=120.0, help="a slower round counts as stalled")
    p.add_argument("--json", type=Path, help="also write the figures as JSON here")
    p.add_argument("--work", type=Path, help="keep the daemons' folders and logs here")
    a = p.parse_args(argv)
    res = run_soak(a.rounds, a.churn_every, a.nodes, a.stall_s, a.work, _say)
    print(res.table())
    if a.json:
        data = {"rounds": [asdict(r) for r in res.rounds], "lives": [asdict(x) for x in res.lives],
                "churn": res.churn, "wall_s": res.wall_s, "failed": res.failed,
                "stalled": res.stalled, "lost": res.lost, "absent": res.absent,
                "job_completed": res.job_completed,
                "exits": res.exits, "revealed": res.revealed,
                "members_at_end": res.members_at_end}  # fmt: skip
        a.json.write_text(json.dumps(data, indent=2))
    return 0 if not res.failed and not res.lost and not res.absent and res.job_completed else 1


if __name__ == "__main__":
    sys.exit(main())
