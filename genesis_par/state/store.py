"""The run store: SQLite (WAL) in the git common dir; each transition, or each scheduler tick's
transitions together, in one transaction."""

from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import json
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from genesis_par.errors import StoreProblem, UsageError
from genesis_par.model import TASK_ENDS, EventKind, RunStatus, TaskStatus
from genesis_par.state import faults
from genesis_par.state.merges import MERGE_STEPS, MergeRecords
from genesis_par.state.records import ATTEMPT_COLUMNS, RUN_COLUMNS, TASK_COLUMNS
from genesis_par.state.records import AttemptRecord as AttemptRecord
from genesis_par.state.records import RunRecord as RunRecord
from genesis_par.state.records import TaskRecord as TaskRecord
from genesis_par.usage import Usage, total

SCHEMA_VERSION = 4
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
    "agent",
    "candidates",  # JSON
]
USAGE_COLUMNS = (  # 4: what each attempt spent (genesis_par.usage)
    "input_tokens INTEGER",
    "output_tokens INTEGER",
    "cost_usd REAL",
    "turns INTEGER",
    "model TEXT",
    "cpu_s REAL",
    "usage_notes TEXT",
)

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


def run_supervised(state_dir: Path, run: str) -> bool:
    """Whether a process holds the run's lock now (it works even when state.db is gone)."""
    path = state_dir / "locks" / f"{run}.lock"
    if not path.exists():
        return False
    with path.open("a+") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        fcntl.flock(handle, fcntl.LOCK_UN)
    return False


class Store(MergeRecords):
    """One connection shared by the run's threads, guarded by a lock."""

    def __init__(self, db: sqlite3.Connection, now: Callable[[], float]) -> None:
        self.db, self.now = db, now
        self.lock = threading.Lock()
        self.notice: str | None = None  # for the user: a damaged store was moved aside

    @classmethod
    @contextmanager
    def open(
        cls,
        state_dir: Path,
        now: Callable[[], float] = time.time,
        *,
        read_only: bool = False,
        timeout_s: float = 30.0,
    ) -> Iterator[Store]:
        """Open (creating if needed) state.db in state_dir; read_only never writes it.

        Every failure of the store (full disk, read-only, locked, damaged) becomes one
        StoreProblem; a damaged store is moved aside (store.notice says so) when writing."""
        db_path = state_dir / "state.db"
        if read_only:
            store = cls._read_only(db_path, now, timeout_s)
        else:
            store = cls._writable(db_path, now, timeout_s)
        try:
            yield store
        except sqlite3.Error as e:
            store.db.close()
            if faults.is_damage(e) and not read_only:
                aside = faults.move_aside(db_path)
                raise StoreProblem(
                    faults.moved_notice(db_path, aside, e) + ": run the command again"
                ) from None
            raise faults.problem(e, db_path) from None
        finally:
            store.db.close()

    @classmethod
    def _writable(cls, db_path: Path, now: Callable[[], float], timeout_s: float) -> Store:
        try:
            return cls._connected(faults.connect_writable(db_path, timeout_s), now)
        except sqlite3.Error as e:
            if not faults.is_damage(e):
                raise faults.problem(e, db_path) from None
            damage = e
        aside = faults.move_aside(db_path)
        try:
            store = cls._connected(faults.connect_writable(db_path, timeout_s), now)
        except sqlite3.Error as e:
            raise faults.problem(e, db_path) from None
        store.notice = faults.moved_notice(db_path, aside, damage)
        return store

    @classmethod
    def _read_only(cls, db_path: Path, now: Callable[[], float], timeout_s: float) -> Store:
        """A store that never writes (but an older schema is migrated first where it can be)."""
        if not db_path.exists():  # nothing recorded yet: an empty store, in memory
            memory = sqlite3.connect(":memory:", check_same_thread=False, isolation_level=None)
            return cls._connected(memory, now)
        db = faults.connect_read_only(db_path, timeout_s)
        try:
            version = db.execute("PRAGMA user_version").fetchone()[0]
        except sqlite3.Error as e:
            db.close()
            raise faults.problem(e, db_path) from None
        if version < SCHEMA_VERSION:
            db.close()
            with contextlib.suppress(StoreProblem):  # read-only: read the older schema as it is
                cls._writable(db_path, now, timeout_s).db.close()
            db = faults.connect_read_only(db_path, timeout_s)
        return cls(db, now)

    @classmethod
    def _connected(cls, db: sqlite3.Connection, now: Callable[[], float]) -> Store:
        store = cls(db, now)
        try:
            store._migrate()
        except BaseException:
            db.close()
            raise
        return store

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
            if version in (0, 1, 2):
                db.execute(MERGE_STEPS)
                self._steps_from_passes(db)
            if version in (0, 1, 2, 3):
                for column in USAGE_COLUMNS:
                    db.execute(f"ALTER TABLE attempts ADD COLUMN {column}")
                db.execute("ALTER TABLE tasks ADD COLUMN agent TEXT")
                db.execute("ALTER TABLE tasks ADD COLUMN candidates TEXT")
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
                    RunStatus.RUNNING,
                    pid,
                    create_time,
                    self.now(),
                    None,
                ),
            )
            db.executemany(
                "INSERT INTO tasks (run, id, idx, status, attempts, branch) VALUES (?,?,?,?,0,?)",
                [(name, t, i, TaskStatus.PENDING, b) for i, (t, b) in enumerate(tasks.items())],
            )

    def replan(
        self, name: str, tasks: Mapping[str, str], reason: str
    ) -> tuple[list[str], list[str]]:
        """Make the run's tasks those of a new plan (id -> branch, in plan order): new ones are
        added pending; unfinished ones it no longer has are skipped with reason. (added, removed)"""
        with self._tx() as db:
            rows = db.execute("SELECT id, status FROM tasks WHERE run=?", (name,)).fetchall()
            status = dict(rows)
            added = [t for t in tasks if t not in status]
            gone = [t for t in status if t not in tasks]
            db.executemany(
                "INSERT INTO tasks (run, id, idx, status, attempts, branch) VALUES (?,?,0,?,0,?)",
                [(name, t, TaskStatus.PENDING, tasks[t]) for t in added],
            )
            order = [*tasks, *gone]  # plan order, then what the plan dropped
            db.executemany(
                "UPDATE tasks SET idx=? WHERE run=? AND id=?",
                [(i, name, t) for i, t in enumerate(order)],
            )
            kept = (TaskStatus.SUCCEEDED, TaskStatus.FAILED, TaskStatus.SKIPPED)
            removed = [t for t in gone if status[t] not in kept]
            db.executemany(
                "UPDATE tasks SET status=?, reason=? WHERE run=? AND id=?",
                [(TaskStatus.SKIPPED, reason, name, t) for t in removed],
            )
        return added, removed

    def get_run(self, name: str) -> RunRecord | None:
        """The run with this name."""
        row = self.db.execute(f"SELECT {RUN_COLUMNS} FROM runs WHERE name=?", (name,)).fetchone()
        return RunRecord.from_row(row) if row else None

    def latest_run(self) -> RunRecord | None:
        """The run created last."""
        row = self.db.execute(
            f"SELECT {RUN_COLUMNS} FROM runs ORDER BY created_at DESC LIMIT 1"
        ).fetchone()
        return RunRecord.from_row(row) if row else None

    def runs(self) -> list[RunRecord]:
        """Every run, newest first."""
        rows = self.db.execute(
            f"SELECT {RUN_COLUMNS} FROM runs ORDER BY created_at DESC"
        ).fetchall()
        return [RunRecord.from_row(r) for r in rows]

    def take_over(self, name: str, pid: int, create_time: float) -> None:
        """This process now supervises the run (resume)."""
        with self._tx() as db:
            db.execute(
                "UPDATE runs SET status=?, supervisor_pid=?, supervisor_create_time=?, "
                "finished_at=NULL WHERE name=?",
                (RunStatus.RUNNING, pid, create_time, name),
            )

    def set_result(self, name: str, result: Mapping[str, Any]) -> None:
        """Keep the run's final JSON object (what `run --json` printed) for `report`."""
        with self._tx() as db:
            db.execute("UPDATE runs SET result=? WHERE name=?", (json.dumps(result), name))

    def result(self, name: str) -> dict[str, Any] | None:
        """The run's final JSON object, if it finished."""
        row = self.db.execute("SELECT result FROM runs WHERE name=?", (name,)).fetchone()
        return json.loads(row[0]) if row and row[0] else None

    def isolation(self, name: str) -> str:
        """How the run's tasks are isolated ("worktree" or "clone"), as recorded at its start
        (an `isolation` event: no column, so older stores read as "worktree")."""
        row = self.db.execute(
            "SELECT data FROM events WHERE run=? AND task IS NULL AND kind='isolation' "
            "ORDER BY id DESC LIMIT 1",
            (name,),
        ).fetchone()
        return str(json.loads(row[0]).get("mode", "worktree")) if row else "worktree"

    def finish_run(self, name: str, status: RunStatus) -> None:
        """Record a run's final status."""
        with self._tx() as db:
            db.execute(
                "UPDATE runs SET status=?, finished_at=? WHERE name=?", (status, self.now(), name)
            )

    def forget_run(self, name: str) -> None:
        """Delete every record of a run (`runs rm`): its tasks, attempts, events, merges and the
        journal of its merge steps (a later run of that name must not roll them back)."""
        with self._tx() as db:
            for table in ("tasks", "attempts", "events", "merges", "merge_steps"):
                db.execute(f"DELETE FROM {table} WHERE run=?", (name,))
            db.execute("DELETE FROM runs WHERE name=?", (name,))

    # --- tasks, attempts, events ---

    def record_event(
        self, run: str, task: str | None, kind: EventKind, data: Mapping[str, Any]
    ) -> None:
        """Record an event and the transition it stands for, in one transaction."""
        self.record_events(run, [(task, kind, data)])

    def record_events(
        self, run: str, events: Sequence[tuple[str | None, EventKind, Mapping[str, Any]]]
    ) -> None:
        """Record events (task, kind, data) and their transitions, in order, in one transaction:
        all of them or none survive a crash."""
        with self._tx() as db:
            for task, kind, data in events:
                db.execute(
                    "INSERT INTO events (run, task, at, kind, data) VALUES (?,?,?,?,?)",
                    (run, task, self.now(), kind, json.dumps(data, default=str)),
                )
                if task is not None:
                    self._apply(db, run, task, kind, data)

    def _apply(
        self, db: sqlite3.Connection, run: str, task: str, kind: EventKind, data: Mapping[str, Any]
    ) -> None:
        now = self.now()
        if kind == EventKind.STARTING:
            db.execute(
                "UPDATE tasks SET status=?, start_commit=?, agent=? WHERE run=? AND id=?",
                (TaskStatus.RUNNING, data["start_commit"], data.get("agent"), run, task),
            )
        elif kind == EventKind.ATTEMPT:
            db.execute(
                "INSERT OR REPLACE INTO attempts (run, task, n, started_at, log) "
                "VALUES (?,?,?,?,?)",
                (run, task, data["n"], now, data["log"]),
            )
            db.execute(
                "UPDATE tasks SET attempts=?, log=? WHERE run=? AND id=?",
                (data["n"], data["log"], run, task),
            )
        elif kind == EventKind.STARTED:
            db.execute(
                "UPDATE attempts SET pid=?, create_time=? WHERE run=? AND task=? AND n=?",
                (data["pid"], data["create_time"], run, task, data["n"]),
            )
        elif kind == EventKind.EXITED:
            usage = Usage.from_fields(data.get("usage"))
            db.execute(
                "UPDATE attempts SET finished_at=?, exit_code=?, failure=?, peak_rss_bytes=?, "
                "input_tokens=?, output_tokens=?, cost_usd=?, turns=?, model=?, cpu_s=?, "
                "usage_notes=? WHERE run=? AND task=? AND n=?",
                (
                    now,
                    data["exit_code"],
                    data["failure"],
                    data["peak_rss_bytes"],
                    usage.input_tokens,
                    usage.output_tokens,
                    usage.cost_usd,
                    usage.turns,
                    usage.model,
                    data.get("cpu_s"),
                    json.dumps(data.get("usage_notes") or []),
                    run,
                    task,
                    data["n"],
                ),
            )
        elif kind == EventKind.BRANCH_MOVED:  # its branch got commits after the run (a resolution)
            db.execute(
                'UPDATE tasks SET "commit"=? WHERE run=? AND id=?', (data["commit"], run, task)
            )
        elif kind in TASK_ENDS:
            fields = {k: data[k] for k in TASK_FIELDS if k in data}
            fields["status"] = kind
            if fields.get("candidates") is not None:
                fields["candidates"] = json.dumps(fields["candidates"])
            assignments = ", ".join(f'"{k}"=?' for k in fields)
            db.execute(
                f"UPDATE tasks SET {assignments} WHERE run=? AND id=?",
                (*fields.values(), run, task),
            )

    def tasks(self, run: str) -> list[TaskRecord]:
        """The run's tasks in plan order, each with what its finished attempts spent."""
        rows = self.db.execute(f"SELECT {TASK_COLUMNS} FROM tasks WHERE run=? ORDER BY idx", (run,))
        spent = self._spent_by_task(run)
        return [
            dataclasses.replace(record, **spent[record.id]) if record.id in spent else record
            for record in map(TaskRecord.from_row, rows.fetchall())
        ]

    def _spent_by_task(self, run: str) -> dict[str, dict[str, Any]]:
        """Each task's usage, cpu_s and usage_notes: the sums over its finished attempts."""
        by_task: dict[str, list[AttemptRecord]] = {}
        for a in self.attempts(run):
            if a.finished_at is not None:
                by_task.setdefault(a.task, []).append(a)
        return {
            task: {
                "cpu_s": round(sum(a.cpu_s or 0.0 for a in attempts), 3),
                "usage": total(a.usage for a in attempts),
                "usage_notes": tuple(dict.fromkeys(n for a in attempts for n in a.notes)),
            }
            for task, attempts in by_task.items()
        }

    def attempts(self, run: str, task: str | None = None) -> list[AttemptRecord]:
        """Attempts of a run (or of one task), oldest first."""
        query = f"SELECT {ATTEMPT_COLUMNS} FROM attempts WHERE run=?" + (
            " AND task=?" if task else ""
        )
        args = (run, task) if task else (run,)
        rows = self.db.execute(query + " ORDER BY started_at", args)
        return [AttemptRecord.from_row(r) for r in rows]

    def running_attempts(self) -> list[AttemptRecord]:
        """Attempts started and never recorded as finished (orphan candidates after a crash)."""
        rows = self.db.execute(
            f"SELECT {ATTEMPT_COLUMNS} FROM attempts WHERE pid IS NOT NULL AND finished_at IS NULL"
        ).fetchall()
        return [AttemptRecord.from_row(r) for r in rows]

    def events(self, run: str) -> list[tuple[float, str | None, str, dict[str, Any]]]:
        """(time, task, kind, data) of every event of a run, in order."""
        rows = self.db.execute(
            "SELECT at, task, kind, data FROM events WHERE run=? ORDER BY id", (run,)
        )
        return [(at, task, kind, json.loads(data)) for at, task, kind, data in rows.fetchall()]


def pick_run(store: Store, name: str | None) -> RunRecord:
    """The named run, or the latest one."""
    record = store.get_run(name) if name else store.latest_run()
    if record is None:
        if name:
            known = ", ".join(r.name for r in store.runs()[:5]) or "none yet"
            raise UsageError(f'no run named "{name}" in this repository (recent runs: {known})')
        raise UsageError(
            "no runs recorded in this repository yet: start one with `genesis-par run PLAN`"
        )
    return record
