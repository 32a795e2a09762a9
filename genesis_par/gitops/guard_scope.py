"""What the fence guards: one process of one task, and the names derived from it."""

from __future__ import annotations

import functools
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from genesis_par.gitops import guard_env
from genesis_par.gitops.refs import RepoPaths


@dataclass(frozen=True)
class Scope:
    """One guarded process of one task."""

    repo: RepoPaths
    run: str
    task: str
    worktree: Path
    start: str | None  # the task's start commit: its branch must keep it in its history
    state_dir: Path
    label: str  # names this process's files: "2" (attempt), "setup.1", "check.2", ...
    log: Path  # notes for the user are appended here
    user_env: Mapping[str, str] = field(default_factory=lambda: dict(os.environ))
    clone: bool = False  # the task works in a clone of its own (isolation = "clone")
    user_hooks: guard_env.UserHooks = field(default_factory=guard_env.UserHooks)  # the run's

    @property
    def branch_ref(self) -> str:
        """refs/heads/genesis/<run>/<task>."""
        return f"refs/heads/genesis/{self.run}/{self.task}"

    @property
    def space(self) -> str:
        """The task's own ref namespace, refs/genesis/<run>/<task>/."""
        return f"refs/genesis/{self.run}/{self.task}/"

    @functools.cached_property  # asked for some thirty times a process
    def folder(self) -> Path:
        """Where the hook, its log and the agent's escaped file versions live."""
        return self.state_dir / "guard" / self.run / f"{self.task}.{self.label}"
