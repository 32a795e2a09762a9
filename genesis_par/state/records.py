"""The run store's records: frozen, typed, read from state.db and never shaped as JSON (the
JSON forms are made from them in report/, to docs/json.md)."""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Self

from genesis_par.model import Failure, RunStatus, TaskStatus
from genesis_par.usage import Usage


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
    agent: str | None = None  # None: it runs a command (or never started)
    candidates: tuple[dict[str, Any], ...] | None = None  # best_of: each candidate (JSON)
    # what its finished attempts spent (the attempts table's sums, not columns of tasks)
    usage: Usage = dataclasses.field(default_factory=Usage)
    cpu_s: float = 0.0
    usage_notes: tuple[str, ...] = ()

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
            candidates=tuple(json.loads(record.candidates)) if record.candidates else None,  # type: ignore[arg-type]
        )


_SPENT = ("usage", "cpu_s", "usage_notes")
TASK_COLUMNS = ", ".join(
    f'"{f.name}"' for f in dataclasses.fields(TaskRecord) if f.name not in _SPENT
)


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
    input_tokens: int | None = None  # what it spent (schema 4; None before)
    output_tokens: int | None = None
    cost_usd: float | None = None
    turns: int | None = None
    model: str | None = None
    cpu_s: float | None = None
    usage_notes: str | None = None  # a JSON list

    @classmethod
    def from_row(cls, row: tuple[Any, ...]) -> Self:
        """From the attempts table's columns, in order."""
        record = cls(*row)
        return dataclasses.replace(record, failure=_failure(record.failure))

    @property
    def usage(self) -> Usage:
        """What the attempt spent."""
        return Usage(
            self.input_tokens or 0,
            self.output_tokens or 0,
            self.cost_usd,
            self.turns or 0,
            self.model,
        )

    @property
    def notes(self) -> list[str]:
        """What could not be read of its usage."""
        return [str(n) for n in json.loads(self.usage_notes)] if self.usage_notes else []


ATTEMPT_COLUMNS = ", ".join(f.name for f in dataclasses.fields(AttemptRecord))
