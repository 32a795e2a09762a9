"""The run model's names, in one place: states, failures, event kinds and exit codes.

StrEnum members are their strings, so the JSON output and the state store keep the words
they always had (docs/json.md), and a value read back from either compares equal."""

from __future__ import annotations

from enum import IntEnum, StrEnum


class TaskStatus(StrEnum):
    """Where one task is."""

    PENDING = "pending"
    STARTING = "starting"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    SKIPPED = "skipped"
    CANCELLED = "cancelled"
    INTERRUPTED = "interrupted"  # shown, never stored: running when its supervisor died


# in the order summaries list them
FINISHED = (TaskStatus.SUCCEEDED, TaskStatus.FAILED, TaskStatus.SKIPPED, TaskStatus.CANCELLED)
ACTIVE = (TaskStatus.STARTING, TaskStatus.RUNNING)


class RunStatus(StrEnum):
    """Where a whole run is."""

    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CONFLICTS = "conflicts"  # its tasks succeeded, some of their work is left unmerged
    BUDGET = "budget"  # it reached its budget_usd: tasks were skipped (resume --budget)
    INTERRUPTED = "interrupted"


class Failure(StrEnum):
    """Why a task (or one of its processes) failed."""

    EXIT = "exit"  # the agent exited non-zero
    TIMEOUT = "timeout"
    MEMORY = "memory"
    CPU = "cpu"
    BUDGET = "budget"  # the task spent more than its max_cost_usd
    CANCELLED = "cancelled"  # a process stopped by an interrupt (the task is cancelled)
    CHECK = "check"
    SETUP = "setup"
    COMMIT = "commit"
    DEPENDENCIES = "dependencies"  # its dependencies' results conflict with each other
    ERROR = "error"  # genesis-par itself hit an unexpected error
    ESCAPED = "escaped"  # its git touched the user's repository
    HISTORY = "history"  # its agent rewrote history it must not
    WORKTREE = "worktree"  # its worktree's .git was removed or replaced
    NODE_LOST = "node-lost"  # backend ray: the node running the attempt died or left
    INFEASIBLE = "infeasible"  # backend ray: no node of the cluster could ever run it


# An agent that reached outside its task is not given another attempt.
FINAL_FAILURES = frozenset({Failure.ESCAPED, Failure.HISTORY, Failure.WORKTREE})


# the `reason` of a task skipped because the run reached its budget_usd
BUDGET = "budget"


class EventKind(StrEnum):
    """What an event in the run store records."""

    STARTING = "starting"
    ATTEMPT = "attempt"
    STARTED = "started"
    EXITED = "exited"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    SKIPPED = "skipped"
    CANCELLED = "cancelled"
    ROLLBACK = "rollback"
    PLACED = "placed"  # backend ray: an attempt reached a node
    RESOLUTION = "resolution"  # a resolution of a conflicted task starts (issue 15)
    RESOLVED = "resolved"  # ... and how it ended
    BRANCH_MOVED = "branch-moved"  # a task's branch holds commits added after the run
    # the merge queue's steps (land/batch.py), recorded as merge-<step>
    MERGE_BATCH = "merge-batch"
    MERGE_CHECK_STARTED = "merge-check-started"
    MERGE_CHECK_FINISHED = "merge-check-finished"
    MERGE_BISECT = "merge-bisect"
    MERGE_PUBLISHED = "merge-published"
    MERGE_CONVICTED = "merge-convicted"
    MERGE_TARGET_MOVED = "merge-target-moved"
    MERGE_LEFT_OUT = "merge-left-out"
    ISOLATION = "isolation"  # the run's: worktree or clone, as it started (no task)


# the events that end a task: each one's kind is the task's final status
TASK_ENDS = (EventKind.SUCCEEDED, EventKind.FAILED, EventKind.SKIPPED, EventKind.CANCELLED)


class ExitCode(IntEnum):
    """What every command exits with (docs/commands.md)."""

    OK = 0
    FAILED = 1  # a task failed
    USAGE = 2  # bad usage or a bad plan
    CONFLICTS = 3  # conflicts found, or work left unmerged because of them
    ENVIRONMENT = 4  # not a git repository, git too old, a store that cannot be used
    INTERRUPTED = 130
