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


def failure_of(value: str | None) -> Failure | None:
    """The Failure a stored string names (None for none)."""
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
class CandidateRecord:
    """One candidate of a best_of task: how it ran, what it spent, whether it won."""

    k: int
    agent: str | None
    exit_code: int | None
    failure: Failure | None
    check: str | None  # "passed", "failed", or None when none ran
    diff_lines: int | None  # None: it committed nothing
    usage: Usage
    winner: bool

    def row(self) -> tuple[object, ...]:
        """The columns of CANDIDATE_COLUMNS, in order."""
        u = self.usage
        return (
            self.k,
            self.agent,
            self.exit_code,
            self.failure,
            self.check,
            self.diff_lines,
            *_usage_row(u),
            int(self.winner),
        )

    @classmethod
    def from_row(cls, row: tuple[Any, ...]) -> Self:
        """From the columns of CANDIDATE_COLUMNS, in order."""
        k, agent, exit_code, failure, check, diff_lines, *usage, winner = row
        return cls(
            k,
            agent,
            exit_code,
            failure_of(failure),
            check,
            diff_lines,
            _usage(*usage),
            bool(winner),
        )


CANDIDATE_COLUMNS = (
    'k, agent, exit_code, failure, "check", diff_lines, '
    "input_tokens, output_tokens, cost_usd, turns, model, winner"
)


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
    candidates: tuple[CandidateRecord, ...] | None = None  # best_of: each candidate
    # what its attempts spent: as it ended (the tasks table), or, while it runs, the sums
    # over its finished attempts (Store.tasks)
    usage: Usage = dataclasses.field(default_factory=Usage)
    cpu_s: float = 0.0
    usage_notes: tuple[str, ...] = ()
    node: str | None = None  # backend "ray": the node of its last attempt, as it ended

    def row(self) -> tuple[object, ...]:
        """The columns of TASK_COLUMNS after id, in order (an ended task)."""
        return (
            self.status,
            self.failure,
            self.reason,
            self.attempts,
            self.exit_code,
            self.branch,
            self.start_commit,
            self.commit,
            None if self.changed is None else int(self.changed),
            self.duration_s,
            self.peak_rss_bytes,
            None if self.log is None else str(self.log),
            self.agent,
            self.node,
            self.cpu_s,
            *_usage_row(self.usage),
            json.dumps(list(self.usage_notes)),
        )

    @classmethod
    def from_row(cls, row: tuple[Any, ...]) -> Self:
        """From the columns of TASK_COLUMNS, in order."""
        (
            id_,
            status,
            failure,
            reason,
            attempts,
            exit_code,
            branch,
            start_commit,
            commit,
            changed,
            duration_s,
            peak,
            log,
            agent,
            node,
            cpu_s,
            *usage,
            notes,
        ) = row
        return cls(
            id_,
            TaskStatus(status),
            failure_of(failure),
            reason,
            int(attempts or 0),
            exit_code,
            branch,
            start_commit,
            commit,
            None if changed is None else bool(changed),
            duration_s,
            peak,
            Path(log) if log else None,
            agent,
            usage=_usage(*usage),
            cpu_s=cpu_s or 0.0,
            usage_notes=tuple(json.loads(notes)) if notes else (),
            node=node,
        )


TASK_COLUMNS = (
    'id, status, failure, reason, attempts, exit_code, branch, start_commit, "commit", '
    "changed, duration_s, peak_rss_bytes, log, agent, node, cpu_s, "
    "input_tokens, output_tokens, cost_usd, turns, model, usage_notes"
)


def _usage_row(u: Usage) -> tuple[object, ...]:
    return (u.input_tokens, u.output_tokens, u.cost_usd, u.turns, u.model)


def _usage(
    input_tokens: int | None,
    output_tokens: int | None,
    cost_usd: float | None,
    turns: int | None,
    model: str | None,
) -> Usage:
    return Usage(input_tokens or 0, output_tokens or 0, cost_usd, turns or 0, model)


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
        return dataclasses.replace(record, failure=failure_of(record.failure))

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
