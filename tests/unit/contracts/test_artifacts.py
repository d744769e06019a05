"""The committed contract artifacts: complete, deployable, and fresh against the sources."""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
CONTRACTS_DIR = ROOT / "contracts"
ARTIFACTS = ROOT / "milon_app" / "chain" / "artifacts"
NAMES = [
    "FederationRegistry",
    "MilonGovernor",
    "MilonTimelock",
    "MilonToken",
    "ModelRegistry",
    "TrainingJobs",
]
EIP170_LIMIT = 24_576
OZ_VERSION = "5.7.0"  # contracts/package.json pins @openzeppelin/contracts exactly


def load(name: str) -> dict:
    return json.loads((ARTIFACTS / f"{name}.json").read_text())


def source_hash() -> str:
    """Same recipe as contracts/compile.js: per sorted src/*.sol: name, newline, bytes; then OZ version."""
    h = hashlib.sha256()
    for path in sorted((CONTRACTS_DIR / "src").glob("*.sol"), key=lambda p: p.name.encode()):
        h.update(path.name.encode() + b"\n")
        h.update(path.read_bytes())
    h.update(f"@openzeppelin/contracts@{OZ_VERSION}".encode())
    return h.hexdigest()


def test_oz_pin_matches_package_json():
    pkg = json.loads((CONTRACTS_DIR / "package.json").read_text())
    assert pkg["dependencies"]["@openzeppelin/contracts"] == OZ_VERSION


@pytest.mark.parametrize("name", NAMES)
def test_artifact_is_complete_and_under_eip170(name):
    art = load(name)
    assert art["contractName"] == name
    assert isinstance(art["abi"], list) and art["abi"]
    for key in ("bytecode", "deployedBytecode"):
        assert art[key].startswith("0x") and len(art[key]) > 2
        bytes.fromhex(art[key][2:])
    runtime = (len(art["deployedBytecode"]) - 2) // 2
    assert runtime < EIP170_LIMIT, f"{name} runtime is {runtime} B, limit {EIP170_LIMIT}"
    assert art["compiler"].startswith("0.8.37+")
    settings = art["settings"]
    assert settings["optimizer"] == {"enabled": True, "runs": 200}
    assert settings["viaIR"] is True  # TrainingJobs only fits under EIP-170 through the IR pipeline
    assert settings["evmVersion"] == "cancun"
    assert settings["metadata"] == {"bytecodeHash": "none"}


def test_index_lists_every_contract():
    index = json.loads((ARTIFACTS / "index.json").read_text())
    assert sorted(index["contracts"]) == NAMES
    assert "RoundMath" not in index["contracts"]  # a library inlined into TrainingJobs
    assert index["compiler"] == load("TrainingJobs")["compiler"]
    assert index["sourceHash"] == load("TrainingJobs")["sourceHash"]
    stray = {p.stem for p in ARTIFACTS.glob("*.json")} - set(NAMES) - {"index"}
    assert not stray, f"artifacts not produced by compile.js: {sorted(stray)}"


def test_round_math_is_inlined_not_linked():
    """RoundMath's functions are internal: TrainingJobs embeds them, so there is no library
    address to link (no placeholder in the bytecode) and nothing separate to deploy."""
    assert (CONTRACTS_DIR / "src" / "RoundMath.sol").is_file()
    assert not (ARTIFACTS / "RoundMath.json").exists()
    art = load("TrainingJobs")
    for key in ("bytecode", "deployedBytecode"):
        assert "__$" not in art[key], f"TrainingJobs {key} has an unlinked library placeholder"
    assert not [i for i in art["abi"] if i.get("name") == "splitEpochs"]  # v1's view is gone


def test_artifacts_match_current_sources():
    expected = source_hash()
    for name in [*NAMES, "index"]:
        recorded = load(name)["sourceHash"]
        assert recorded == expected, (
            f"{name}.json was built from other sources (sourceHash {recorded[:12]}, sources give "
            f"{expected[:12]}): run `npm run compile` in contracts/"
        )


def test_compile_reproduces_committed_artifacts_byte_for_byte(tmp_path):
    if not (CONTRACTS_DIR / "node_modules" / "solc").is_dir():
        pytest.skip(
            "contracts/node_modules is absent (run `npm ci` in contracts/); CI always has it"
        )
    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not on PATH")
    out = tmp_path / "artifacts"
    proc = subprocess.run(
        [node, str(CONTRACTS_DIR / "compile.js"), "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    produced = sorted(p.name for p in out.iterdir())
    committed = sorted(p.name for p in ARTIFACTS.glob("*.json"))
    assert produced == committed
    for fname in produced:
        assert (out / fname).read_bytes() == (ARTIFACTS / fname).read_bytes(), (
            f"{fname} differs from a fresh compile: run `npm run compile` in contracts/"
        )
