"""Bad input through the real `milon` command: the documented exit code, a message that
names what is wrong, and not one byte changed on disk.

Each case runs `python -m milon_app ...` as its own process against a private
anvil devnet (stopped by PID at the end) and hashes every file under the home
folder and the test folder (keystore, config, state, manifests, data files)
before and after. Exit codes are those of docs/exit-codes.md.
"""

from __future__ import annotations

import hashlib
import json
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from milon_app.exit_codes import ExitCode
from milon_app.wallet.keystore import Wallet
from tests.integration.cli_chain_helpers import start_devnet

PASSWORD = "throwaway-cli-password"  # a labelled THROWAWAY test password


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """A devnet, a home with a wallet and its password file, and the files the cases break."""
    root = tmp_path_factory.mktemp("bad-input")
    net = start_devnet(root)
    try:
        home = root / "home"
        ks = home / "data" / "wallet" / "keystore.json"
        Wallet.create(ks, PASSWORD, kdf_n=2**14)
        for name, text in (("pw", PASSWORD), ("wrong-pw", PASSWORD + "-wrong")):
            (root / name).write_text(text + "\n")
            (root / name).chmod(0o600)
        yield net, root, home, ks
    finally:
        net.node.stop()


def _files(*roots: Path) -> dict[str, tuple[str, int]]:
    """sha256 and mode of every regular file under ``roots``."""
    out = {}
    for root in roots:
        for p in sorted(root.rglob("*")):
            if p.is_file():
                out[str(p)] = (
                    hashlib.sha256(p.read_bytes()).hexdigest(),
                    stat.S_IMODE(p.stat().st_mode),
                )
    return out


def _error_text(stderr: str, daemon: bool) -> str:
    """The error as people read it: the daemon writes one JSON object per line (each must
    parse), a plain command writes text."""
    if not daemon:
        return stderr
    lines = [json.loads(ln) for ln in stderr.splitlines() if ln.strip()]
    return "\n".join(str(obj.get("message", "")) for obj in lines)


def _refused(world, argv: list[str], code: ExitCode, *names: str) -> str:
    """Run `milon argv`; assert the exit code, the words in the error and an unchanged disk."""
    _, root, home, _ = world
    before = _files(root)
    res = subprocess.run(
        [sys.executable, "-m", "milon_app", "--home", str(home), *argv],
        capture_output=True,
        text=True,
        timeout=180,
        stdin=subprocess.DEVNULL,
    )
    assert res.returncode == int(code), (res.returncode, res.stderr[-2000:])
    assert "Traceback" not in res.stderr, res.stderr[-2000:]
    err = _error_text(res.stderr, daemon="--daemon" in argv)
    assert err.startswith("milon: error: ") or "\nmilon: error: " in err, err
    for name in names:
        assert name in err, (name, err)
    assert _files(root) == before, "a refused command changed files on disk"
    return err


def _chain(world, manifest: Path | None = None) -> list[str]:
    net = world[0]
    return ["--rpc", net.url, "--manifest", str(manifest or net.manifest)]


def _write(world, name: str, text: str | bytes) -> Path:
    path = world[1] / name
    path.write_bytes(text if isinstance(text, bytes) else text.encode())
    return path


def _config(world, text: str | bytes) -> Path:
    home = world[2]
    cfg = home / "config" / "config.json"
    cfg.parent.mkdir(parents=True, exist_ok=True)
    cfg.write_bytes(text if isinstance(text, bytes) else text.encode())
    return cfg


# ---------------------------------------------------------------- chain id, missing contracts


def test_rpc_on_another_chain_than_the_config_expects(world):
    _config(world, json.dumps({"chain": {"expected_chain_id": 5}}))
    try:
        _refused(world, ["fed", "list", *_chain(world)], ExitCode.CHAIN, "expected 5", "31337")
    finally:
        _config(world, "{}")


def test_manifest_for_another_chain(world):
    data = json.loads(world[0].manifest.read_text())
    other = _write(world, "other-chain.json", json.dumps(dict(data, chain_id=1)))
    _refused(
        world, ["fed", "list", *_chain(world, other)], ExitCode.CHAIN, "manifest is for chain id 1"
    )


def test_manifest_whose_contracts_are_missing(world):
    data = json.loads(world[0].manifest.read_text())
    contracts = {k: "0x" + "11" * 20 for k in data["contracts"]}
    empty = _write(world, "no-code.json", json.dumps(dict(data, contracts=contracts)))
    _refused(world, ["fed", "list", *_chain(world, empty)], ExitCode.CHAIN, "no contract code at")


# ---------------------------------------------------------------- manifest and config files


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("{", "not valid JSON"),
        ("[" * 100_000, "nested deeper"),
        (b"\xff\xfe{}", "not UTF-8"),
        ('{"version": 1}', "'contracts' must be an object"),
    ],
)
def test_malformed_manifest(world, text, words):
    path = _write(world, "broken-manifest.json", text)
    _refused(world, ["fed", "list", *_chain(world, path)], ExitCode.BAD_INPUT, str(path), words)


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("{", "not valid JSON"),
        ("[" * 100_000, "nested deeper"),
        ('{"node": {"poll_interval_s": NaN}}', "NaN"),
        ('{"chain": {"rpc": "x"}}', "unknown config key 'chain.rpc'"),
        ('{"chain": {"expected_chain_id": "5"}}', "'chain.expected_chain_id'"),
    ],
)
def test_malformed_config_file(world, text, words):
    cfg = _config(world, text)
    try:
        err = _refused(world, ["fed", "list", *_chain(world)], ExitCode.CONFIG, words)
    finally:
        _config(world, "{}")
    if "config key" not in err:  # a file-level error names the file
        assert str(cfg) in err, err


@pytest.mark.parametrize(
    ("toml", "words"),
    [
        ("[chain\nrpc_url = 1", "not valid TOML"),
        ("x = " + "[" * 5000, "node.toml"),
        ('[node]\nmax_epochs = "many"', "'node.max_epochs'"),
    ],
)
def test_malformed_daemon_config(world, toml, words):
    path = _write(world, "node.toml", toml)
    _refused(world, ["--daemon", "--config", str(path)], ExitCode.CONFIG, words)


# ---------------------------------------------------------------- wallet


def test_wrong_wallet_password_leaves_the_keystore_alone(world):
    _, root, _, ks = world
    argv = [
        "fed",
        "create",
        "x",
        "--min-stake",
        "1",
        *_chain(world),
        "--keystore",
        str(ks),
        "--secret-store",
        "password-file",
        "--password-file",
        str(root / "wrong-pw"),
    ]
    _refused(world, argv, ExitCode.WALLET, "wrong password", str(ks))


# ---------------------------------------------------------------- model specs and data files


@pytest.mark.parametrize(
    ("spec", "words"),
    [
        ({"layers": [{"type": "os.system"}]}, "unknown layer type"),
        ({"layers": [{"type": "Linear", "in_features": 64, "out_features": 1 << 40}]}, "outside"),
        ({"input_shape": [65536, 65536, 3]}, "input_shape"),
    ],
)
def test_bad_model_spec_file(world, spec, words):
    base = {
        "input_shape": [64],
        "layers": [{"type": "Linear", "in_features": 64, "out_features": 10}],
        "optimizer": {"type": "sgd", "lr": 0.1},
    }
    path = _write(world, "model.json", json.dumps({**base, **spec}))
    argv = [
        "job",
        "create",
        "--fed",
        "1",
        "--model",
        str(path),
        "--dataset",
        "digits",
        "--epochs",
        "2",
        "--reward-per-epoch",
        "1",
        *_chain(world),
        "--dev-account",
        "1",
    ]
    _refused(world, argv, ExitCode.BAD_INPUT, str(path), words)


@pytest.mark.parametrize(
    ("rows", "words"),
    [
        ("1.0,2.0,cat\n", "label 'cat' is not an integer"),
        ("1.0,2.0,-1\n", "label -1 is negative"),
        ("1.0,2.0," + "9" * 30 + "\n", "out of range"),
        ("1.0,nan,1\n", "NaN or Inf"),
        ("1.0,1\n", "has 2 fields, the header has 3"),
    ],
)
def test_daemon_refuses_a_dataset_file_with_bad_labels_or_shape(world, rows, words):
    net, root, home, ks = world
    csv_path = _write(world, "local.csv", "a,b,label\n0.5,0.25,0\n" + rows)
    spec = _write(
        world,
        "local-data.json",
        json.dumps({"kind": "csv", "path": str(csv_path), "label_column": "label"}),
    )
    toml = _write(
        world,
        "node.toml",
        f'[chain]\nrpc_url = "{net.url}"\nmanifest = "{net.manifest}"\n\n'
        f'[wallet]\nkeystore = "{ks}"\nsecret_store = "password-file"\npassword_file = "{root / "pw"}"\n\n'
        f'[node]\ndata_dir = "{home / "data"}"\ndataset = "{spec}"\n',
    )
    _refused(world, ["--daemon", "--config", str(toml)], ExitCode.BAD_INPUT, str(csv_path), words)


# ---------------------------------------------------------------- protocol v2 values


@pytest.mark.parametrize(
    ("argv", "code", "words"),
    [
        (["job", "create", "--fed", "1", "--model", "digits-mlp", "--dataset", "digits",
          "--epochs", "2", "--reward-per-epoch", "1", "--committee", "99"],
         ExitCode.BAD_INPUT, ("--committee 99 is outside the governed bounds 3..31",)),
        (["job", "create", "--fed", "1", "--model", "digits-mlp", "--dataset", "digits",
          "--epochs", "2", "--reward-per-epoch", "1", "--max-samples", "many"],
         ExitCode.BAD_INPUT, ("--max-samples must be a whole number",)),
        (["gov", "propose", "param", "committee-min", "1"],
         ExitCode.BAD_INPUT, ("committee-min must be within 3 .. 64, got 1",)),
        (["gov", "propose", "param", "validator-quorum", "1"],
         ExitCode.BAD_INPUT, ("unknown parameter 'validator-quorum'", "committee-default")),
        (["gov", "propose", "slash", "1", "0x" + "11" * 20, "1", "--reason", "spam"],
         ExitCode.NOT_FOUND, ("federation 1 does not exist",)),
        (["gov", "propose", "slash", "1", "0x" + "11" * 20, "0", "--reason", "spam"],
         ExitCode.BAD_INPUT, ("AMOUNT must be more than 0",)),
        (["fed", "add-stake", "1", "-1"], ExitCode.BAD_INPUT, ("'-1' is not a MILON amount",)),
    ],
)
def test_bad_protocol_values(world, argv, code, words):
    _refused(world, [*argv, *_chain(world), "--dev-account", "1"], code, *words)
