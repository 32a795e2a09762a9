"""The run store: SQLite (WAL) in the git common dir; each transition, or each scheduler tick's
transitions together, in one transaction."""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path

from genesis_par.errors import StoreProblem, UsageError
from genesis_par.model import EventKind, RunStatus, TaskStatus
from genesis_par.state import faults, schema
from genesis_par.state.landings import FinishedRun, LandingRecord
from genesis_par.state.locks import run_lock as run_lock
from genesis_par.state.locks import run_supervised as run_supervised
from genesis_par.state.merges import MergeRecords
from genesis_par.state.records import RUN_COLUMNS
from genesis_par.state.records import AttemptRecord as AttemptRecord
from genesis_par.state.records import RunRecord as RunRecord
from genesis_par.state.records import TaskRecord as TaskRecord
from genesis_par.state.schema import SCHEMA as SCHEMA
from genesis_par.state.schema import SCHEMA_VERSION as SCHEMA_VERSION
from genesis_par.state.tasks import TaskRecords, write_task


class Store(TaskRecords, MergeRecords):
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
            cls._upgrade(db_path, version, now, timeout_s)
            db = faults.connect_read_only(db_path, timeout_s)
        return cls(db, now)

    @classmethod
    def _upgrade(
        cls, db_path: Path, version: int, now: Callable[[], float], timeout_s: float
    ) -> None:
        """Migrate an older store for a reader, or say in one line why it cannot be read."""
        try:
            cls._writable(db_path, now, timeout_s).db.close()
        except StoreProblem:
            folder = db_path.parent
            raise StoreProblem(
                f"the state store {db_path} was written by an older genesis-par (schema "
                f"{version}) and cannot be upgraded to schema {SCHEMA_VERSION} here: make "
                f"{folder} and its files writable (chmod -R u+w {folder}) and run the command "
                "again; the upgrade is done once, by any command"
            ) from None

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
            schema.migrate(db)

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

    def finished(self, name: str) -> FinishedRun | None:
        """The run as it ended, its tasks as they ended and its landing; None until then."""
        run, landing = self.get_run(name), self.landing(name)
        if run is None or landing is None:
            return None
        tasks = tuple(self.ended_tasks(name))
        isolation = self.isolation(name)
        return FinishedRun(name, run.status, run.base_commit, isolation, tasks, landing)

    def record_isolation(self, name: str, mode: str) -> None:
        """How the run's tasks are isolated, as it starts."""
        self.record_run_event(name, EventKind.ISOLATION, json.dumps({"mode": mode}))

    def isolation(self, name: str) -> str:
        """How the run's tasks are isolated ("worktree" or "clone"), as recorded at its start
        (an `isolation` event: no column, so older stores read as "worktree")."""
        row = self.db.execute(
            "SELECT data FROM events WHERE run=? AND task IS NULL AND kind=? "
            "ORDER BY id DESC LIMIT 1",
            (name, EventKind.ISOLATION),
        ).fetchone()
        return str(json.loads(row[0]).get("mode", "worktree")) if row else "worktree"

    def finish_run(
        self,
        name: str,
        status: RunStatus,
        landing: LandingRecord | None = None,
        tasks: Sequence[TaskRecord] = (),
    ) -> None:
        """Record a run's final status (with how its work came home, and its tasks as they
        ended), in one transaction."""
        with self._tx() as db:
            db.execute(
                "UPDATE runs SET status=?, finished_at=? WHERE name=?", (status, self.now(), name)
            )
            for task in tasks:
                write_task(db, name, task)
            if landing is not None:
                self.write_landing(db, name, landing)

    def forget_run(self, name: str) -> None:
        """Delete every record of a run (`runs rm`): its tasks, attempts, events, merges and the
        journal of its merge steps (a later run of that name must not roll them back)."""
        with self._tx() as db:
            tables = ("tasks", "attempts", "events", "merges", "merge_steps", "candidates")
            for table in (*tables, "landings"):
                db.execute(f"DELETE FROM {table} WHERE run=?", (name,))
            db.execute("DELETE FROM runs WHERE name=?", (name,))


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
