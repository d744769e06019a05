"""Real daemons on a real devnet: the set-up the process-level tests, the soak and the bench share.

- :func:`start_chain_federation`: anvil on loopback, the dev suite deployed and
  its manifest saved, one federation made by dev account 0 (minimum stake
  10 MILON) and 1,000 MILON sent to each member account.
- :func:`owner_endpoint`: a free loopback port for a daemon to listen on and
  the full multiaddr others bootstrap from (the peer ID follows from the key).
- :func:`write_daemon_config`: a daemon's folder: the account's key in a
  keystore, a 0600 password file, and the ``node.toml`` that points at both,
  at the chain and at the data folder.
- :func:`spawn_daemon`: ``milon --daemon`` with its output in ``daemon.log``;
  stop it with :func:`tests.procs.stop_process` (by PID).

Every key and password here is a THROWAWAY (anvil's public dev mnemonic).
"""

from __future__ import annotations

import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from milon_app.chain.bindings import Milon
from milon_app.chain.client import ChainClient
from milon_app.chain.deploy import Suite, deploy_suite
from milon_app.chain.devnet import Anvil, free_port
from milon_app.p2p.identity import peer_id_of_key
from milon_app.wallet.keystore import Wallet

ETHER = 10**18
PASSWORD = "throwaway-test-password"  # a THROWAWAY test keystore password
MIN_STAKE = 10 * ETHER
FUNDS = 1_000 * ETHER
TEST_KDF_N = 2**14  # scrypt cost for throwaway keystores: fast to unlock


@dataclass
class ChainFederation:
    anvil: Anvil
    client: ChainClient
    suite: Suite
    milon: Milon
    manifest: Path
    fed: int
    members: list[Any]  # the funded member accounts (dev accounts 1..members)

    @property
    def rpc(self) -> str:
        return str(self.anvil.url)

    @property
    def deployer(self) -> Any:
        """Dev account 0: it deployed the suite, founded the federation and holds the rest (the
        job owner's account in these tests)."""
        return self.client.dev_accounts[0]


def start_chain_federation(
    tmp: Path,
    name: str,
    members: int,
    *,
    spare: int = 0,
    block_time_s: float | None = None,
    host: str = "127.0.0.1",
) -> ChainFederation:
    """Anvil with ``members + spare + 2`` accounts (spare ones unfunded) listening on ``host``;
    the caller stops ``.anvil``. ``block_time_s``: once the suite is deployed and funded (at
    once), the chain mines only every that many seconds, as a public one does (no instant
    mining)."""
    anvil = Anvil(accounts=members + spare + 2, host=host).start()
    try:
        client = ChainClient.connect(anvil.url, dev_accounts=members + spare + 1)
        owner = client.dev_accounts[0]
        suite = deploy_suite(client, owner, dev=True)
        manifest = tmp / "manifest.json"
        suite.manifest.save(manifest)
        milon = Milon(suite)
        fed = milon.create_federation(owner, name, b"\0" * 32, MIN_STAKE)
        accounts = client.dev_accounts[1 : members + 1]
        for acct in accounts:
            milon.transfer(owner, acct.address, FUNDS)
        if block_time_s:  # anvil: interval mining (whole seconds) replaces automining
            reply = client.w3.provider.make_request("evm_setIntervalMining", [int(block_time_s)])
            if reply.get("error"):
                raise RuntimeError(f"evm_setIntervalMining: {reply['error']}")
    except BaseException:
        anvil.stop()
        raise
    return ChainFederation(anvil, client, suite, milon, manifest, fed, accounts)


def owner_endpoint(acct: Any) -> tuple[str, str]:
    """(listen multiaddr on a free loopback port, the full address peers dial)."""
    listen = f"/ip4/127.0.0.1/tcp/{free_port()}"
    return listen, f"{listen}/p2p/{peer_id_of_key(bytes(acct.key))}"


def write_daemon_config(
    home: Path,
    acct: Any,
    rpc: str,
    manifest: Path,
    node_extra: str = "",
    *,
    compute: str = "",
    poll_s: float | None = 0.3,
) -> Path:
    """The daemon's keystore, password file and ``node.toml`` under ``home``; returns the toml.

    ``compute`` is the body of a ``[compute]`` section (none when empty); ``node_extra``
    goes on at the end of ``[node]`` and may open further sections (``[p2p]``,
    ``[[federations]]``); ``poll_s`` None leaves the tick interval at its default.
    """
    data = home / "data"
    (data / "wallet").mkdir(parents=True, exist_ok=True)
    Wallet.import_key(data / "wallet" / "keystore.json", bytes(acct.key), PASSWORD, kdf_n=TEST_KDF_N)
    pw = home / "password"
    pw.write_text(PASSWORD)
    pw.chmod(0o600)
    toml = home / "node.toml"
    poll = "" if poll_s is None else f"poll_interval_s = {poll_s}\n"
    toml.write_text(
        f'[chain]\nrpc_url = "{rpc}"\nmanifest = "{manifest}"\n\n'
        f'[wallet]\nsecret_store = "password-file"\npassword_file = "{pw}"\n\n'
        + (f"[compute]\n{compute}\n" if compute else "")
        + f'[node]\ndata_dir = "{data}"\n{poll}{node_extra}'
    )
    return toml


def spawn_daemon(home: Path, toml: Path, python: str = sys.executable) -> subprocess.Popen[bytes]:
    """``milon --daemon`` on ``toml``, appending to ``home/daemon.log``."""
    log = open(home / "daemon.log", "ab")  # noqa: SIM115 - the child owns it; closed here below
    try:
        return subprocess.Popen(
            [python, "-m", "milon_app", "--home", str(home), "--daemon", "--config", str(toml)],
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
    finally:
        log.close()
