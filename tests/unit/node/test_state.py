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


def test_metrics_results_and_committee_duty(tmp_path):
    db = StateDB(tmp_path / "n.db")
    db.add_metric(1, 1, 0, 3, 0.5, 100.0, 1.0)
    assert db.metrics(1) == [(1, 0, 3, 0.5, 100.0, 1.0)]
    db.record_round_result(1, 1, "ab", 0.9, {"gas": 5})
    assert db.round_results(1) == [(1, "ab", 0.9, {"gas": 5})]
    detail = {"accepted": ["0x1"], "rejected": {"0x2": "harmful: ..."}}
    db.record_verdict(1, 1, 0b101, b"\0\x0a\0", detail)
    db.record_verdict(1, 1, 0b111, b"\0\0\0", {})  # a restart keeps the first verdict
    assert db.verdict(1, 1) == (0b101, b"\0\x0a\0", detail, False)
    db.mark_verdict_sent(1, 1)
    assert db.verdict(1, 1)[3] is True
    db.record_confirmation(1, 1, "cd")
    assert db.confirmation(1, 1) == ("cd", False)
    db.mark_confirmation_sent(1, 1)
    assert db.confirmation(1, 1) == ("cd", True)
    db.set_judge_history(1, '{"version": 1}')
    assert db.judge_history(1) == '{"version": 1}' and db.judge_history(2) is None


def test_a_v1_database_is_upgraded(tmp_path):
    import sqlite3

    path = tmp_path / "old.db"
    con = sqlite3.connect(path)
    con.execute("CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
    con.execute("INSERT INTO meta VALUES ('schema_version', '1')")
    con.execute("CREATE TABLE proposals (job_id INTEGER, round INTEGER)")
    con.commit()
    con.close()
    db = StateDB(path)
    assert db.get_meta("schema_version") == "2"
    assert not db._exec("SELECT name FROM sqlite_master WHERE name='proposals'")
    db.record_verdict(1, 1, 1, b"\0", {})


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
