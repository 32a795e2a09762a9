"""The run store's tables, and the migration of every older state.db to them (in one
transaction: a store is at one version or the one before, never between)."""

from __future__ import annotations

import sqlite3

from genesis_par.state import legacy
from genesis_par.state.merges import MERGE_STEPS, steps_from_passes

SCHEMA_VERSION = 5

# version 1; each later version adds to it below
SCHEMA = """
CREATE TABLE runs (
    name TEXT PRIMARY KEY, plan_path TEXT, plan_text TEXT, base_ref TEXT, base_commit TEXT,
    into_ref TEXT, status TEXT, supervisor_pid INTEGER, supervisor_create_time REAL,
    created_at REAL, finished_at REAL);
CREATE TABLE tasks (
    run TEXT, id TEXT, idx INTEGER, status TEXT, failure TEXT, reason TEXT, attempts INTEGER,
    exit_code INTEGER, branch TEXT, start_commit TEXT, "commit" TEXT, changed INTEGER,
    duration_s REAL, peak_rss_bytes INTEGER, log TEXT, PRIMARY KEY (run, id));
CREATE TABLE attempts (
    run TEXT, task TEXT, n INTEGER, pid INTEGER, create_time REAL, started_at REAL,
    finished_at REAL, exit_code INTEGER, failure TEXT, peak_rss_bytes INTEGER, log TEXT,
    PRIMARY KEY (run, task, n));
CREATE TABLE events (
    id INTEGER PRIMARY KEY AUTOINCREMENT, run TEXT, task TEXT, at REAL, kind TEXT, data TEXT);
CREATE TABLE merges (
    run TEXT, seq INTEGER, into_ref TEXT, before_commit TEXT, after_commit TEXT, data TEXT,
    at REAL, PRIMARY KEY (run, seq));
"""

USAGE = (  # what was spent: tokens, cost, turns, model(s) (genesis_par.usage)
    "input_tokens INTEGER",
    "output_tokens INTEGER",
    "cost_usd REAL",
    "turns INTEGER",
    "model TEXT",
)

# 5: how a finished run's work came home (state.landings' records, in their own encoding)
LANDINGS = "CREATE TABLE landings (run TEXT PRIMARY KEY, pairs TEXT, queue TEXT)"
# 5: each candidate of a best_of task (state.records.CandidateRecord)
CANDIDATES = f"""
CREATE TABLE candidates (
    run TEXT, task TEXT, k INTEGER, agent TEXT, exit_code INTEGER, failure TEXT, "check" TEXT,
    diff_lines INTEGER, {", ".join(USAGE)}, winner INTEGER, PRIMARY KEY (run, task, k))
"""
# 5: a task's spend and node as it ended (what `run --json` showed), NULL until then
TASK_ENDS = ("node TEXT", "cpu_s REAL", *USAGE, "usage_notes TEXT")


def migrate(db: sqlite3.Connection) -> None:
    """Bring the store to SCHEMA_VERSION, from any older version (0: a new file)."""
    version = db.execute("PRAGMA user_version").fetchone()[0]
    if version == 0:
        for statement in SCHEMA.split(";"):
            if statement.strip():
                db.execute(statement)
    if version < 2:  # the run's final JSON object (read into records by 5)
        db.execute("ALTER TABLE runs ADD COLUMN result TEXT")
    if version < 3:
        db.execute(MERGE_STEPS)
        steps_from_passes(db)
    if version < 4:  # what each attempt spent; the task's agent and best_of candidates
        for column in (*USAGE, "cpu_s REAL", "usage_notes TEXT"):
            db.execute(f"ALTER TABLE attempts ADD COLUMN {column}")
        db.execute("ALTER TABLE tasks ADD COLUMN agent TEXT")
        db.execute("ALTER TABLE tasks ADD COLUMN candidates TEXT")
    if version < 5:  # the store's own records, no longer the --json object
        for column in TASK_ENDS:
            db.execute(f"ALTER TABLE tasks ADD COLUMN {column}")
        db.execute(LANDINGS)
        db.execute(CANDIDATES)
        legacy.migrate(db)
    if version != SCHEMA_VERSION:
        db.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
