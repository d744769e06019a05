"""The demo drives the real node core through whole jobs on the embedded chain."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from milon_app.demo import DemoOptions, run_demo
from milon_app.errors import BadInputError
from milon_app.exit_codes import ExitCode

ETHER = 10**18


def test_honest_federation_trains_pays_by_capacity_and_governs(tmp_path):
    """Over real libp2p hosts on 127.0.0.1 (the default transport)."""
    rep = run_demo(DemoOptions(nodes=3, rounds=2, epochs_per_round=6, workdir=tmp_path))
    assert rep.options["transport"] == "libp2p"
    assert [r.round for r in rep.rounds] == [1, 2]
    caps = [n["capacity"] for n in rep.nodes]
    assert caps == sorted(caps) and len(set(caps)) == 3
    for row in rep.rounds:
        epochs = [row.epochs[n["address"]] for n in rep.nodes]
        assert sum(epochs) == 6 and epochs == sorted(epochs)  # capacity-proportional
        assert sorted(row.accepted) == sorted(n["address"] for n in rep.nodes)
        assert row.rejected == {}
        assert row.gas_used > 0
    for n in rep.nodes:
        a = n["address"]
        assert rep.rewards[a] == sum(r.epochs[a] for r in rep.rounds) * ETHER
        assert rep.slashed[a] == 0
    assert rep.final_accuracy is not None and rep.final_accuracy > 0.8
    assert rep.centralized_accuracy is not None
    assert rep.governance["state"] == "executed"
    assert rep.governance["slash_bps_after"] == 1500
    # every contributor kept its loss curve in its state database
    from milon_app.node.state import StateDB

    for i in range(3):
        db = StateDB(tmp_path / f"node{i}" / "state.db")
        rows = db.metrics(rep.job_id)
        assert rows and {r[0] for r in rows} == {1, 2}
        assert all(loss > 0 for _, _, _, loss, _, _ in rows)
        db.close()


@pytest.mark.parametrize(("rule", "attack"), [("median", "signflip"), ("fedavg", "lazy")])
def test_byzantine_node_is_rejected_and_slashed(tmp_path, rule, attack):
    rep = run_demo(DemoOptions(nodes=4, rounds=2, epochs_per_round=8, rule=rule,
                               byzantine=1, attack=attack, workdir=tmp_path,
                               governance=False, baseline=False, transport="inprocess"))
    bad = rep.nodes[-1]["address"]
    honest = [n["address"] for n in rep.nodes[:-1]]
    first, second = rep.rounds
    assert bad in first.rejected and bad not in first.accepted
    assert sorted(first.accepted) == sorted(honest)
    # slashed in round 1, the attacker sits out round 2; its epochs went to the others
    assert second.epochs[bad] == 0 and bad not in second.accepted
    assert sum(second.epochs.values()) == 8 and sorted(second.accepted) == sorted(honest)
    assert rep.slashed[bad] > 0 and rep.rewards[bad] == 0
    for a in honest:
        assert rep.rewards[a] > 0 and rep.slashed[a] == 0


def test_noshow_node_is_slashed_after_the_deadline(tmp_path):
    rep = run_demo(DemoOptions(nodes=3, rounds=1, epochs_per_round=6, byzantine=1,
                               attack="noshow", workdir=tmp_path, governance=False,
                               baseline=False, transport="inprocess"))
    bad = rep.nodes[-1]["address"]
    assert rep.slashed[bad] > 0 and rep.rewards[bad] == 0
    assert bad not in rep.rounds[0].accepted and len(rep.rounds[0].accepted) == 2


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"nodes": 1}, "--nodes"),
        ({"rounds": 0}, "--rounds"),
        ({"rule": "mean"}, "--rule"),
        ({"byzantine": 4}, "--byzantine"),
        ({"dataset": "mnist"}, "--dataset"),
        ({"transport": "carrier-pigeon"}, "--transport"),
        ({"attack": "bribe", "byzantine": 1}, "unknown attack"),
    ],
)
def test_bad_options_are_refused(kwargs, message):
    with pytest.raises(BadInputError, match=message):
        run_demo(DemoOptions(**kwargs))


def test_cli_json_output(tmp_path):
    res = subprocess.run(
        [sys.executable, "-m", "milon_app", "--home", str(tmp_path), "--json", "demo",
         "--nodes", "2", "--rounds", "1", "--epochs-per-round", "4"],
        capture_output=True, text=True, timeout=300,
    )
    assert res.returncode == 0, res.stderr
    data = json.loads(res.stdout)
    for key in ("final_accuracy", "centralized_accuracy", "rounds", "rewards", "slashed",
                "governance", "wall_seconds"):
        assert key in data
    row = data["rounds"][0]
    for key in ("round", "accuracy", "accepted", "rejected", "gas_used"):
        assert key in row
    assert data["governance"]["state"] == "executed"
    bad = subprocess.run([sys.executable, "-m", "milon_app", "demo", "--nodes", "1"],
                         capture_output=True, text=True, timeout=60)
    assert bad.returncode == ExitCode.BAD_INPUT
    assert "--nodes must be in 2..64" in bad.stderr


def test_shared_data_mode_trains_on_the_owners_shards(tmp_path):
    """Contributors hold no data: they fetch their shard from the owner over libp2p."""
    from milon_app.node.shards import SharedData, parse_dataset_doc
    from milon_app.store.blobs import BlobStore

    rep = run_demo(DemoOptions(nodes=2, rounds=1, epochs_per_round=4, data_mode="shared",
                               workdir=tmp_path, governance=False))
    owner_store = BlobStore(tmp_path / "owner" / "blobs")
    shared = []
    for digest in owner_store.digests():
        if owner_store.size(digest) < 64 * 1024:  # the model spec, the dataset document
            try:
                doc = parse_dataset_doc(owner_store.get(digest))
            except BadInputError:  # the model spec
                continue
            if isinstance(doc, SharedData):
                shared.append(doc)
    assert len(shared) == 1 and len(shared[0].shards) == 2
    for i in range(2):
        store = BlobStore(tmp_path / f"node{i}" / "blobs")
        assert sum(store.has(s) for s in shared[0].shards) >= 1
    assert all(rep.rewards[n["address"]] > 0 for n in rep.nodes)
    assert rep.rounds[0].accuracy is not None and rep.rounds[0].accuracy > 0.5


def test_demo_on_a_devnet_over_json_rpc(tmp_path):
    from milon_app.chain.devnet import Anvil

    with Anvil(accounts=4) as node:
        rep = run_demo(DemoOptions(nodes=2, rounds=1, epochs_per_round=4, chain=node.url,
                                   transport="inprocess", baseline=False, workdir=tmp_path))
    assert rep.governance["state"] == "executed"
    assert all(rep.rewards[n["address"]] > 0 for n in rep.nodes)
    assert rep.total_gas > 0
