"""The sweep's job state: one SQLite file in the run directory (WAL, synchronous=FULL, one transaction per change).

Every job is written before it starts (claimed: running) and after it ends (succeeded / failed / timed_out, or
pending again for a retry or a batch fallback), so a sweep killed at any instant, even by a reboot, knows which
jobs are done. A job left `running` by a dead orchestrator is settled by `recover` on --resume. The `events`
table keeps every attempt's story (claims, outcomes, interruptions, fallbacks) for the morning after.
"""

from __future__ import annotations

import json
import sqlite3
import time
from contextlib import contextmanager
from pathlib import Path

from flashsight.schema.config import config_id
from flashsight.schema.layout import STATE_FILE  # noqa: F401  (re-exported for the store's users)

FINAL = ("succeeded", "failed", "timed_out")
STATUSES = ("pending", "running", *FINAL)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS jobs (
    job_id TEXT PRIMARY KEY,
    seq INTEGER NOT NULL,
    in_plan INTEGER NOT NULL DEFAULT 1,      -- 0: a job of an earlier version of the plan, kept but not run
    config_id TEXT,                           -- workload + params, without the tool (schema/config.py)
    workload TEXT NOT NULL,
    tool TEXT NOT NULL,
    params TEXT NOT NULL,                     -- JSON object
    ncu TEXT NOT NULL,                        -- JSON object: the ncu options ({} for other tools)
    group_key TEXT NOT NULL,                  -- jobs with the same key may share a process (batched mode)
    timeout_s REAL NOT NULL,
    retries INTEGER NOT NULL,
    status TEXT NOT NULL DEFAULT 'pending',
    attempts INTEGER NOT NULL DEFAULT 0,      -- finished attempts (interrupted ones do not count)
    solo INTEGER NOT NULL DEFAULT 0,          -- 1: failed inside a batch, runs in its own process from now on
    token TEXT,                               -- the current attempt's id
    batch_id TEXT,
    task_id TEXT,                             -- the current attempt's task on a cluster (a Slurm job id), if any
    worker TEXT,
    job_dir TEXT NOT NULL,                    -- relative to the run directory
    started_at TEXT,
    duration_s REAL,
    error TEXT,
    log_tail TEXT,
    tables TEXT                               -- JSON: table -> rows
);
CREATE INDEX IF NOT EXISTS jobs_by_status ON jobs (status, seq);
CREATE TABLE IF NOT EXISTS events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    at TEXT NOT NULL,
    job_id TEXT,
    kind TEXT NOT NULL,
    detail TEXT
);
"""


def now_iso() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S%z")


class Store:
    """One connection; open one per thread."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self.db = sqlite3.connect(self.path, timeout=60, isolation_level=None)
        self.db.row_factory = sqlite3.Row
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=FULL")  # a committed job survives a power cut, not just a crash
        self.db.executescript(_SCHEMA)
        self._add_columns()

    def _add_columns(self) -> None:
        """A store written by flashsight 0.1 has no config_id (filled from workload + params) nor task_id column."""
        columns = {r["name"] for r in self.db.execute("PRAGMA table_info(jobs)")}
        with self.transaction() as db:
            if "config_id" not in columns:
                db.execute("ALTER TABLE jobs ADD COLUMN config_id TEXT")
            if "task_id" not in columns:
                db.execute("ALTER TABLE jobs ADD COLUMN task_id TEXT")
            rows = db.execute("SELECT job_id, workload, params FROM jobs WHERE config_id IS NULL").fetchall()
            db.executemany("UPDATE jobs SET config_id = ? WHERE job_id = ?",
                           [(config_id(r["workload"], json.loads(r["params"])), r["job_id"]) for r in rows])

    def close(self) -> None:
        self.db.close()

    @contextmanager
    def transaction(self):
        """BEGIN IMMEDIATE: take the write lock up front, so two workers never claim the same job."""
        self.db.execute("BEGIN IMMEDIATE")
        try:
            yield self.db
        except BaseException:
            self.db.execute("ROLLBACK")
            raise
        self.db.execute("COMMIT")

    # ------------------------------------------------------------------------------------------ plan

    def meta(self, key: str, default: str | None = None) -> str | None:
        row = self.db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return row["value"] if row else default

    def set_meta(self, key: str, value: str) -> None:
        with self.transaction() as db:
            db.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", (key, value))

    def sync_plan(self, plan, job_dir_of) -> dict:
        """Add the plan's new jobs, keep finished ones, set aside jobs the plan no longer has. Returns counts."""
        with self.transaction() as db:
            known = {r["job_id"]: r["status"] for r in db.execute("SELECT job_id, status FROM jobs")}
            db.execute("UPDATE jobs SET in_plan = 0")
            for spec in plan.jobs:
                db.execute(
                    "INSERT INTO jobs (job_id, seq, config_id, workload, tool, params, ncu, group_key, timeout_s, "
                    "retries, job_dir) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (job_id) DO UPDATE SET "
                    "seq = excluded.seq, in_plan = 1, timeout_s = excluded.timeout_s, retries = excluded.retries",
                    (spec.job_id, spec.seq, config_id(spec.workload, spec.params), spec.workload, spec.tool,
                     json.dumps(spec.params), json.dumps(spec.ncu),
                     spec.group_key(), spec.timeout_s, spec.retries, job_dir_of(spec)),
                )
            for key, value in (("name", plan.name), ("plan", plan.source), ("plan_dir", plan.base_dir),
                               ("updated_at", now_iso())):
                db.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", (key, value))
        reused = sum(1 for s in plan.jobs if known.get(s.job_id) in FINAL)
        return {"jobs": len(plan.jobs), "new": sum(1 for s in plan.jobs if s.job_id not in known), "done": reused}

    # ------------------------------------------------------------------------------------------ claims

    def claim(self, worker: str, batch_size: int = 1) -> list[dict]:
        """Mark the next pending job running (or up to batch_size pending jobs that may share a process)."""
        with self.transaction() as db:
            first = db.execute("SELECT * FROM jobs WHERE in_plan = 1 AND status = 'pending' "
                               "ORDER BY solo DESC, seq LIMIT 1").fetchone()
            if first is None:
                return []
            rows = [first]
            if batch_size > 1 and not first["solo"]:
                rows += db.execute(
                    "SELECT * FROM jobs WHERE in_plan = 1 AND status = 'pending' AND solo = 0 AND group_key = ? "
                    "AND job_id != ? ORDER BY seq LIMIT ?", (first["group_key"], first["job_id"], batch_size - 1)
                ).fetchall()
            started = now_iso()
            claimed = []
            for row in rows:
                token = f"{worker}-{time.time_ns()}"
                db.execute("UPDATE jobs SET status = 'running', token = ?, worker = ?, started_at = ?, "
                           "batch_id = NULL, task_id = NULL WHERE job_id = ?", (token, worker, started, row["job_id"]))
                db.execute("INSERT INTO events (at, job_id, kind, detail) VALUES (?, ?, 'claimed', ?)",
                           (started, row["job_id"], worker))
                claimed.append(dict(row) | {"status": "running", "token": token, "started_at": started,
                                            "batch_id": None, "task_id": None})
            return claimed

    def set_batch(self, job_ids: list[str], batch_id: str) -> None:
        with self.transaction() as db:
            db.executemany("UPDATE jobs SET batch_id = ? WHERE job_id = ?", [(batch_id, j) for j in job_ids])

    def set_task(self, jobs: list[dict], task_id: str, event: bool = True) -> None:
        """The cluster task that runs these claimed jobs (each attempt's id is also kept as a `submitted` event)."""
        with self.transaction() as db:
            for job in jobs:
                db.execute("UPDATE jobs SET task_id = ? WHERE job_id = ? AND status = 'running' AND token IS ?",
                           (task_id, job["job_id"], job["token"]))
                if event:
                    db.execute("INSERT INTO events (at, job_id, kind, detail) VALUES (?, ?, 'submitted', ?)",
                               (now_iso(), job["job_id"], task_id))
                job["task_id"] = task_id

    # ------------------------------------------------------------------------------------------ outcomes

    def finish(self, job: dict, status: str, *, duration_s: float, error: str | None = None,
               log_tail: str | None = None, tables: dict | None = None) -> str:
        """Record one attempt's end. A failure with retries left goes back to pending. Returns the new status."""
        with self.transaction() as db:
            row = db.execute("SELECT attempts, retries, status, token FROM jobs WHERE job_id = ?",
                             (job["job_id"],)).fetchone()
            if row["status"] != "running" or row["token"] != job["token"]:
                return row["status"]  # settled elsewhere (a recovery): never record a job twice
            attempts = row["attempts"] + 1
            final = status
            if status != "succeeded" and attempts <= row["retries"]:
                final = "pending"
            db.execute("UPDATE jobs SET status = ?, attempts = ?, duration_s = ?, error = ?, log_tail = ?, "
                       "tables = ?, token = NULL WHERE job_id = ?",
                       (final, attempts, duration_s, error, log_tail, json.dumps(tables or {}), job["job_id"]))
            detail = status if final == status else f"{status}, retry {attempts} of {row['retries']}"
            db.execute("INSERT INTO events (at, job_id, kind, detail) VALUES (?, ?, ?, ?)",
                       (now_iso(), job["job_id"], status, f"{detail}: {error}" if error else detail))
        return final

    def requeue(self, job: dict, *, solo: bool, reason: str, kind: str | None = None) -> None:
        """Back to pending without counting an attempt (an interrupted run, or a batch that went wrong).
        kind: the event's kind (default: fallback when solo, else interrupted; the Slurm executor says `lost`)."""
        with self.transaction() as db:
            db.execute("UPDATE jobs SET status = 'pending', token = NULL, solo = MAX(solo, ?) "
                       "WHERE job_id = ? AND status = 'running' AND token IS ?",
                       (int(solo), job["job_id"], job["token"]))
            db.execute("INSERT INTO events (at, job_id, kind, detail) VALUES (?, ?, ?, ?)",
                       (now_iso(), job["job_id"], kind or ("fallback" if solo else "interrupted"), reason))

    def is_current(self, job: dict) -> bool:
        """Whether job (as claimed) is still running under that claim, i.e. not yet settled."""
        row = self.db.execute("SELECT status, token FROM jobs WHERE job_id = ?", (job["job_id"],)).fetchone()
        return row is not None and row["status"] == "running" and row["token"] == job["token"]

    def reset_failed(self) -> int:
        with self.transaction() as db:
            return db.execute("UPDATE jobs SET status = 'pending', attempts = 0, solo = 0 "
                              "WHERE in_plan = 1 AND status IN ('failed', 'timed_out')").rowcount

    # ------------------------------------------------------------------------------------------ reading

    def running(self) -> list[dict]:
        return [dict(r) for r in self.db.execute("SELECT * FROM jobs WHERE status = 'running'")]

    def jobs(self, in_plan_only: bool = True) -> list[dict]:
        where = "WHERE in_plan = 1" if in_plan_only else ""
        return [dict(r) for r in self.db.execute(f"SELECT * FROM jobs {where} ORDER BY seq")]

    def count_events(self, job_id: str, kind: str) -> int:
        query = "SELECT COUNT(*) FROM events WHERE job_id = ? AND kind = ?"
        return self.db.execute(query, (job_id, kind)).fetchone()[0]

    def counts(self) -> dict[str, int]:
        out = dict.fromkeys(STATUSES, 0)
        for row in self.db.execute("SELECT status, COUNT(*) AS n FROM jobs WHERE in_plan = 1 GROUP BY status"):
            out[row["status"]] = row["n"]
        return out

    def durations(self) -> list[tuple[str, str, float]]:
        """(workload, tool, duration_s) of finished attempts, for estimates."""
        return [(r["workload"], r["tool"], r["duration_s"]) for r in self.db.execute(
            "SELECT workload, tool, duration_s FROM jobs WHERE status = 'succeeded' AND duration_s IS NOT NULL")]
