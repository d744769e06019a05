"""The node's local state: SQLite in WAL mode, safe across crashes.

The chain is the source of truth; this database remembers what only this
node knows (the salt behind a commitment, which blob holds its update, the
block height it has processed, training metrics). Intents are written
*before* the matching transaction is sent, so a node killed between the two
can finish the job after a restart instead of committing twice.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from milon_app.errors import ConfigError

SCHEMA_VERSION = 2  # 2: protocol v2 (committee verdicts and confirmations replace proposals)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS memberships (
    fed_id INTEGER PRIMARY KEY, stake TEXT NOT NULL, capacity INTEGER NOT NULL,
    joined_block INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS jobs (
    job_id INTEGER PRIMARY KEY, fed_id INTEGER NOT NULL, role TEXT NOT NULL,
    info TEXT NOT NULL DEFAULT '{}'
);
CREATE TABLE IF NOT EXISTS assignments (
    job_id INTEGER NOT NULL, round INTEGER NOT NULL, epochs INTEGER NOT NULL,
    decision TEXT NOT NULL DEFAULT '', PRIMARY KEY (job_id, round)
);
CREATE TABLE IF NOT EXISTS commits (
    job_id INTEGER NOT NULL, round INTEGER NOT NULL, update_hash TEXT NOT NULL,
    salt TEXT NOT NULL, num_samples INTEGER NOT NULL, committed INTEGER NOT NULL DEFAULT 0,
    revealed INTEGER NOT NULL DEFAULT 0, PRIMARY KEY (job_id, round)
);
CREATE TABLE IF NOT EXISTS verdicts (
    job_id INTEGER NOT NULL, round INTEGER NOT NULL, accept_bits TEXT NOT NULL,
    reasons TEXT NOT NULL, detail TEXT NOT NULL, sent INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (job_id, round)
);
CREATE TABLE IF NOT EXISTS confirmations (
    job_id INTEGER NOT NULL, round INTEGER NOT NULL, model_hash TEXT NOT NULL,
    sent INTEGER NOT NULL DEFAULT 0, PRIMARY KEY (job_id, round)
);
CREATE TABLE IF NOT EXISTS judge_history (
    job_id INTEGER PRIMARY KEY, data TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS metrics (
    job_id INTEGER NOT NULL, round INTEGER NOT NULL, epoch INTEGER NOT NULL,
    step INTEGER NOT NULL, loss REAL NOT NULL, samples_per_s REAL NOT NULL, ts REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS round_results (
    job_id INTEGER NOT NULL, round INTEGER NOT NULL, model_hash TEXT NOT NULL,
    accuracy REAL, info TEXT NOT NULL DEFAULT '{}', PRIMARY KEY (job_id, round)
);
CREATE TABLE IF NOT EXISTS capacities (
    spec_hash TEXT NOT NULL, device TEXT NOT NULL, threads INTEGER NOT NULL,
    score INTEGER NOT NULL, samples_per_s REAL NOT NULL, measured_at REAL NOT NULL,
    PRIMARY KEY (spec_hash, device, threads)
);
CREATE TABLE IF NOT EXISTS rewards (
    job_id INTEGER NOT NULL, round INTEGER NOT NULL, amount TEXT NOT NULL,
    PRIMARY KEY (job_id, round)
);
"""


@dataclass(frozen=True)
class CommitRecord:
    job_id: int
    round: int
    update_hash: bytes
    salt: bytes
    num_samples: int
    committed: bool
    revealed: bool


class StateDB:
    """One connection guarded by a lock; every write is its own transaction."""

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        if str(path) != ":memory:":
            self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        try:
            self._db = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.executescript(_SCHEMA)
        except sqlite3.DatabaseError as exc:
            raise ConfigError(f"node state database {path} is unreadable: {exc}") from exc
        version = self.get_meta("schema_version")
        if version == "1":  # v1's proposals belong to a protocol no chain runs any more
            self._exec("DROP TABLE IF EXISTS proposals")
            version = None
        if version is None:
            self.set_meta("schema_version", str(SCHEMA_VERSION))
        elif int(version) != SCHEMA_VERSION:
            raise ConfigError(
                f"node state database {path} has schema {version}, expected {SCHEMA_VERSION}"
            )

    @classmethod
    def reader(cls, path: Path) -> StateDB:
        """A read-only view of a database another process writes (the simulated members'
        nodes, read by the window): no schema work, so it never contends for a write."""
        db = cls.__new__(cls)
        db.path = Path(path)
        db._lock = threading.Lock()
        try:
            db._db = sqlite3.connect(
                f"{db.path.resolve().as_uri()}?mode=ro", uri=True, check_same_thread=False
            )
            db._db.execute("PRAGMA busy_timeout=2000")
        except sqlite3.DatabaseError as exc:
            raise ConfigError(f"node state database {path} is unreadable: {exc}") from exc
        return db

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def _exec(self, sql: str, args: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        with self._lock:
            return self._db.execute(sql, args).fetchall()

    # -- meta -----------------------------------------------------------------------------
    def get_meta(self, key: str) -> str | None:
        rows = self._exec("SELECT value FROM meta WHERE key=?", (key,))
        return str(rows[0][0]) if rows else None

    def set_meta(self, key: str, value: str) -> None:
        self._exec("INSERT OR REPLACE INTO meta(key, value) VALUES (?, ?)", (key, value))

    def next_block(self, default: int) -> int:
        value = self.get_meta("next_block")
        return default if value is None else int(value)

    def set_next_block(self, block: int) -> None:
        self.set_meta("next_block", str(block))

    # -- memberships and jobs -------------------------------------------------------------
    def record_membership(self, fed_id: int, stake: int, capacity: int, block: int) -> None:
        self._exec(
            "INSERT OR REPLACE INTO memberships VALUES (?, ?, ?, ?)",
            (fed_id, str(stake), capacity, block),
        )

    def memberships(self) -> list[int]:
        return [int(r[0]) for r in self._exec("SELECT fed_id FROM memberships ORDER BY fed_id")]

    def record_job(self, job_id: int, fed_id: int, role: str, info: dict[str, Any]) -> None:
        self._exec(
            "INSERT OR REPLACE INTO jobs VALUES (?, ?, ?, ?)",
            (job_id, fed_id, role, json.dumps(info, sort_keys=True)),
        )

    def job_info(self, job_id: int) -> tuple[str, dict[str, Any]] | None:
        rows = self._exec("SELECT role, info FROM jobs WHERE job_id=?", (job_id,))
        return (str(rows[0][0]), json.loads(rows[0][1])) if rows else None

    def jobs(self, role: str | None = None) -> list[int]:
        if role is None:
            rows = self._exec("SELECT job_id FROM jobs ORDER BY job_id")
        else:
            rows = self._exec("SELECT job_id FROM jobs WHERE role=? ORDER BY job_id", (role,))
        return [int(r[0]) for r in rows]

    # -- assignments and commits ----------------------------------------------------------
    def record_assignment(self, job_id: int, rnd: int, epochs: int, decision: str = "") -> None:
        self._exec(
            "INSERT OR REPLACE INTO assignments VALUES (?, ?, ?, ?)",
            (job_id, rnd, epochs, decision),
        )

    def assignment_decision(self, job_id: int, rnd: int) -> str | None:
        rows = self._exec(
            "SELECT decision FROM assignments WHERE job_id=? AND round=?", (job_id, rnd)
        )
        return str(rows[0][0]) if rows else None

    def accepted_rounds(self, job_id: int, before: int) -> int:
        """Rounds of a job this node accepted before round ``before`` (privacy accounting)."""
        rows = self._exec(
            "SELECT COUNT(*) FROM assignments WHERE job_id=? AND round<? AND decision='accepted'",
            (job_id, before),
        )
        return int(rows[0][0])

    def accepted_epochs(self, job_id: int, before: int) -> int:
        """Epochs of a job this node accepted before round ``before`` (dp-sgd accounting)."""
        rows = self._exec(
            "SELECT COALESCE(SUM(epochs), 0) FROM assignments "
            "WHERE job_id=? AND round<? AND decision='accepted'",
            (job_id, before),
        )
        return int(rows[0][0])

    def record_commit_intent(
        self, job_id: int, rnd: int, update_hash: bytes, salt: bytes, num_samples: int
    ) -> None:
        """Store the secret half of a commitment before the commit transaction is sent."""
        self._exec(
            "INSERT OR IGNORE INTO commits(job_id, round, update_hash, salt, num_samples) "
            "VALUES (?, ?, ?, ?, ?)",
            (job_id, rnd, update_hash.hex(), salt.hex(), num_samples),
        )

    def mark_committed(self, job_id: int, rnd: int) -> None:
        self._exec("UPDATE commits SET committed=1 WHERE job_id=? AND round=?", (job_id, rnd))

    def mark_revealed(self, job_id: int, rnd: int) -> None:
        self._exec("UPDATE commits SET revealed=1 WHERE job_id=? AND round=?", (job_id, rnd))

    def commit_record(self, job_id: int, rnd: int) -> CommitRecord | None:
        rows = self._exec(
            "SELECT update_hash, salt, num_samples, committed, revealed FROM commits "
            "WHERE job_id=? AND round=?",
            (job_id, rnd),
        )
        if not rows:
            return None
        uh, salt, n, committed, revealed = rows[0]
        return CommitRecord(
            job_id,
            rnd,
            bytes.fromhex(uh),
            bytes.fromhex(salt),
            int(n),
            bool(committed),
            bool(revealed),
        )

    # -- committee duty -------------------------------------------------------------------
    def record_verdict(
        self, job_id: int, rnd: int, accept_bits: int, reasons: bytes, detail: dict[str, Any]
    ) -> None:
        """Keep a verdict before it is sent, so a restart sends the same one."""
        self._exec(
            "INSERT OR IGNORE INTO verdicts(job_id, round, accept_bits, reasons, detail) "
            "VALUES (?, ?, ?, ?, ?)",
            (job_id, rnd, str(accept_bits), reasons.hex(), json.dumps(detail, sort_keys=True)),
        )

    def verdict(self, job_id: int, rnd: int) -> tuple[int, bytes, dict[str, Any], bool] | None:
        rows = self._exec(
            "SELECT accept_bits, reasons, detail, sent FROM verdicts WHERE job_id=? AND round=?",
            (job_id, rnd),
        )
        if not rows:
            return None
        bits, reasons, detail, sent = rows[0]
        return int(bits), bytes.fromhex(reasons), json.loads(detail), bool(sent)

    def mark_verdict_sent(self, job_id: int, rnd: int) -> None:
        self._exec("UPDATE verdicts SET sent=1 WHERE job_id=? AND round=?", (job_id, rnd))

    def record_confirmation(self, job_id: int, rnd: int, model_hash: str) -> None:
        self._exec(
            "INSERT OR IGNORE INTO confirmations(job_id, round, model_hash) VALUES (?, ?, ?)",
            (job_id, rnd, model_hash),
        )

    def confirmation(self, job_id: int, rnd: int) -> tuple[str, bool] | None:
        rows = self._exec(
            "SELECT model_hash, sent FROM confirmations WHERE job_id=? AND round=?",
            (job_id, rnd),
        )
        return (str(rows[0][0]), bool(rows[0][1])) if rows else None

    def mark_confirmation_sent(self, job_id: int, rnd: int) -> None:
        self._exec("UPDATE confirmations SET sent=1 WHERE job_id=? AND round=?", (job_id, rnd))

    def judge_history(self, job_id: int) -> str | None:
        """What this node's verdict function remembers of a job (its JSON form)."""
        rows = self._exec("SELECT data FROM judge_history WHERE job_id=?", (job_id,))
        return str(rows[0][0]) if rows else None

    def set_judge_history(self, job_id: int, data: str) -> None:
        self._exec("INSERT OR REPLACE INTO judge_history VALUES (?, ?)", (job_id, data))

    # -- capacity per job model -----------------------------------------------------------
    def record_capacity(
        self, spec_hash: str, device: str, threads: int, score: int, samples_per_s: float, ts: float
    ) -> None:
        """Keep a capacity measured on a model spec (its hash fixes the batch size too)."""
        self._exec(
            "INSERT OR REPLACE INTO capacities VALUES (?, ?, ?, ?, ?, ?)",
            (spec_hash, device, threads, score, samples_per_s, ts),
        )

    def capacity(self, spec_hash: str, device: str, threads: int) -> int | None:
        """The score measured on this spec, device and thread count, if any."""
        rows = self._exec(
            "SELECT score FROM capacities WHERE spec_hash=? AND device=? AND threads=?",
            (spec_hash, device, threads),
        )
        return int(rows[0][0]) if rows else None

    # -- metrics, results, rewards --------------------------------------------------------
    def add_metric(
        self, job_id: int, rnd: int, epoch: int, step: int, loss: float, sps: float, ts: float
    ) -> None:
        self._exec(
            "INSERT INTO metrics VALUES (?, ?, ?, ?, ?, ?, ?)",
            (job_id, rnd, epoch, step, loss, sps, ts),
        )

    def metrics(self, job_id: int) -> list[tuple[int, int, int, float, float, float]]:
        rows = self._exec(
            "SELECT round, epoch, step, loss, samples_per_s, ts FROM metrics WHERE job_id=? "
            "ORDER BY rowid",
            (job_id,),
        )
        return [(int(a), int(b), int(c), float(d), float(e), float(f)) for a, b, c, d, e, f in rows]

    def record_round_result(
        self, job_id: int, rnd: int, model_hash: str, accuracy: float | None, info: dict[str, Any]
    ) -> None:
        self._exec(
            "INSERT OR REPLACE INTO round_results VALUES (?, ?, ?, ?, ?)",
            (job_id, rnd, model_hash, accuracy, json.dumps(info, sort_keys=True, default=str)),
        )

    def round_results(self, job_id: int) -> list[tuple[int, str, float | None, dict[str, Any]]]:
        rows = self._exec(
            "SELECT round, model_hash, accuracy, info FROM round_results WHERE job_id=? "
            "ORDER BY round",
            (job_id,),
        )
        return [(int(r), str(m), a, json.loads(i)) for r, m, a, i in rows]

    def record_reward(self, job_id: int, rnd: int, amount: int) -> bool:
        """True the first time a round's reward is recorded (events may be replayed)."""
        with self._lock:
            cur = self._db.execute(
                "INSERT OR IGNORE INTO rewards VALUES (?, ?, ?)", (job_id, rnd, str(amount))
            )
            return cur.rowcount == 1

    def total_rewards(self) -> int:
        return sum(int(r[0]) for r in self._exec("SELECT amount FROM rewards"))
