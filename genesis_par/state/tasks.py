"""A run's tasks, attempts and events in the run store: each event recorded with the
transition it stands for, in one transaction (a part of state.Store)."""

from __future__ import annotations

import contextlib
import dataclasses
import json
import sqlite3
from collections.abc import Callable, Sequence

from genesis_par.model import EventKind, TaskStatus
from genesis_par.state.events import (
    AttemptBegun,
    BranchMoved,
    Exited,
    ProcessStarted,
    Starting,
    TaskEnded,
    TaskEvent,
    event_data,
)
from genesis_par.state.landings import ResolutionRecord
from genesis_par.state.records import (
    ATTEMPT_COLUMNS,
    CANDIDATE_COLUMNS,
    TASK_COLUMNS,
    AttemptRecord,
    CandidateRecord,
    TaskRecord,
)
from genesis_par.usage import Usage, total

_ENDED = ", ".join(f"{c.strip()}=?" for c in TASK_COLUMNS.split(",")[1:])  # after id


class TaskRecords:
    """The store's task, attempt and event records."""

    db: sqlite3.Connection
    now: Callable[[], float]

    def _tx(self) -> contextlib.AbstractContextManager[sqlite3.Connection]:
        raise NotImplementedError

    def record_event(self, run: str, task: str, event: TaskEvent) -> None:
        """Record an event and the transition it stands for, in one transaction."""
        self.record_events(run, [(task, event)])

    def record_events(self, run: str, events: Sequence[tuple[str, TaskEvent]]) -> None:
        """Record events (task, event) and their transitions, in order, in one transaction:
        all of them or none survive a crash."""
        with self._tx() as db:
            for task, event in events:
                data = json.dumps(event_data(event), default=str)
                db.execute(
                    "INSERT INTO events (run, task, at, kind, data) VALUES (?,?,?,?,?)",
                    (run, task, self.now(), event.kind, data),
                )
                self._apply(db, run, task, event)

    def record_run_event(self, run: str, kind: EventKind, data: str) -> None:
        """Record an event of the whole run (no task): data is its JSON text."""
        with self._tx() as db:
            db.execute(
                "INSERT INTO events (run, task, at, kind, data) VALUES (?,NULL,?,?,?)",
                (run, self.now(), kind, data),
            )

    def _apply(self, db: sqlite3.Connection, run: str, task: str, event: TaskEvent) -> None:
        now = self.now()
        match event:
            case Starting(start_commit, agent):
                db.execute(
                    "UPDATE tasks SET status=?, start_commit=?, agent=? WHERE run=? AND id=?",
                    (TaskStatus.RUNNING, start_commit, agent, run, task),
                )
            case AttemptBegun(n, log):
                db.execute(
                    "INSERT OR REPLACE INTO attempts (run, task, n, started_at, log) "
                    "VALUES (?,?,?,?,?)",
                    (run, task, n, now, log),
                )
                db.execute(
                    "UPDATE tasks SET attempts=?, log=? WHERE run=? AND id=?", (n, log, run, task)
                )
            case ProcessStarted(n, pid, create_time):
                db.execute(
                    "UPDATE attempts SET pid=?, create_time=? WHERE run=? AND task=? AND n=?",
                    (pid, create_time, run, task, n),
                )
            case Exited(n, exit_code, failure, peak, usage, cpu_s, notes):
                u = usage or Usage()
                db.execute(
                    "UPDATE attempts SET finished_at=?, exit_code=?, failure=?, peak_rss_bytes=?, "
                    "input_tokens=?, output_tokens=?, cost_usd=?, turns=?, model=?, cpu_s=?, "
                    "usage_notes=? WHERE run=? AND task=? AND n=?",
                    (
                        now,
                        exit_code,
                        failure,
                        peak,
                        u.input_tokens,
                        u.output_tokens,
                        u.cost_usd,
                        u.turns,
                        u.model,
                        cpu_s,
                        json.dumps(list(notes)),
                        run,
                        task,
                        n,
                    ),
                )
            case BranchMoved(commit):
                db.execute('UPDATE tasks SET "commit"=? WHERE run=? AND id=?', (commit, run, task))
            case TaskEnded(record):
                write_task(db, run, record)

    def tasks(self, run: str) -> list[TaskRecord]:
        """The run's tasks in plan order, each with what its finished attempts spent."""
        by_task: dict[str, list[AttemptRecord]] = {}
        for a in self.attempts(run):
            if a.finished_at is not None:
                by_task.setdefault(a.task, []).append(a)
        return [
            _spent(record, by_task[record.id]) if record.id in by_task else record
            for record in self.ended_tasks(run)
        ]

    def ended_tasks(self, run: str) -> list[TaskRecord]:
        """The run's tasks in plan order, an ended one as it ended (what `run --json` showed)."""
        rows = self.db.execute(
            f"SELECT {TASK_COLUMNS} FROM tasks WHERE run=? ORDER BY idx", (run,)
        ).fetchall()
        candidates = self._candidates(run)
        return [
            dataclasses.replace(r, candidates=candidates.get(r.id))
            for r in map(TaskRecord.from_row, rows)
        ]

    def _candidates(self, run: str) -> dict[str, tuple[CandidateRecord, ...]]:
        rows = self.db.execute(
            f"SELECT task, {CANDIDATE_COLUMNS} FROM candidates WHERE run=? ORDER BY task, k",
            (run,),
        ).fetchall()
        by_task: dict[str, list[CandidateRecord]] = {}
        for task, *row in rows:
            by_task.setdefault(task, []).append(CandidateRecord.from_row(tuple(row)))
        return {task: tuple(c) for task, c in by_task.items()}

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

    def nodes(self, run: str) -> dict[str, str]:
        """The node of each task's last attempt, for a run on a cluster (backend "ray")."""
        rows = self.db.execute(
            "SELECT task, data FROM events WHERE run=? AND kind=? AND task IS NOT NULL ORDER BY id",
            (run, EventKind.PLACED),
        ).fetchall()
        return {task: str(json.loads(data)["node"]) for task, data in rows}

    def resolutions(self, run: str, task: str) -> list[ResolutionRecord]:
        """The task's resolution tries, in order (their `resolved` events)."""
        rows = self.db.execute(
            "SELECT data FROM events WHERE run=? AND task=? AND kind=? ORDER BY id",
            (run, task, EventKind.RESOLVED),
        ).fetchall()
        return [_resolution(json.loads(data)) for (data,) in rows]

    def task_events(self, run: str) -> list[tuple[str, EventKind, str]]:
        """(task, kind, data as JSON text) of every task event of a run, in order."""
        rows = self.db.execute(
            "SELECT task, kind, data FROM events WHERE run=? AND task IS NOT NULL ORDER BY id",
            (run,),
        ).fetchall()
        return [(task, EventKind(kind), data) for task, kind, data in rows]


def write_task(db: sqlite3.Connection, run: str, record: TaskRecord) -> None:
    """The task as it ended, with its candidates."""
    db.execute(f"UPDATE tasks SET {_ENDED} WHERE run=? AND id=?", (*record.row(), run, record.id))
    db.execute("DELETE FROM candidates WHERE run=? AND task=?", (run, record.id))
    db.executemany(
        f"INSERT INTO candidates (run, task, {CANDIDATE_COLUMNS}) VALUES ({','.join('?' * 14)})",
        [(run, record.id, *c.row()) for c in record.candidates or ()],
    )


def _spent(record: TaskRecord, attempts: list[AttemptRecord]) -> TaskRecord:
    """The task with the usage, cpu_s and usage_notes of its finished attempts, summed."""
    return dataclasses.replace(
        record,
        cpu_s=round(sum(a.cpu_s or 0.0 for a in attempts), 3),
        usage=total(a.usage for a in attempts),
        usage_notes=tuple(dict.fromkeys(n for a in attempts for n in a.notes)),
    )


def _resolution(data: dict[str, object]) -> ResolutionRecord:
    """A `resolved` event's data (event_data) back as its record."""
    n, duration = data.get("n"), data.get("duration_s")
    return ResolutionRecord(
        str(data["task"]),
        str(data["strategy"]),
        n if isinstance(n, int) else 0,
        str(data["outcome"]),
        str(data.get("reason") or ""),
        None if data.get("commit") is None else str(data["commit"]),
        None if data.get("log") is None else str(data["log"]),
        float(duration) if isinstance(duration, int | float) else 0.0,
    )
