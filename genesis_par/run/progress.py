"""What is known of one task while it runs (workers update it, the live view reads it), and
how its events reach the store."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from genesis_par.model import Failure, TaskStatus
from genesis_par.state.events import TaskEvent
from genesis_par.state.records import CandidateRecord, TaskRecord
from genesis_par.usage import Usage, total
from genesis_par.usage.metering import Metering


def _keep_slot() -> None:
    """Where nothing runs other tasks meanwhile (a rerun, a Ray node), there is no slot to free."""


@dataclass
class TaskProgress:
    """What is known of one task; workers update it, the live view reads it."""

    id: str
    status: TaskStatus = TaskStatus.PENDING
    failure: Failure | None = None
    reason: str | None = None
    attempts: int = 0
    exit_code: int | None = None
    branch: str | None = None
    start_commit: str | None = None
    commit: str | None = None
    changed: bool | None = None
    started_at: float | None = None
    duration_s: float | None = None
    rss_bytes: int = 0
    peak_rss_bytes: int = 0
    log: Path | None = None
    waiting: str | None = None
    port: int = 0  # GENESIS_PORT: unique among the run's running tasks
    agent_done: bool = False  # resumed: the agent already exited 0; only check and commit
    node: str | None = None  # backend "ray": the address of the node of its last attempt
    conflict: str = ""  # a rerun after a conflict: what collided ({conflict}, issue 15)
    conflict_file: str = ""  # the same text in a file (GENESIS_CONFLICT_FILE)
    agent: str | None = None
    usage: Usage = field(default_factory=Usage)  # of its finished attempts
    cpu_s: float = 0.0  # of its finished attempts
    usage_notes: list[str] = field(default_factory=list)
    metering: list[Metering] = field(default_factory=list)  # its attempts running now
    candidates: tuple[CandidateRecord, ...] | None = None  # best_of: each candidate, the winner
    # called once its agent and check are done and only the commit is left: the run loop then
    # gives its max_parallel slot and its locks to the next task
    free_slot: Callable[[], None] = field(default=_keep_slot, repr=False, compare=False)

    def total_usage(self) -> Usage:
        """Finished attempts and running ones, live."""
        return total([self.usage, *(m.live for m in list(self.metering))])

    def spent_usd(self) -> float:
        """What the task spent so far, in US dollars (0 when its agent reports no cost)."""
        return self.total_usage().cost_usd or 0.0

    def total_cpu_s(self) -> float:
        """CPU seconds of its finished attempts and running ones."""
        return self.cpu_s + sum(m.cpu_s for m in list(self.metering))

    def cpu_percent(self) -> float:
        """CPU of its running attempts now (100 is one core)."""
        return sum(m.cpu_percent for m in list(self.metering))

    def record(self) -> TaskRecord:
        """The task as the state store keeps it when it ends (and `run --json` shows it)."""
        return TaskRecord(
            self.id,
            self.status,
            self.failure,
            self.reason,
            self.attempts,
            self.exit_code,
            self.branch if self.start_commit else None,  # None: never started
            self.start_commit,
            self.commit,
            self.changed,
            None if self.duration_s is None else round(self.duration_s, 3),
            self.peak_rss_bytes,
            self.log,
            self.agent,
            self.candidates,
            self.total_usage(),
            round(self.total_cpu_s(), 3),
            tuple(self.usage_notes),
            self.node,
        )

    def elapsed(self, now: float) -> float:
        """Seconds since the task started (its duration once it finished)."""
        if self.duration_s is not None:
            return self.duration_s
        return now - self.started_at if self.started_at else 0.0


Recorder = Callable[[str, TaskEvent], None]


def fail(progress: TaskProgress, failure: Failure, reason: str) -> None:
    cancelled = failure is Failure.CANCELLED
    progress.status = TaskStatus.CANCELLED if cancelled else TaskStatus.FAILED
    progress.failure = None if cancelled else failure
    progress.reason = reason
