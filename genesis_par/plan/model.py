"""What a plan says: frozen dataclasses and the enums of their fields (reading and checking
a plan file is plan/parse.py)."""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from genesis_par.plan.on_conflict import (
    DEFAULT_RERUN_LIMIT,
    OnConflict,
)

SUPPORTED_VERSIONS = (1,)

DEFAULT_INTO = "genesis/{run}/integration"

TEMPLATE_VARS = (
    "prompt",
    "prompt_file",
    "task",
    "run",
    "worktree",
    "branch",
    "base",
    "port",
    "conflict",  # why a rerun runs: what collided (issue 15); empty otherwise
)


class Priority(enum.IntEnum):
    """Task priority; a higher value runs and merges earlier."""

    LOW = 0
    NORMAL = 1
    HIGH = 2
    CRITICAL = 3

    @property
    def label(self) -> str:
        return self.name.lower()


class Isolation(enum.Enum):
    """Where each task's agent works: a worktree of the repository, or a clone of its own."""

    WORKTREE = "worktree"
    CLONE = "clone"


class Strategy(enum.Enum):
    """How the scheduler picks among ready tasks."""

    CRITICAL_PATH = "critical-path"
    PRIORITY = "priority"
    FIFO = "fifo"
    COST = "cost"


class MergeMethod(enum.Enum):
    """How a task branch lands on the merge target."""

    MERGE = "merge"
    SQUASH = "squash"
    REBASE = "rebase"


@dataclass(frozen=True, slots=True)
class Command:
    """A command template: a list is run without a shell, a string by `sh -c`."""

    argv: tuple[str, ...]
    shell: bool = False

    @property
    def text(self) -> str:
        """The shell string (shell form) or the arguments joined (list form), for display."""
        return self.argv[0] if self.shell else " ".join(self.argv)


@dataclass(frozen=True, slots=True)
class Agent:
    """An `[agents.NAME]` table."""

    name: str
    command: Command


@dataclass(frozen=True, slots=True)
class Task:
    """One `[[tasks]]` entry with defaults applied and the agent resolved."""

    id: str
    command: Command  # the agent's command, or the task's own `command`
    index: int = 0  # position in the plan, for fifo order and stable output
    agent: str | None = None
    prompt: str | None = None  # the text, read from prompt_file when that was given
    prompt_file: Path | None = None  # absolute, when the plan named one
    depends_on: tuple[str, ...] = ()
    priority: Priority = Priority.NORMAL
    cost: float = 1.0
    paths: tuple[str, ...] = ()
    locks: tuple[str, ...] = ()
    timeout_s: float | None = None
    memory_bytes: int | None = None
    cpu: float | None = None
    retries: int = 0
    best_of: int = 1  # candidates run in parallel; the best passing one becomes the branch
    check: Command | None = None
    env: tuple[tuple[str, str], ...] = ()
    resources: tuple[tuple[str, float], ...] = ()  # custom resources a node must offer (Ray)
    on_conflict: OnConflict | None = None  # None: [merge] on_conflict
    max_cost_usd: float | None = None  # its agents' whole trees stop when they spend more


@dataclass(frozen=True, slots=True)
class RunSettings:
    """The `[run]` table."""

    name: str
    base: str = "HEAD"
    max_parallel: int = 4
    strategy: Strategy = Strategy.CRITICAL_PATH
    setup: Command | None = None  # run once in each new worktree before its first agent
    pool: bool = True  # reuse clean worktrees that gc kept instead of creating new ones
    budget_usd: float | None = None  # no task or attempt starts once the run spent this
    backend: str = "local"  # where attempts run: "local" (threads here) or "ray" (a cluster)
    isolation: Isolation = Isolation.WORKTREE


@dataclass(frozen=True, slots=True)
class MergeSettings:
    """The `[merge]` table; `into` may hold `{run}`."""

    into: str = DEFAULT_INTO
    method: MergeMethod = MergeMethod.MERGE
    check: Command | None = None
    timeout_s: float | None = None  # of each run of the merge check
    batch: int | None = None  # tasks checked together; None: "auto" (land.checks)
    parallel_checks: int | None = None  # None: the cores free after [run] max_parallel
    check_retries: int = 0  # a failing merge check runs again this many times
    on_conflict: OnConflict = OnConflict.LEAVE
    rerun_limit: int = DEFAULT_RERUN_LIMIT
    resolver: Command | None = None  # runs where on_conflict = "agent"


@dataclass(frozen=True, slots=True)
class Plan:
    """A validated plan."""

    path: Path
    text: str  # the TOML source, recorded with each run
    run: RunSettings
    merge: MergeSettings
    tasks: tuple[Task, ...]
    agents: Mapping[str, Agent] = field(default_factory=dict)
    version: int = 1

    def task(self, task_id: str) -> Task:
        """The task with this id."""
        return next(t for t in self.tasks if t.id == task_id)


TASK_BRANCH = "genesis/{run}/{task}"  # worktrees.branch_name builds the same


def target_clash(into: str, run: str, task_ids: Iterable[str]) -> tuple[str, str] | None:
    """(task, why) when the merge target into (`{run}` expanded) is a task's branch or clashes
    with the run's branch namespace (git cannot hold both `a` and `a/b` as branches)."""
    short = into.removeprefix("refs/heads/")
    for task in task_ids:
        branch = TASK_BRANCH.format(run=run, task=task)
        if short == branch:
            return task, f'is the branch of task "{task}"'
        if short.startswith(branch + "/") or branch.startswith(short + "/"):
            return task, f"clashes with the run's task branches (genesis/{run}/<task>)"
    return None


MAX_PROMPT_ARG = 100_000  # bytes; Linux refuses one argument or variable over 128 KiB
