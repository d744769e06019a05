from __future__ import annotations

import multiprocessing
import os

import pytest

from milon_app.errors import ConfigError
from milon_app.node.state import StateDB


def test_commit_intent_survives_reopen(tmp_path):
    db = StateDB(tmp_path / "node.db")
    db.record_commit_intent(1, 2, b"\x01" * 32, b"\x02" * 32, 100)
    db.record_commit_intent(1, 2, b"\x09" * 32, b"\x09" * 32, 5)  # a replay never overwrites
    db.mark_committed(1, 2)
    db.set_next_block(42)
    db.close()
    db = StateDB(tmp_path / "node.db")
    rec = db.commit_record(1, 2)
    assert rec is not None
    assert (rec.update_hash, rec.salt, rec.num_samples) == (b"\x01" * 32, b"\x02" * 32, 100)
    assert rec.committed and not rec.revealed
    assert db.next_block(0) == 42
    assert db.commit_record(1, 3) is None


def test_rewards_are_recorded_once(tmp_path):
    db = StateDB(tmp_path / "n.db")
    assert db.record_reward(1, 1, 5)
    assert not db.record_reward(1, 1, 5)
    assert db.total_rewards() == 5


def test_metrics_results_proposals(tmp_path):
    db = StateDB(tmp_path / "n.db")
    db.add_metric(1, 1, 0, 3, 0.5, 100.0, 1.0)
    assert db.metrics(1) == [(1, 0, 3, 0.5, 100.0, 1.0)]
    db.record_round_result(1, 1, "ab", 0.9, {"gas": 5})
    assert db.round_results(1) == [(1, "ab", 0.9, {"gas": 5})]
    db.record_proposal(1, 1, "cd", ["0x1"], {"0x2": "nan"})
    assert db.proposal(1, 1) == ("cd", ["0x1"], {"0x2": "nan"}, False)
    db.mark_proposal_sent(1, 1)
    assert db.proposal(1, 1)[3] is True


def _write_and_die(path: str) -> None:
    db = StateDB(path)
    for i in range(200):
        db.add_metric(1, 1, 0, i, 0.1, 1.0, 0.0)
    os._exit(9)  # no close, no checkpoint: as after kill -9


def test_survives_a_crash_mid_write(tmp_path):
    path = tmp_path / "n.db"
    StateDB(path).close()
    proc = multiprocessing.get_context("fork").Process(target=_write_and_die, args=(str(path),))
    proc.start()
    proc.join(30)
    assert proc.exitcode == 9
    db = StateDB(path)
    assert len(db.metrics(1)) == 200


def test_garbage_file_is_a_clear_error(tmp_path):
    path = tmp_path / "n.db"
    path.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(ConfigError, match="unreadable"):
        StateDB(path)
