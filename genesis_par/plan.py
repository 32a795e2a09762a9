"""TOML -> frozen dataclasses; every validation rule lives here."""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

SUPPORTED_VERSIONS = (1,)
TEMPLATE_VARS = ("prompt", "prompt_file", "task", "run", "worktree", "branch", "base")


class Priority(enum.IntEnum):
    """Task priority; a higher value runs and merges earlier."""

    LOW = 0
    NORMAL = 1
    HIGH = 2
    CRITICAL = 3

    @property
    def label(self) -> str:
        return self.name.lower()


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
    check: Command | None = None
    env: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True, slots=True)
class RunSettings:
    """The `[run]` table."""

    name: str
    base: str = "HEAD"
    max_parallel: int = 4
    strategy: Strategy = Strategy.CRITICAL_PATH


@dataclass(frozen=True, slots=True)
class MergeSettings:
    """The `[merge]` table; `into` may hold `{run}`."""

    into: str = "genesis/{run}/integration"
    method: MergeMethod = MergeMethod.MERGE
    check: Command | None = None


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
