"""What to start next: strategy, locks, write scopes, admission (pure: no I/O)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence, Set
from dataclasses import dataclass
from functools import cached_property
from typing import NamedTuple

from genesis_par.model import TaskStatus
from genesis_par.plan import graph
from genesis_par.plan.model import Strategy, Task

_WILDCARDS = frozenset("*?[")


class Decision(NamedTuple):
    start: list[str]  # to start now, in this order
    waiting: dict[str, str]  # ready but not started -> why
    blocked: dict[str, str]  # not ready: its dependencies have not all succeeded -> which


def _literal_prefix(glob: str) -> tuple[str, ...]:
    """The path components before the first one with a wildcard."""
    parts: list[str] = []
    for part in glob.strip("/").split("/"):
        if _WILDCARDS & set(part):
            break
        parts.append(part)
    return tuple(parts)


def scopes_overlap(a: Sequence[str], b: Sequence[str]) -> bool:
    """Whether two write scopes can name the same file (conservatively: when in doubt, yes)."""
    for x in map(_literal_prefix, a):
        for y in map(_literal_prefix, b):
            shorter = min(len(x), len(y))
            if x[:shorter] == y[:shorter]:
                return True
    return False


def _gib(n: int) -> str:
    return f"{n / 2**30:.1f} GiB"


@dataclass(frozen=True)
class Schedule:
    """The per-plan facts the scheduler needs, computed once."""

    tasks: Mapping[str, Task]
    order: Mapping[str, tuple[float, ...]]  # smaller first

    @classmethod
    def from_tasks(cls, tasks: Sequence[Task], strategy: Strategy) -> Schedule:
        """Precompute the strategy's ordering key of every task."""
        costs = {t.id: t.cost for t in tasks}
        remaining = graph.remaining(graph.build(tasks), costs)
        keys: dict[str, tuple[float, ...]] = {}
        for t in tasks:
            if strategy is Strategy.CRITICAL_PATH:
                keys[t.id] = (-remaining[t.id], -t.priority, t.index)
            elif strategy is Strategy.PRIORITY:
                keys[t.id] = (-t.priority, t.index)
            elif strategy is Strategy.COST:
                keys[t.id] = (t.cost, t.index)
            else:
                keys[t.id] = (t.index,)
        return cls({t.id: t for t in tasks}, keys)

    def ready(self, succeeded: Set[str], running: Set[str], finished: Set[str]) -> list[str]:
        """Tasks whose dependencies all succeeded, not started yet, best first."""
        ids = [
            t.id
            for t in self.tasks.values()
            if t.id not in running and t.id not in finished and set(t.depends_on) <= succeeded
        ]
        return sorted(ids, key=self.order.__getitem__)

    @cached_property
    def needs_memory(self) -> bool:
        """Whether a task has a memory limit, so that decide needs the memory available."""
        return any(t.memory_bytes for t in self.tasks.values())

    def decide(
        self,
        max_parallel: int,
        *,
        succeeded: Set[str],
        running: Set[str],
        finished: Set[str],
        available_memory: int | None = None,
        committing: Set[str] = frozenset(),
    ) -> Decision:
        """Which ready tasks to start now, and why the others wait. committing: running tasks
        past their agent and check, whose work genesis-par is committing; they hold no slot,
        lock, scope or memory (the commit is not theirs, and it cannot need them)."""
        busy = [self.tasks[r] for r in running if r not in committing]
        start: list[str] = []
        waiting: dict[str, str] = {}
        for task_id in self.ready(succeeded, running, finished):
            task = self.tasks[task_id]
            why = self._blocked(task, busy, max_parallel, available_memory)
            if why:
                waiting[task_id] = why
                continue
            start.append(task_id)
            busy.append(task)
        return Decision(start, waiting, self.blocked(succeeded, running, finished))

    def blocked(self, succeeded: Set[str], running: Set[str], finished: Set[str]) -> dict[str, str]:
        """Tasks not started for want of their dependencies, each with the ones it waits for."""
        out = {}
        for task in self.tasks.values():
            if task.id in running or task.id in finished:
                continue
            pending = [d for d in task.depends_on if d not in succeeded]
            if pending:
                out[task.id] = f"waits for {', '.join(pending)}"
        return out

    @staticmethod
    def _blocked(
        task: Task, busy: Sequence[Task], max_parallel: int, available_memory: int | None
    ) -> str | None:
        if len(busy) >= max_parallel:
            return f"max_parallel ({max_parallel}) reached"
        for other in busy:
            held = set(task.locks) & set(other.locks)
            if held:
                return f"waiting for lock {sorted(held)[0]} (held by {other.id})"
            if task.paths and other.paths and scopes_overlap(task.paths, other.paths):
                return f"write scope overlaps {other.id}"
        if task.memory_bytes and available_memory is not None:
            # The rule, literally: the limits of the running tasks plus this one's
            # must fit in what the machine has available now.
            needed = task.memory_bytes + sum(o.memory_bytes or 0 for o in busy)
            if available_memory < needed and busy:
                return f"waiting for memory (needs {_gib(needed)}, {_gib(available_memory)} free)"
        return None


def to_skip(tasks: Sequence[Task], finished: Mapping[str, TaskStatus]) -> dict[str, str]:
    """Unfinished tasks that depend, directly or not, on one that did not succeed, with why."""
    status = dict(finished)
    skips: dict[str, str] = {}
    by_id = {t.id: t for t in tasks}
    for task_id in graph.ordered(tasks, lambda t: (t.index,)):
        if task_id in status:
            continue
        culprit = next(
            (
                d
                for d in by_id[task_id].depends_on
                if status.get(d, TaskStatus.SUCCEEDED) != TaskStatus.SUCCEEDED
            ),
            None,
        )
        if culprit is not None:
            verb = {TaskStatus.FAILED: "failed", TaskStatus.CANCELLED: "was cancelled"}.get(
                status[culprit], "was skipped"
            )
            skips[task_id] = f'dependency "{culprit}" {verb}'
            status[task_id] = TaskStatus.SKIPPED
    return skips
