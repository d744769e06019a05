"""``milon sim``: a small simulation through the real CLI entry point, JSON fields checked."""

from __future__ import annotations

import json

from milon_app.cli.main import main


def test_sim_json(capsys, tmp_path):
    code = main(
        ["--home", str(tmp_path), "--json", "sim", "--members", "8", "--committee", "3",
         "--rounds", "2"]
    )  # fmt: skip
    out, _ = capsys.readouterr()
    assert code == 0
    data = json.loads(out)
    assert data["members"] == 8 and data["committee"] == 3
    assert data["peak_rss_mib"] > 0
    assert [r["round"] for r in data["rounds"]] == [1, 2]
    for r in data["rounds"]:
        assert r["wall_seconds"] > 0
        assert r["gas_per_member"] > 0
        assert r["round_members"] == 8 and 1 <= r["accepted"] <= 8  # judged on chain
        assert 0.0 <= r["accuracy"] <= 1.0
    assert data["trained_members"] == 16


def test_sim_rejects_a_committee_out_of_bounds(capsys, tmp_path):
    code = main(["--home", str(tmp_path), "sim", "--members", "8", "--committee", "99"])
    _, err = capsys.readouterr()
    assert code != 0 and "--committee" in err
