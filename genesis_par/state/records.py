"""The run store's records: frozen, typed, read from state.db and never shaped as JSON (the
JSON forms are made from them in report/, to docs/json.md)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Self

from genesis_par.model import Failure, RunStatus, TaskStatus


def _failure(value: str | None) -> Failure | None:
    return Failure(value) if value else None


@dataclass(frozen=True, slots=True)
class RunRecord:
    name: str
    plan_path: str
    plan_text: str
    base_ref: str
    base_commit: str
    into_ref: str
    status: RunStatus
    supervisor_pid: int | None
    supervisor_create_time: float | None
    created_at: float
    finished_at: float | None

    @classmethod
    def from_row(cls, row: tuple[Any, ...]) -> Self:
        """From the columns of RUN_COLUMNS, in order."""
        record = cls(*row)
        return dataclasses.replace(record, status=RunStatus(record.status))


RUN_COLUMNS = ", ".join(f.name for f in dataclasses.fields(RunRecord))


@dataclass(frozen=True, slots=True)
class TaskRecord:
    """One task of a run as last recorded."""

    id: str
    status: TaskStatus
    failure: Failure | None
    reason: str | None
    attempts: int
    exit_code: int | None
    branch: str | None  # None: it never started
    start_commit: str | None
    commit: str | None
    changed: bool | None
    duration_s: float | None
    peak_rss_bytes: int | None  # None: no attempt recorded one yet
    log: Path | None

    @classmethod
    def from_row(cls, row: tuple[Any, ...]) -> Self:
        """From the columns of TASK_COLUMNS, in order."""
        record = cls(*row)
        return dataclasses.replace(
            record,
            status=TaskStatus(record.status),
            failure=_failure(record.failure),
            attempts=int(record.attempts or 0),
            changed=None if record.changed is None else bool(record.changed),
            log=Path(record.log) if record.log else None,
        )


TASK_COLUMNS = ", ".join(f'"{f.name}"' for f in dataclasses.fields(TaskRecord))


@dataclass(frozen=True, slots=True)
class AttemptRecord:
    """One attempt (or best_of candidate) of a task: its process and how it ended."""

    run: str
    task: str
    n: int
    pid: int | None
    create_time: float | None
    started_at: float | None
    finished_at: float | None
    exit_code: int | None
    failure: Failure | None
    peak_rss_bytes: int | None
    log: str | None

    @classmethod
    def from_row(cls, row: tuple[Any, ...]) -> Self:
        """From the attempts table's columns, in order."""
        record = cls(*row)
        return dataclasses.replace(record, failure=_failure(record.failure))
