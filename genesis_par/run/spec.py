"""What every attempt of a run needs that does not change during the run: the RunSpec, and
the template values and fence of one task in one worktree."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from genesis_par import gitops, proc, worktrees
from genesis_par.plan.model import Isolation, Plan, Task
from genesis_par.run import steps
from genesis_par.run.progress import TaskProgress
from genesis_par.usage import attempt as metered

BUDGET_REACHED = "the run reached its budget_usd"


@dataclass(frozen=True)
class RunSpec:
    """Everything a worker needs that does not change during a run."""

    repo: gitops.RepoPaths
    plan: Plan
    run: str
    base_commit: str
    state_dir: Path
    git_env: Mapping[str, str]
    env: Mapping[str, str] = field(default_factory=lambda: dict(os.environ))
    included: tuple[str, ...] = ()  # untracked files .worktreeinclude copies into each worktree
    ray_address: str | None = None  # backend "ray": the cluster (None: a local Ray for the run)
    isolation: Isolation = Isolation.WORKTREE
    new_run: bool = False  # no branch of the run existed at its start: none to look for
    user_hooks: gitops.UserHooks = field(default_factory=gitops.UserHooks)  # read once a run

    @property
    def clone(self) -> bool:
        """Each task works in a clone of its own (`[run] isolation = "clone"`)."""
        return self.isolation is Isolation.CLONE

    def own_repo(self, worktree: Path) -> Path:
        """The git dir a task's checkout must belong to: the user's, or its clone's own."""
        return worktree / ".git" if self.clone else self.repo.common_dir

    def log_path(self, task: str, attempt: int) -> Path:
        """logs/<run>/<task>.<attempt>.log under the state directory."""
        return self.state_dir / "logs" / self.run / f"{task}.{attempt}.log"

    spend: metered.Spend = field(default_factory=metered.Spend)  # the run's, for budget_usd

    def budget_reached(self) -> bool:
        """The run spent its [run] budget_usd: no new task or attempt starts."""
        return self.spend.budget_reached(self.plan.run.budget_usd)

    def usage_file(self, log: Path) -> Path:
        """$GENESIS_USAGE_FILE of the attempt logging to log: <task>.<attempt>.usage.json."""
        return log.with_suffix(".usage.json")

    def setup_exit_file(self, task: str) -> Path:
        """The exit record of the task's setup, whichever attempt's log its output went to."""
        return self.state_dir / "logs" / self.run / f"{task}.setup.exit"


def run_spec(
    repo: gitops.RepoPaths,
    plan: Plan,
    run: str,
    base: str,
    env: Mapping[str, str],
    new_run: bool = False,
) -> RunSpec:
    """What every attempt of the run needs to know (new_run: not a resumed one)."""
    return RunSpec(
        repo,
        plan,
        run,
        base,
        repo.common_dir / "genesis-par",
        gitops.identity_env(repo.root),
        gitops.without_repository_variables(env),  # agents' git stays in their worktree
        tuple(gitops.included_files(repo.root)),
        env.get("RAY_ADDRESS") or None,  # backend "ray": the cluster (None: a local Ray)
        plan.run.isolation,
        new_run,
    )


def _prompt_file(spec: RunSpec, task: Task) -> str:
    if task.prompt_file:
        return str(task.prompt_file)
    if task.prompt is None:
        return ""
    path = spec.state_dir / "prompts" / spec.run / f"{task.id}.md"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(task.prompt)
    return str(path)


def values_for(spec: RunSpec, task: Task, worktree: Path, progress: TaskProgress) -> dict[str, str]:
    """The template values (and GENESIS_* environment) of one task in one worktree."""
    return steps.template_values(
        run=spec.run,
        task=task.id,
        worktree=worktree,
        branch=worktrees.branch_name(spec.run, task.id),
        base=spec.base_commit,
        port=progress.port,
        prompt=task.prompt or "",
        prompt_file=_prompt_file(spec, task),
        conflict=progress.conflict,
        conflict_file=progress.conflict_file,
    )


def fence_for(site: Site, label: str, log: Path) -> gitops.Scope:
    """What one process of the task may touch (see gitops.guard)."""
    spec = site.spec
    return gitops.Scope(
        spec.repo,
        spec.run,
        site.task.id,
        site.worktree,
        site.progress.start_commit,
        spec.state_dir,
        label,
        log,
        spec.env,
        spec.clone,
        spec.user_hooks,
    )


@dataclass(frozen=True)
class Site:
    """Where a task's steps run: the run, the task and its progress, its worktree (or a
    best_of candidate's), and the template values and environment its commands get."""

    spec: RunSpec
    task: Task
    progress: TaskProgress
    worktree: Path
    values: Mapping[str, str]
    env: Mapping[str, str]


def site_for(spec: RunSpec, task: Task, progress: TaskProgress, worktree: Path) -> Site:
    """The task's steps in worktree (expand() adds the GENESIS_* variables to env)."""
    values = values_for(spec, task, worktree, progress)
    return Site(spec, task, progress, worktree, values, {**spec.env, **dict(task.env)})


def task_limits(task: Task) -> proc.Limits:
    """What the task's agent may use: its timeout, memory and cores."""
    return proc.Limits(timeout_s=task.timeout_s, memory_bytes=task.memory_bytes, cpu=task.cpu)
