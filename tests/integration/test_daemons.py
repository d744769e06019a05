"""A federation of separate daemon processes on anvil, talking libp2p on 127.0.0.1.

An owner daemon and five contributor daemons (one byzantine, sending
sign-flipped updates) run a median job to completion, each round judged by a
committee of three drawn from the contributors. One honest contributor is
killed with SIGKILL in the middle of a round and restarted from the same
folder: the job still completes, the byzantine one is slashed, the honest
ones are paid exactly once for what they trained (plus their share of the
validators' pool when seated), the daemons' logs carry the committee's events,
and `milon status` shows each daemon's peer ID and connections. Every process
started here is stopped by PID.
"""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from milon_app.chain.bindings import AssignmentState, JobStatus
from tests.helpers.daemon_fed import (
    ETHER,
    owner_endpoint,
    spawn_daemon,
    start_chain_federation,
    write_daemon_config,
)
from tests.procs import stop_process

N = 5
BYZANTINE = N - 1
VICTIM = 1  # honest contributor killed mid-round


def _stop(proc: subprocess.Popen) -> int | None:
    return stop_process(proc)


def _wait(what: str, predicate, timeout: float, procs: dict) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        for name, p in procs.items():
            if p.poll() is not None:
                raise AssertionError(f"daemon {name} exited with {p.returncode} while waiting {what}")
        time.sleep(0.5)
    raise AssertionError(f"timed out after {timeout}s waiting {what}")


def _logs(homes: list[Path]) -> str:
    out = []
    for h in homes:
        log = h / "daemon.log"
        if log.exists():
            out.append(f"--- {h.name}\n" + log.read_text(errors="replace")[-3000:])
    return "\n".join(out)


def _decision(home: Path, job_id: int, r: int) -> str | None:
    """The daemon's own decision on its assignment, from its state DB (WAL: readable live)."""
    db = home / "data" / "node.db"
    if not db.exists():
        return None
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=10)
    try:
        rows = con.execute("SELECT decision FROM assignments WHERE job_id=? AND round=?",
                           (job_id, r)).fetchall()
    except sqlite3.OperationalError:  # the daemon has not created its tables yet
        return None
    finally:
        con.close()
    return str(rows[0][0]) if rows else None


@pytest.mark.slow
def test_daemons_train_validate_pay_slash_and_survive_kill9(tmp_path):
    chain = start_chain_federation(tmp_path, "procs", N)
    anvil, client, suite, milon, manifest, fed = (
        chain.anvil, chain.client, chain.suite, chain.milon, chain.manifest, chain.fed
    )
    owner_acct, accts = chain.deployer, chain.members
    procs: dict[str, subprocess.Popen] = {}
    homes: list[Path] = []
    try:
        owner_home = tmp_path / "owner"
        listen, owner_addr = owner_endpoint(owner_acct)
        owner_toml = write_daemon_config(
            owner_home, owner_acct, anvil.url, manifest,
            f'roles = ["owner", "keeper"]\n\n[p2p]\nlisten = "{listen}"\n',
        )
        homes.append(owner_home)
        procs["owner"] = spawn_daemon(owner_home, owner_toml)
        tomls = {}
        for i, acct in enumerate(accts):
            home = tmp_path / f"node{i}"
            attack = 'attack = "signflip"\n' if i == BYZANTINE else ""
            tomls[i] = write_daemon_config(
                home, acct, anvil.url, manifest,
                f'partition = "{i}/{N}"\n{attack}\n[p2p]\nbootstrap = ["{owner_addr}"]\n\n'
                f'[[federations]]\nid = {fed}\nstake = "50"\ncapacity = {100 * (i + 1)}\n',
            )
            homes.append(home)
            procs[f"node{i}"] = spawn_daemon(home, tomls[i])
        _wait("for every contributor to join",
              lambda: len(milon.active_members(fed)) == N, 180, procs)

        res = subprocess.run(
            [sys.executable, "-m", "milon_app", "--home", str(owner_home), "--json", "job",
             "create", "--fed", str(fed), "--model", "digits-mlp", "--dataset", "digits",
             "--epochs", "30", "--epochs-per-round", "15", "--reward-per-epoch", "1",
             "--rule", "median", "--committee", "3", "--rpc", anvil.url, "--manifest",
             str(manifest), "--dev-account", "0"],
            capture_output=True, text=True, timeout=120,
        )
        assert res.returncode == 0, res.stderr
        job_id = milon.job_count()
        assert json.loads(res.stdout)["committee_size"] == 3

        victim = accts[VICTIM].address

        def victim_working() -> bool:
            r = milon.job(job_id).current_round
            if r == 0:
                return False
            state = milon.assignment(job_id, r, victim).state
            if state in (AssignmentState.ACCEPTED, AssignmentState.COMMITTED):
                return True
            # issue 18: a member that auto-accepts sends no `accept`; it trains at once and its
            # commit accepts, so it is still Assigned on chain while it works
            return state is AssignmentState.ASSIGNED and _decision(homes[1 + VICTIM], job_id, r) \
                == "accepted"

        _wait("for the victim to accept round 1", victim_working, 180, procs)
        procs[f"node{VICTIM}"].kill()  # SIGKILL: no cleanup at all
        procs[f"node{VICTIM}"].wait(timeout=30)
        procs[f"node{VICTIM}"] = spawn_daemon(homes[1 + VICTIM], tomls[VICTIM])

        _wait("for the job to complete",
              lambda: milon.job(job_id).status is JobStatus.COMPLETED, 420, procs)

        # status over the loopback channel: peer id and connections are visible
        st = subprocess.run(
            [sys.executable, "-m", "milon_app", "--json", "status", "--data-dir",
             str(homes[1] / "data")],
            capture_output=True, text=True, timeout=60,
        )
        assert st.returncode == 0, st.stderr
        status = json.loads(st.stdout)
        assert status["state"] == "running" and status["address"] == accts[0].address
        assert status["peer_id"].startswith("16Uiu2")
        want = "cuda:0" if torch.cuda.is_available() else "cpu"  # the default device is "auto"
        assert status["device"] == want
        assert len(status["peers"]) >= 1

        # money: the byzantine node is slashed; honest ones paid exactly once
        credited: dict[str, int] = {}
        for r in (1, 2):
            for a in accts:
                asg = milon.assignment(job_id, r, a.address)
                if asg.state is AssignmentState.REVEALED:
                    credited.setdefault(a.address, 0)
        from milon_app.chain.events import EventCursor

        events = EventCursor(client, suite.by_name(), suite.manifest.deployed_block).poll()
        paid = [(e.args["member"], e.args["round"]) for e in events if e.name == "RewardCredited"]
        assert len(paid) == len(set(paid)), "a member was credited twice for one round"
        for member, _ in paid:
            credited[member] = credited.get(member, 0) + 1
        bad = accts[BYZANTINE].address

        def total(name: str, who: str) -> int:
            key = "validator" if name == "ValidatorPaid" else "member"
            return sum(e.args["amount"] for e in events if e.name == name and e.args[key] == who)

        # the committee rejects the sign-flipped update where it measurably harms the model (the
        # first round at least): slashed for it and never paid for a round it was rejected in.
        # A late, small sign-flipped step may pass the verdict function; the contract then
        # pays it like any accepted update, and the claimable sum says exactly what was paid.
        # The draw is the chain's (it changes with every block hash): when it gave every seat
        # of round 1 to the byzantine node, nobody may judge its update there (an author's seat
        # never counts on its own update), so that round neither pays nor slashes it.
        drawn = [e for e in events if e.name == "CommitteeDrawn" and e.args["jobId"] == job_id]
        seated = {e.args["round"]: set(e.args["members"]) for e in drawn}
        judged_first = bool(seated[1] - {bad})
        slashed = {e.args["round"] for e in events
                   if e.name == "MemberSlashed" and e.args["member"] == bad}
        paid_rounds = {e.args["round"] for e in events
                       if e.name == "RewardCredited" and e.args["member"] == bad}
        assert (1 in slashed) == judged_first and not slashed & paid_rounds, (
            slashed, paid_rounds, seated)
        assert judged_first or 1 not in paid_rounds
        assert milon.claimable(bad) == total("RewardCredited", bad) + total("ValidatorPaid", bad)
        assert (milon.member(fed, bad).stake < 50 * ETHER) == bool(slashed)
        honest = [a.address for i, a in enumerate(accts) if i != BYZANTINE]
        for a in honest:
            assert milon.claimable(a) > 0, f"{a} was not paid\n{_logs(homes)}"
            assert milon.member(fed, a).stake == 50 * ETHER
        assert milon.claimable(victim) == total("RewardCredited", victim) + total(
            "ValidatorPaid", victim
        )
        # every round drew 3 seats (with replacement: a member may hold two); the seated
        # daemons logged their verdicts
        assert len(drawn) >= 2 and all(sum(e.args["weights"]) == 3 for e in drawn), drawn
        assert all(len(e.args["members"]) == len(e.args["weights"]) for e in drawn)
        lines = [json.loads(ln) for h in homes[1:] for ln in (h / "daemon.log").read_text(
            errors="replace").splitlines() if ln.startswith("{")]
        kinds = {ln["event"] for ln in lines}
        assert {"CommitteeDrawn", "VerdictSubmitted", "VerdictsTallied", "ModelConfirmed"} <= kinds
        assert not kinds & {"UpdatesValidated", "ProposalSubmitted"}
        votes = [ln for ln in lines if ln["event"] == "VerdictSubmitted"]
        rejected_bad = any(bad in [m for m, _why in v["rejected"]] for v in votes)
        assert rejected_bad or not judged_first, votes
        commits = [e for e in events if e.name == "UpdateCommitted" and e.args["member"] == victim]
        assert len({(e.args["jobId"], e.args["round"]) for e in commits}) == len(commits)
        milon.claim(accts[0])
        assert milon.claimable(accts[0].address) == 0
    except AssertionError:
        print(_logs(homes))
        raise
    finally:
        codes = {name: _stop(p) for name, p in procs.items()}
        anvil.stop()
    assert all(code == 0 for code in codes.values()), (codes, _logs(homes))
