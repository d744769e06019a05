"""No secret ever reaches a log, an output, a config file or the state database.

A THROWAWAY wallet (a fresh random key, a labelled test password) is imported
with `milon -vv wallet import`, a real `milon -vv --daemon` on anvil unlocks it
and signs its federation join, `milon status` asks it over loopback, a CLI
command signs with it and another is given a wrong password. Then every byte
those processes printed or left on disk (logs, config, state DB, blobs,
manifests) is searched for the key (hex in any case, raw bytes), the
passwords and the keystore's scrypt-derived key. The search is shown to work
first: a scratch file with a secret planted in junk is found.
Every process started here is stopped by PID.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from eth_account import Account

from tests.helpers.daemon_fed import ETHER, start_chain_federation
from tests.procs import stop_process

PASSWORD = "throwaway-Pa55word-for-log-scan"  # a THROWAWAY test password, labelled as such
WRONG = "throwaway-wrong-Pa55word-XYZ"  # also must never be echoed
SECRET_FILES = {"key.hex", "password", "wrong-password"}  # the only files allowed to hold them


def _milon(home: Path, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [sys.executable, "-m", "milon_app", "-vv", "--home", str(home), *args],
        capture_output=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
    )


def _needles(key: bytes, keystore: Path) -> dict[str, bytes]:
    """Every form of secret a leak could take, as bytes to search for."""
    crypto = json.loads(keystore.read_text())["crypto"]
    p = crypto["kdfparams"]
    derived = hashlib.scrypt(
        PASSWORD.encode(),
        salt=bytes.fromhex(p["salt"]),
        n=p["n"],
        r=p["r"],
        p=p["p"],
        dklen=p["dklen"],
        maxmem=1 << 30,
    )
    return {
        "key hex": key.hex().encode(),
        "key HEX": key.hex().upper().encode(),
        "key raw bytes": key,
        "key half (hex)": key.hex()[:32].encode(),
        "password": PASSWORD.encode(),
        "wrong password": WRONG.encode(),
        "scrypt-derived key": derived.hex().encode(),
        "scrypt-derived key bytes": derived,
    }


def _scan(root: Path, outputs: dict[str, bytes], needles: dict[str, bytes]) -> list[str]:
    """(where, which secret) for every hit in the files under ``root`` and in ``outputs``."""
    hits = []
    blobs = dict(outputs)
    for path in sorted(root.rglob("*")):
        if path.is_file() and path.name not in SECRET_FILES:
            blobs[str(path.relative_to(root))] = path.read_bytes()
    for where, data in blobs.items():
        lowered = data.lower()
        for name, needle in needles.items():
            if needle in data or (needle.isascii() and needle.lower() in lowered):
                hits.append(f"{where}: {name}")
    return hits


def _stop(proc: subprocess.Popen[bytes]) -> None:
    stop_process(proc)


@pytest.mark.slow
def test_no_secret_in_any_output_log_config_or_database(tmp_path):
    key = os.urandom(32)  # THROWAWAY: generated here, funded only on this test's anvil
    address = Account.from_key(key).address
    home = tmp_path / "home"
    secrets_dir = tmp_path / "secrets"
    secrets_dir.mkdir()
    for name, text in (
        ("key.hex", "0x" + key.hex()),
        ("password", PASSWORD),
        ("wrong-password", WRONG),
    ):
        (secrets_dir / name).write_text(text + "\n")
        (secrets_dir / name).chmod(0o600)
    keystore = home / "data" / "wallet" / "keystore.json"
    outputs: dict[str, bytes] = {}
    chain_fed = start_chain_federation(tmp_path, "scan", 0)  # its manifest is scanned too
    anvil, client, owner = chain_fed.anvil, chain_fed.client, chain_fed.deployer
    manifest, milon, fed = chain_fed.manifest, chain_fed.milon, chain_fed.fed
    daemon: subprocess.Popen[bytes] | None = None
    try:
        client.send_eth(owner, address, 10 * ETHER)
        milon.transfer(owner, address, 100 * ETHER)

        pw = ["--secret-store", "password-file", "--password-file", str(secrets_dir / "password")]
        res = _milon(
            home,
            "wallet",
            "import",
            "--key-file",
            str(secrets_dir / "key.hex"),
            *pw,
            "--scrypt-n",
            "16384",
        )
        outputs["wallet import"] = res.stdout + res.stderr
        assert res.returncode == 0, res.stderr

        toml = home / "node.toml"
        toml.write_text(
            f'[chain]\nrpc_url = "{anvil.url}"\nmanifest = "{manifest}"\n\n'
            f'[wallet]\nsecret_store = "password-file"\n'
            f'password_file = "{secrets_dir / "password"}"\n\n'
            f'[node]\ndata_dir = "{home / "data"}"\npoll_interval_s = 0.3\n\n'
            f'[[federations]]\nid = {fed}\nstake = "20"\ncapacity = 100\n'
        )
        log = home / "daemon.log"
        with log.open("wb") as out:
            daemon = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "milon_app",
                    "-vv",
                    "--home",
                    str(home),
                    "--daemon",
                    "--config",
                    str(toml),
                ],
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )
        deadline = time.monotonic() + 180
        while not milon.member(fed, address).active:
            assert daemon.poll() is None, log.read_text(errors="replace")[-3000:]
            assert time.monotonic() < deadline, "the daemon never joined"
            time.sleep(0.5)
        status = _milon(home, "--json", "status", "--data-dir", str(home / "data"))
        outputs["status"] = status.stdout + status.stderr
        assert status.returncode == 0 and json.loads(status.stdout)["address"] == address
        _stop(daemon)
        assert daemon.returncode == 0, log.read_text(errors="replace")[-3000:]

        chain = ["--rpc", anvil.url, "--manifest", str(manifest)]
        res = _milon(home, "fed", "leave", str(fed), *chain, *pw)  # unlocks and signs
        outputs["fed leave"] = res.stdout + res.stderr
        assert res.returncode == 0, res.stderr
        wrong = [
            "--secret-store",
            "password-file",
            "--password-file",
            str(secrets_dir / "wrong-password"),
        ]
        res = _milon(home, "wallet", "export", "--private-key", "--yes", *wrong)
        outputs["export with a wrong password"] = res.stdout + res.stderr
        assert res.returncode == 4 and b"wrong password" in res.stderr

        needles = _needles(key, keystore)
        # The search must be able to fail: a secret planted in junk is found.
        scratch = home / "data" / "scratch.bin"
        scratch.write_bytes(os.urandom(64) + key.hex().upper().encode() + os.urandom(64))
        assert _scan(home, {}, needles) == [
            "data/scratch.bin: key hex",
            "data/scratch.bin: key HEX",
            "data/scratch.bin: key half (hex)",
        ]
        scratch.write_bytes(b"log line " + PASSWORD.encode() + b"\n")
        assert _scan(home, {}, needles) == ["data/scratch.bin: password"]
        scratch.unlink()

        scanned = [p for p in home.rglob("*") if p.is_file()]
        assert log in scanned and (home / "data" / "node.db") in scanned and keystore in scanned
        assert log.stat().st_size > 0
        assert _scan(home, outputs, needles) == []
        assert _scan(tmp_path, {}, needles) == []  # the manifest and anything else left beside
    finally:
        if daemon is not None:
            _stop(daemon)
        anvil.stop()
