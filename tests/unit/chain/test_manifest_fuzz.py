"""Property tests for the deployment manifest, a file users pass around between machines.

``Manifest.load`` returns a manifest whose fields have their types and whose
addresses are real hex addresses, or raises BadInputError naming the file;
it never lets json's recursion, a bad encoding or a wrongly typed field
through to the chain client.
"""

from __future__ import annotations

import json
import re

from hypothesis import given
from hypothesis import strategies as st

from milon_app.chain.artifacts import CONTRACT_NAMES
from milon_app.chain.manifest import Manifest
from milon_app.errors import BadInputError
from tests.unit.fuzz_util import FUZZ, bounded_memory, outcome

ADDRESS = re.compile(r"0x[0-9a-fA-F]{40}")
GOOD = {
    "version": 1,
    "chain_id": 31337,
    "contracts": {n: "0x" + f"{i + 1:040x}" for i, n in enumerate(CONTRACT_NAMES)},
    "deployed_block": 3,
    "deployer": "0x" + "ab" * 20,
    "dev": True,
    "source_hash": "",
    "params": {"slash_bps": 1000},
    "rpc_url": "http://127.0.0.1:8545",
}
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=44),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3)
    ),
    max_leaves=10,
)
addresses = st.one_of(
    st.just("0x" + "11" * 20),
    st.text(alphabet="0123456789abcdefxzXG", min_size=40, max_size=43).map(lambda t: "0x" + t[:40]),
    st.text(min_size=42, max_size=42),
)


@st.composite
def manifests(draw: st.DrawFn) -> bytes:
    data = json.loads(json.dumps(GOOD))
    for _ in range(draw(st.integers(0, 3))):
        how = draw(st.sampled_from(["field", "contract", "drop", "extra"]))
        if how == "field":
            data[draw(st.sampled_from(sorted(GOOD)))] = draw(json_values | addresses)
        elif how == "contract" and isinstance(data.get("contracts"), dict):
            data["contracts"][draw(st.sampled_from(CONTRACT_NAMES))] = draw(addresses | json_values)
        elif how == "drop" and data:
            data.pop(draw(st.sampled_from(sorted(data))))
        else:
            data[draw(st.text(max_size=6))] = draw(json_values)
    return json.dumps(data).encode()


def _sound(m: Manifest | None) -> None:
    if m is None:
        return
    assert type(m.chain_id) is int and m.chain_id > 0 and m.deployed_block >= 0
    assert all(ADDRESS.fullmatch(m.contracts[n]) for n in CONTRACT_NAMES)
    assert ADDRESS.fullmatch(m.deployer)
    assert isinstance(m.dev, bool) and isinstance(m.params, dict) and isinstance(m.rpc_url, str)


def test_manifest_files_load_sound_or_are_refused(tmp_path):
    path = tmp_path / "manifest.json"

    @FUZZ
    @given(
        manifests() | st.binary(max_size=300) | st.integers(1, 100_000).map(lambda n: b'{"a":' * n)
    )
    def check(data: bytes) -> None:
        path.write_bytes(data)
        _sound(outcome(lambda: Manifest.load(path), BadInputError))

    with bounded_memory():
        check()


def test_a_good_manifest_survives_the_fuzzers_strategy():
    """The property above would pass vacuously if nothing ever loaded: the base case loads."""
    _sound(Manifest.from_dict(json.loads(json.dumps(GOOD))))
