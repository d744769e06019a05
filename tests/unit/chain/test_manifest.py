from __future__ import annotations

import json

import pytest

from milon_app.chain.artifacts import CONTRACT_NAMES
from milon_app.chain.manifest import Manifest
from milon_app.errors import BadInputError, NotFoundError


def _manifest() -> Manifest:
    return Manifest(
        chain_id=31337,
        contracts={n: "0x" + f"{i + 1:040x}" for i, n in enumerate(CONTRACT_NAMES)},
        deployed_block=3,
        deployer="0x" + "ab" * 20,
        dev=True,
    )


def test_round_trip(tmp_path):
    path = tmp_path / "m.json"
    _manifest().save(path)
    assert Manifest.load(path) == _manifest()


def test_missing_file_names_the_fix(tmp_path):
    with pytest.raises(NotFoundError, match="milon devnet"):
        Manifest.load(tmp_path / "none.json")


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda d: d.update(version=99), "unsupported manifest version 99"),
        (lambda d: d["contracts"].pop("TrainingJobs"), "'TrainingJobs' has no valid address"),
        (lambda d: d["contracts"].update(MilonToken="0x12"), "'MilonToken' has no valid address"),
        (lambda d: d.update(chain_id="1"), "'chain_id' missing or not int"),
        (lambda d: d.update(extra=1), "unknown field 'extra'"),
        (lambda d: d.update(contracts=[]), "'contracts' must be an object"),
    ],
)
def test_malformed_manifest_refused(tmp_path, mutate, message):
    data = json.loads(_manifest().to_json())
    mutate(data)
    path = tmp_path / "m.json"
    path.write_text(json.dumps(data))
    with pytest.raises(BadInputError, match=message):
        Manifest.load(path)


def test_not_json(tmp_path):
    path = tmp_path / "m.json"
    path.write_text("{")
    with pytest.raises(BadInputError, match="not valid JSON"):
        Manifest.load(path)
