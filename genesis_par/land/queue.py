"""The merge queue's terms: what it lands (candidates), where and how (its spec), what it did
(its result), and the order it lands them in. land/merge_queue.py runs it."""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple, Protocol

from genesis_par import gitops
from genesis_par.land.checks import BatchSettings
from genesis_par.plan import graph
from genesis_par.plan.model import Command, MergeMethod, Task
from genesis_par.state.landings import BatchOutcome

MAX_RETRIES_ON_MOVED_TARGET = 20
CHECK_FAILED = "merge check failed"


class Candidate(NamedTuple):
    task: Task
    branch: str
    commit: str
    conflicts_with: frozenset[str]  # other candidates it conflicts with, from the pairwise probe
    start: str | None = None  # the commit the task started from (its dependencies' results)


class Unmerged(NamedTuple):
    task: str
    reason: str
    conflicts: tuple[tuple[str, str, str], ...] = ()  # (path, kind, with)
    log: Path | None = None
    on_top_of: tuple[str, ...] = ()  # a failed merge check: the tasks merged under it then

    def as_json(self) -> dict[str, object]:
        """The JSON form used by `run` and `merge`."""
        obj: dict[str, object] = {
            "task": self.task,
            "reason": self.reason,
            "conflicts": [{"path": p, "kind": k, "with": w} for p, k, w in self.conflicts],
        }
        if self.reason == CHECK_FAILED:  # what was under it: it may fail only on top of them
            obj["on_top_of"] = list(self.on_top_of)
        if self.log:
            obj["log"] = str(self.log)
        return obj


@dataclass
class QueueResult:
    """What the queue did (or, for a dry run, would do)."""

    into: str
    before: str
    after: str
    order: list[tuple[str, str]] = field(default_factory=list)  # (task, why it is there)
    merged: list[str] = field(default_factory=list)
    already: list[str] = field(default_factory=list)  # of merged: in the target before the queue
    unmerged: list[Unmerged] = field(default_factory=list)
    created: bool = False
    steps: list[tuple[str, str]] = field(default_factory=list)  # (old, new) of each move made
    blocked: str | None = None  # why a checked-out target's local changes stop every move
    batches: list[BatchOutcome] = field(default_factory=list)  # land.batch's


class StepJournal(Protocol):
    """Where the queue writes each move of the target: before it is made, then its outcome."""

    def intend(self, into_ref: str, before: str, after: str, task: str) -> int: ...

    def settle(self, token: int, published: bool) -> None: ...


@dataclass(frozen=True)
class QueueSpec:
    """Where and how to merge."""

    repo: gitops.RepoPaths
    run: str
    into_ref: str  # a full ref, refs/heads/...
    start: str  # the commit the target starts from when it does not exist yet
    method: MergeMethod = MergeMethod.MERGE
    check: Command | None = None
    check_worktree: Path | None = None
    log_dir: Path | None = None
    git_env: Mapping[str, str] = field(default_factory=dict)
    env: Mapping[str, str] = field(default_factory=dict)
    check_timeout_s: float | None = None
    checked_out: Path | None = None  # the user's worktree that has the target checked out
    journal: StepJournal | None = None  # records each move, so a killed queue can be undone
    batching: BatchSettings = field(
        default_factory=BatchSettings
    )  # [merge] batch, parallel_checks, check_retries
    progress: Callable[[str, Mapping[str, object]], None] | None = None  # the queue's steps
    cancel: threading.Event = field(default_factory=threading.Event)  # set by Ctrl-C: stop


def order(candidates: Sequence[Candidate]) -> list[tuple[str, str]]:
    """Dependencies first, then priority, then branches that conflict with nothing."""
    by_id = {c.task.id: c for c in candidates}

    def key(task: Task) -> tuple[float, ...]:
        return (-task.priority, len(by_id[task.id].conflicts_with) > 0, task.index)

    ids = graph.ordered([c.task for c in candidates], key)
    return [(task_id, _why(by_id[task_id], by_id)) for task_id in ids]


def _why(c: Candidate, by_id: Mapping[str, Candidate]) -> str:
    parts = [f"priority {c.task.priority.label}"]
    deps = [d for d in c.task.depends_on if d in by_id]
    if deps:
        parts.append("after " + ", ".join(deps))
    if c.conflicts_with:
        parts.append("conflicts with " + ", ".join(sorted(c.conflicts_with)))
    else:
        parts.append("conflicts with nothing")
    return "; ".join(parts)


def check_log(log_dir: Path, task: str) -> Path:
    """Where the merge check after task's merge writes its output (`logs --merge-check`)."""
    return log_dir / f"merge-check.{task}.log"
