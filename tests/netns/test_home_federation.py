"""The home-router scenario end to end: two contributors, each behind its own NAT router, join a
federation from an invite and train jobs whose committee is the two of them, so every update
crosses both NATs: the first job's through the relay; then DCUtR punches a hole and the second
job's come over the direct connection. Both contributors are paid for both jobs, on chain.

Topology and NAT behaviour: :mod:`tests.netns.nat_topology` (MASQUERADE, port-preserving, so in
effect endpoint-independent mapping; conntrack filtering that DROPs unsolicited packets). The
public namespace holds anvil, the deployed suite and the job owner's daemon, which is also the
relay (``p2p.reachability = "public"``, ``p2p.relay = "on"``); ``milon fed invite`` prints the
owner's addresses as the invite's bootstrap list. In each home a contributor with its own home
folder runs the real ``milon join INVITE`` and ``milon --daemon`` (auto reachability: private,
its only listen address being its LAN one). The test's own thread enters the public namespace
(:func:`~tests.netns.nat_topology.entered`) to deploy and to read the chain, as the owner's
machine would. Needs root, ``ip`` and ``iptables``; skipped with the reason otherwise. About
60-100 s on 2 cores: marked ``long`` (``pytest --long``). Figures: docs/p2p.md, "Behind a home
router".
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from eth_account import Account
from eth_utils import keccak

from milon_app.chain.bindings import JobStatus
from milon_app.chain.events import EventCursor
from milon_app.chain.invite import decode_body
from milon_app.daemon.control import query_status
from milon_app.errors import MilonError
from milon_app.p2p.identity import peer_id_of_key
from milon_app.wallet.keystore import Wallet
from tests.helpers.daemon_fed import (
    ETHER,
    PASSWORD,
    TEST_KDF_N,
    ChainFederation,
    start_chain_federation,
    write_daemon_config,
)
from tests.netns.nat_topology import RELAY_IP, Topology, entered, missing, nat_topology
from tests.procs import stop_process
from tests.unit.p2p.gossip_wait import wait_for

pytestmark = [
    pytest.mark.netns,
    pytest.mark.long,
    pytest.mark.skipif(bool(missing()), reason=missing() or "-"),
]
REPO = Path(__file__).resolve().parents[2]
OWNER_LISTEN = f"/ip4/{RELAY_IP}/tcp/4001"
PUNCH_WITHIN_S = 30.0  # DCUtR upgraded a relayed connection 8-10 s after it opened (STACK.md)


def throwaway_key(home: str) -> bytes:
    """A THROWAWAY test key (never funded anywhere but this test's devnet)."""
    return keccak(f"milon netns home federation THROWAWAY test key {home}".encode())


class Run:
    """The processes this test starts (stopped by PID) and their folders."""

    def __init__(self, topo: Topology, tmp: Path) -> None:
        self.topo, self.tmp = topo, tmp
        self.procs: dict[str, subprocess.Popen[bytes]] = {}
        self.homes: dict[str, Path] = {}

    def milon(self, ns: str, *args: str, timeout: float = 120) -> dict[str, Any]:
        """``milon --json ARGS`` inside ``ns``; its JSON output (a failure names stderr)."""
        cmd = ["ip", "netns", "exec", ns, sys.executable, "-m", "milon_app", "--json", *args]
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, cwd=REPO)
        assert done.returncode == 0, f"milon {' '.join(args[:4])}: {done.stderr[-2000:]}"
        return dict(json.loads(done.stdout))

    def daemon(self, name: str, ns: str, *config: str) -> None:
        home = self.homes[name]
        log = open(home / "daemon.log", "ab")  # noqa: SIM115 - the child owns it
        cmd = ["ip", "netns", "exec", ns, sys.executable, "-m", "milon_app", "--home", str(home),
               "--daemon", *config]  # fmt: skip
        try:
            self.procs[name] = subprocess.Popen(
                cmd, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, cwd=REPO
            )
        finally:
            log.close()

    def events(self, name: str) -> list[dict[str, Any]]:
        log = self.homes[name] / "daemon.log"
        lines = log.read_text(errors="replace").splitlines() if log.exists() else []
        return [json.loads(ln) for ln in lines if ln.startswith('{"ts"')]

    def wait(self, what: str, check: Callable[[], bool], within: float) -> None:
        deadline = time.monotonic() + within
        while time.monotonic() < deadline:
            if check():
                return
            for name, proc in self.procs.items():
                assert proc.poll() is None, f"{name} exited with {proc.returncode} ({what})"
            time.sleep(0.3)
        raise AssertionError(f"timed out after {within} s waiting for {what}")

    def logs(self) -> str:
        return "\n".join(
            f"--- {n}\n" + (h / "daemon.log").read_text(errors="replace")[-4000:]
            for n, h in self.homes.items()
            if (h / "daemon.log").exists()
        )

    def stop(self) -> dict[str, int | None]:
        return {name: stop_process(p) for name, p in reversed(self.procs.items())}


def _owner(run: Run, chain: ChainFederation) -> str:
    """The owner's daemon (the relay) in the public namespace; its invite."""
    home = run.homes["owner"] = run.tmp / "owner"
    toml = write_daemon_config(
        home, chain.deployer, chain.rpc, chain.manifest,
        f'roles = ["owner", "keeper"]\n\n[p2p]\nlisten = "{OWNER_LISTEN}"\n'
        'reachability = "public"\nrelay = "on"\nmdns = false\n',
    )  # fmt: skip
    run.daemon("owner", run.topo.public, "--config", str(toml))
    run.wait("the owner's daemon", lambda: _status(home) is not None, 60)
    got = run.milon(run.topo.public, "--home", str(home), "--config", str(toml),
                    "fed", "invite", str(chain.fed))  # fmt: skip
    return str(got["invite"])


def _status(home: Path) -> dict[str, Any] | None:
    try:
        return query_status(home / "data", timeout_s=2.0)
    except (MilonError, OSError):
        return None


def _home(run: Run, chain: ChainFederation, home_name: str) -> str:
    """A contributor's home folder: a throwaway key in its keystore, funded by the deployer, and
    a config with its own settings (the invite adds the chain's). Returns its address."""
    home = run.homes[home_name] = run.tmp / home_name
    key = throwaway_key(home_name)
    data = home / "data"
    Wallet.import_key(data / "wallet" / "keystore.json", key, PASSWORD, kdf_n=TEST_KDF_N)
    password = home / "password"
    password.write_text(PASSWORD)
    password.chmod(0o600)
    index = sorted(("a", "b")).index(home_name)
    config = {
        "wallet": {"secret_store": "password-file", "password_file": str(password)},
        "compute": {"device": "cpu", "max_threads": 1},
        "node": {"data_dir": str(data), "poll_interval_s": 0.3, "partition": f"{index}/2"},
        "p2p": {"listen": f"/ip4/{run.topo.home_ip(home_name)}/tcp/4001", "mdns": False},
    }  # fmt: skip
    (home / "config").mkdir(parents=True)
    (home / "config" / "config.json").write_text(json.dumps(config))
    address = str(Account.from_key(key).address)
    chain.client.send_eth(chain.deployer, address, 10 * ETHER)
    chain.milon.transfer(chain.deployer, address, 100 * ETHER)
    return address


def _join(run: Run, invite: str, homes: list[str]) -> None:
    """``milon join INVITE`` in every home at once (the real CLI, inside the home), then each
    home's daemon."""
    joins = {}
    for h in homes:
        cmd = ["ip", "netns", "exec", run.topo.homes[h], sys.executable, "-m", "milon_app",
               "--home", str(run.homes[h]), "join", invite, "--capacity", "100"]  # fmt: skip
        joins[h] = subprocess.Popen(
            cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, cwd=REPO
        )
    try:
        for h, proc in joins.items():
            _, err = proc.communicate(timeout=120)
            assert proc.returncode == 0, f"milon join in home {h}: {err[-2000:]}"
    finally:
        for proc in joins.values():
            stop_process(proc)  # by PID; at once when it has exited
    for h in homes:
        run.daemon(h, run.topo.homes[h])


def _relayed_on_chain(chain: ChainFederation, address: str, relay: str) -> bool:
    info = chain.milon.member(chain.fed, address).peer_info
    return info.startswith(f"{OWNER_LISTEN}/p2p/{relay}/p2p-circuit/")


def _job(run: Run, chain: ChainFederation) -> int:
    """``milon job create`` by the owner: one round of 2 epochs, one per contributor (equal
    capacities), judged by the default committee: with two members, both of them."""
    owner = run.homes["owner"]
    run.milon(run.topo.public, "--home", str(owner), "--config", str(owner / "node.toml"),
              "job", "create", "--fed", str(chain.fed), "--model", "digits-mlp",
              "--dataset", "digits", "--epochs", "2", "--epochs-per-round", "2",
              "--reward-per-epoch", "1", "--committee", "0", "--dev-account", "0")  # fmt: skip
    chain.client.note_external_write()
    return int(chain.milon.job_count())


def _reach(run: Run, home: str) -> dict[str, Any]:
    """``milon status --json``'s reach, asked inside the home (its control channel is on that
    namespace's loopback)."""
    got = run.milon(run.topo.homes[home], "status", "--data-dir", str(run.homes[home] / "data"))
    return dict(got["reach"])


def _punched(run: Run, home: str, other: str) -> bool:
    """Whether ``home``'s daemon holds a hole-punched connection to peer ``other`` (asked from
    inside the home, as `milon status` does)."""
    with entered(run.topo.homes[home]):
        got = _status(run.homes[home])
    return got is not None and other in got["reach"]["hole_punched"]


def _fetches(run: Run, name: str) -> list[dict[str, Any]]:
    return [e for e in run.events(name) if e.get("event") == "BlobFetched"]


def _update_fetches(run: Run, home: str, other_peer: str) -> list[bool]:
    """Per update ``home`` fetched from the other contributor (one a round, in order): whether
    it came through the relay."""
    return [bool(e["relayed"]) for e in _fetches(run, home) if e["provider"] == other_peer]


def _round_seconds(run: Run) -> list[float]:
    """Wall time of each job's round as the owner's daemon saw it (started to finalized)."""
    events = run.events("owner")
    began = {e["job_id"]: e["ts"] for e in events if e["event"] == "RoundStarted"}
    return [round(e["ts"] - began[e["job_id"]], 1) for e in events
            if e["event"] == "RoundFinalized" and e["job_id"] in began]  # fmt: skip


def _paid(chain: ChainFederation) -> set[tuple[int, str]]:
    """(job, member) of every reward credited; every committee drawn was the two of them."""
    events = EventCursor(chain.client, chain.suite.by_name(),
                         chain.suite.manifest.deployed_block).poll()  # fmt: skip
    drawn = [sorted(e.args["members"]) for e in events if e.name == "CommitteeDrawn"]
    assert len(drawn) == 2 and drawn[0] == drawn[1], drawn
    return {(e.args["jobId"], e.args["member"]) for e in events if e.name == "RewardCredited"}


def _train(run: Run, chain: ChainFederation) -> int:
    """A one-round job, created by the owner's CLI, run to completion."""
    job = _job(run, chain)
    run.wait(f"job {job} to complete",
             lambda: chain.milon.job(job).status is JobStatus.COMPLETED, 120)  # fmt: skip
    return job


def test_contributors_behind_two_nats_join_from_an_invite_train_and_are_paid(tmp_path):
    peers = {h: peer_id_of_key(throwaway_key(h)) for h in ("a", "b")}
    with nat_topology() as topo, entered(topo.public):
        chain = start_chain_federation(tmp_path, "homes", 0, host=RELAY_IP)
        run = Run(topo, tmp_path)
        try:
            started = time.monotonic()
            invite = _owner(run, chain)
            relay = str(_status(run.homes["owner"])["peer_id"])  # type: ignore[index]
            assert f"{OWNER_LISTEN}/p2p/{relay}" in decode_body(invite)["bootstrap"]
            members = {h: _home(run, chain, h) for h in ("a", "b")}
            _join(run, invite, list(members))
            run.wait("both contributors' relayed addresses on chain",
                     lambda: all(_relayed_on_chain(chain, a, relay) for a in members.values()),
                     60)  # fmt: skip
            joined = time.monotonic()
            jobs = [_train(run, chain)]  # the first updates cross through the relay
            trained = time.monotonic()
            punched = wait_for(lambda: _punched(run, "b", peers["a"]), PUNCH_WITHIN_S, step=0.5)
            punch_s = time.monotonic() - trained
            if punched:
                jobs.append(_train(run, chain))  # these go over the hole-punched connection
            second_s = time.monotonic() - trained - punch_s
            run.wait("the owner's log of every round",
                     lambda: len(_round_seconds(run)) == len(jobs), 20)  # fmt: skip
            report = {
                "setup_s (deploy, owner+relay, 2 joins, relayed addresses on chain)":
                    round(joined - started, 1),
                "first_job_s (job create to completed)": round(trained - joined, 1),
                "second_job_s (after the punch)": round(second_s, 1),
                "round_s (started to finalized, per job)": _round_seconds(run),
                "updates_relayed": {h: _update_fetches(run, h, peers[o])
                                    for h, o in (("a", "b"), ("b", "a"))},
                "hole_punched": punched,
                "punch_s_after_first_job": round(punch_s, 1),
                "reach": {h: _reach(run, h)["text"] for h in ("a", "b")},
            }  # fmt: skip
            print(json.dumps(report, indent=1))
            assert punched, "DCUtR did not upgrade the relayed connection between the homes"
            for fetched in report["updates_relayed"].values():  # type: ignore[union-attr]
                assert fetched == [True, False], fetched  # no direct path before the punch
            assert _paid(chain) == {(j, a) for j in jobs for a in members.values()}
            for address in members.values():
                assert chain.milon.claimable(address) > 0
        except AssertionError:
            print(run.logs())
            raise
        finally:
            codes = run.stop()
            chain.anvil.stop()
    assert all(code == 0 for code in codes.values()), codes
