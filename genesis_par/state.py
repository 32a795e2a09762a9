"""The run store: SQLite (WAL) in the git common dir; every transition in its own transaction."""

from __future__ import annotations

import fcntl
import json
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any, NamedTuple

from genesis_par.errors import UsageError

SCHEMA_VERSION = 2
TASK_FIELDS = [
    "status",
    "failure",
    "reason",
    "attempts",
    "exit_code",
    "branch",
    "start_commit",
    "commit",
    "changed",
    "duration_s",
    "peak_rss_bytes",
    "log",
]

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


@contextmanager
def run_lock(state_dir: Path, run: str) -> Iterator[None]:
    """Hold the run's lock while supervising it; the kernel drops it if this process dies."""
    path = state_dir / "locks" / f"{run}.lock"
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a+") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            owner = handle.read().strip() or "unknown"
            raise UsageError(
                f'run "{run}" is already being supervised by genesis-par (pid {owner}): '
                f"wait for it to finish, or stop it (kill -INT {owner})"
            ) from None
        handle.truncate(0)
        handle.write(str(os.getpid()))
        handle.flush()
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


class RunRecord(NamedTuple):
    name: str
    plan_path: str
    plan_text: str
    base_ref: str
    base_commit: str
    into_ref: str
    status: str
    supervisor_pid: int | None
    supervisor_create_time: float | None
    created_at: float
    finished_at: float | None


RUN_COLUMNS = ", ".join(RunRecord._fields)


class AttemptRecord(NamedTuple):
    run: str
    task: str
    n: int
    pid: int | None
    create_time: float | None
    started_at: float | None
    finished_at: float | None
    exit_code: int | None
    failure: str | None
    peak_rss_bytes: int | None
    log: str | None


class Store:
    """One connection shared by the run's threads, guarded by a lock."""

    def __init__(self, db: sqlite3.Connection, now: Callable[[], float]) -> None:
        self.db, self.now = db, now
        self.lock = threading.Lock()

    @classmethod
    @contextmanager
    def open(cls, state_dir: Path, now: Callable[[], float] = time.time) -> Iterator[Store]:
        """Open (creating if needed) state.db in state_dir."""
        state_dir.mkdir(parents=True, exist_ok=True)
        db = sqlite3.connect(
            state_dir / "state.db", check_same_thread=False, timeout=30, isolation_level=None
        )
        try:
            db.execute("PRAGMA journal_mode=WAL")
            # FULL: a committed transition survives power loss, not only a killed process.
            db.execute("PRAGMA synchronous=FULL")
            store = cls(db, now)
            store._migrate()
            yield store
        finally:
            db.close()

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        with self.lock:
            self.db.execute("BEGIN IMMEDIATE")
            try:
                yield self.db
            except BaseException:
                self.db.execute("ROLLBACK")
                raise
            self.db.execute("COMMIT")

    def _migrate(self) -> None:
        with self._tx() as db:
            version = db.execute("PRAGMA user_version").fetchone()[0]
            if version == 0:
                for statement in SCHEMA.split(";"):
                    if statement.strip():
                        db.execute(statement)
            if version in (0, 1):  # 2: the run's final JSON object, for `report`
                db.execute("ALTER TABLE runs ADD COLUMN result TEXT")
            db.execute(f"PRAGMA user_version={SCHEMA_VERSION}")

    # --- runs ---

    def create_run(
        self,
        name: str,
        *,
        plan_path: str,
        plan_text: str,
        base_ref: str,
        base_commit: str,
        into_ref: str,
        pid: int,
        create_time: float,
        tasks: Mapping[str, str],
    ) -> None:
        """Record a new run and its tasks (id -> branch), all pending."""
        with self._tx() as db:
            if db.execute("SELECT 1 FROM runs WHERE name=?", (name,)).fetchone():
                raise UsageError(
                    f'a run named "{name}" is already recorded: choose a new name with --name'
                )
            db.execute(
                f"INSERT INTO runs ({RUN_COLUMNS}) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
                (
                    name,
                    plan_path,
                    plan_text,
                    base_ref,
                    base_commit,
                    into_ref,
                    "running",
                    pid,
                    create_time,
                    self.now(),
                    None,
                ),
            )
            db.executemany(
                "INSERT INTO tasks (run, id, idx, status, attempts, branch) VALUES (?,?,?,?,0,?)",
                [(name, t, i, "pending", b) for i, (t, b) in enumerate(tasks.items())],
            )

    def get_run(self, name: str) -> RunRecord | None:
        """The run with this name."""
        row = self.db.execute(f"SELECT {RUN_COLUMNS} FROM runs WHERE name=?", (name,)).fetchone()
        return RunRecord(*row) if row else None

    def latest_run(self) -> RunRecord | None:
        """The run created last."""
        row = self.db.execute(
            f"SELECT {RUN_COLUMNS} FROM runs ORDER BY created_at DESC LIMIT 1"
        ).fetchone()
        return RunRecord(*row) if row else None

    def runs(self) -> list[RunRecord]:
        """Every run, newest first."""
        rows = self.db.execute(
            f"SELECT {RUN_COLUMNS} FROM runs ORDER BY created_at DESC"
        ).fetchall()
        return [RunRecord(*r) for r in rows]

    def take_over(self, name: str, pid: int, create_time: float) -> None:
        """This process now supervises the run (resume)."""
        with self._tx() as db:
            db.execute(
                "UPDATE runs SET status='running', supervisor_pid=?, supervisor_create_time=?, "
                "finished_at=NULL WHERE name=?",
                (pid, create_time, name),
            )

    def set_result(self, name: str, result: Mapping[str, Any]) -> None:
        """Keep the run's final JSON object (what `run --json` printed) for `report`."""
        with self._tx() as db:
            db.execute("UPDATE runs SET result=? WHERE name=?", (json.dumps(result), name))

    def result(self, name: str) -> dict[str, Any] | None:
        """The run's final JSON object, if it finished."""
        row = self.db.execute("SELECT result FROM runs WHERE name=?", (name,)).fetchone()
        return json.loads(row[0]) if row and row[0] else None

    def finish_run(self, name: str, status: str) -> None:
        """Record a run's final status."""
        with self._tx() as db:
            db.execute(
                "UPDATE runs SET status=?, finished_at=? WHERE name=?", (status, self.now(), name)
            )

    def forget_run(self, name: str) -> None:
        """Delete every record of a run (`runs rm`): its tasks, attempts, events and merges."""
        with self._tx() as db:
            for table in ("tasks", "attempts", "events", "merges"):
                db.execute(f"DELETE FROM {table} WHERE run=?", (name,))
            db.execute("DELETE FROM runs WHERE name=?", (name,))

    # --- tasks, attempts, events ---

    def record_event(self, run: str, task: str | None, kind: str, data: Mapping[str, Any]) -> None:
        """Record an event and the transition it stands for, in one transaction."""
        with self._tx() as db:
            db.execute(
                "INSERT INTO events (run, task, at, kind, data) VALUES (?,?,?,?,?)",
                (run, task, self.now(), kind, json.dumps(data, default=str)),
            )
            if task is not None:
                self._apply(db, run, task, kind, data)

    def _apply(
        self, db: sqlite3.Connection, run: str, task: str, kind: str, data: Mapping[str, Any]
    ) -> None:
        now = self.now()
        if kind == "starting":
            db.execute(
                "UPDATE tasks SET status='running', start_commit=? WHERE run=? AND id=?",
                (data["start_commit"], run, task),
            )
        elif kind == "attempt":
            db.execute(
                "INSERT OR REPLACE INTO attempts (run, task, n, started_at, log) "
                "VALUES (?,?,?,?,?)",
                (run, task, data["n"], now, data["log"]),
            )
            db.execute(
                "UPDATE tasks SET attempts=?, log=? WHERE run=? AND id=?",
                (data["n"], data["log"], run, task),
            )
        elif kind == "started":
            db.execute(
                "UPDATE attempts SET pid=?, create_time=? WHERE run=? AND task=? AND n=?",
                (data["pid"], data["create_time"], run, task, data["n"]),
            )
        elif kind == "exited":
            db.execute(
                "UPDATE attempts SET finished_at=?, exit_code=?, failure=?, peak_rss_bytes=? "
                "WHERE run=? AND task=? AND n=?",
                (
                    now,
                    data["exit_code"],
                    data["failure"],
                    data["peak_rss_bytes"],
                    run,
                    task,
                    data["n"],
                ),
            )
        elif kind in ("succeeded", "failed", "skipped", "cancelled"):
            fields = {k: data[k] for k in TASK_FIELDS if k in data}
            fields["status"] = kind
            assignments = ", ".join(f'"{k}"=?' for k in fields)
            db.execute(
                f"UPDATE tasks SET {assignments} WHERE run=? AND id=?",
                (*fields.values(), run, task),
            )

    def tasks(self, run: str, with_start: bool = False) -> list[dict[str, Any]]:
        """The run's tasks in plan order, as the JSON task objects (plus start_commit)."""
        cols = ", ".join(f'"{c}"' for c in ["id", *TASK_FIELDS])
        rows = self.db.execute(f"SELECT {cols} FROM tasks WHERE run=? ORDER BY idx", (run,))
        out = []
        for row in rows.fetchall():
            item = dict(zip(["id", *TASK_FIELDS], row, strict=True))
            item["changed"] = None if item["changed"] is None else bool(item["changed"])
            if not with_start:
                item.pop("start_commit")
            out.append(item)
        return out

    def attempts(self, run: str, task: str | None = None) -> list[AttemptRecord]:
        """Attempts of a run (or of one task), oldest first."""
        query = "SELECT * FROM attempts WHERE run=?" + (" AND task=?" if task else "")
        args = (run, task) if task else (run,)
        return [AttemptRecord(*r) for r in self.db.execute(query + " ORDER BY started_at", args)]

    def running_attempts(self) -> list[AttemptRecord]:
        """Attempts started and never recorded as finished (orphan candidates after a crash)."""
        rows = self.db.execute(
            "SELECT * FROM attempts WHERE pid IS NOT NULL AND finished_at IS NULL"
        ).fetchall()
        return [AttemptRecord(*r) for r in rows]

    def events(self, run: str) -> list[tuple[float, str | None, str, dict[str, Any]]]:
        """(time, task, kind, data) of every event of a run, in order."""
        rows = self.db.execute(
            "SELECT at, task, kind, data FROM events WHERE run=? ORDER BY id", (run,)
        )
        return [(at, task, kind, json.loads(data)) for at, task, kind, data in rows.fetchall()]

    # --- merges ---

    def record_merge(
        self, run: str, into_ref: str, before: str, after: str, data: Mapping[str, Any]
    ) -> None:
        """Record one pass of the merge queue over a target."""
        with self._tx() as db:
            seq = db.execute("SELECT COUNT(*) FROM merges WHERE run=?", (run,)).fetchone()[0]
            db.execute(
                "INSERT INTO merges VALUES (?,?,?,?,?,?,?)",
                (run, seq, into_ref, before, after, json.dumps(data), self.now()),
            )

    def merges(self, run: str) -> list[tuple[str, str, str, dict[str, Any]]]:
        """(into_ref, before, after, data) of each merge pass of a run, in order."""
        rows = self.db.execute(
            "SELECT into_ref, before_commit, after_commit, data FROM merges "
            "WHERE run=? ORDER BY seq",
            (run,),
        ).fetchall()
        return [(i, b, a, json.loads(d)) for i, b, a, d in rows]
