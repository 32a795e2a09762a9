"""One task in its worktree: attempts with retries, the check, the commit (runs in a worker)."""

from __future__ import annotations

import contextlib
import dataclasses
import os
import shutil
import threading
import time
import traceback
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

from genesis_par import gitops, proc, worktrees
from genesis_par.errors import GenesisError
from genesis_par.model import FINAL_FAILURES, EventKind, Failure, TaskStatus
from genesis_par.plan import values as plan_values
from genesis_par.plan.model import Isolation, Plan, Task
from genesis_par.run import steps
from genesis_par.usage import Usage, total
from genesis_par.usage import attempt as metered
from genesis_par.usage.metering import Metering
from genesis_par.worktrees import clones

BACKOFF_S = 0.5
BUDGET_REACHED = "the run reached its budget_usd"


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
    candidates: list[dict[str, object]] | None = None  # best_of: each candidate, the winner

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

    def fields(self) -> dict[str, object]:
        """The task as the JSON output and the state store see it."""
        return {
            "id": self.id,
            "status": self.status,
            "failure": self.failure,
            "reason": self.reason,
            "attempts": self.attempts,
            "exit_code": self.exit_code,
            "branch": self.branch if self.start_commit else None,  # null: never started
            "commit": self.commit,
            "changed": self.changed,
            "duration_s": None if self.duration_s is None else round(self.duration_s, 3),
            "peak_rss_bytes": self.peak_rss_bytes,
            "cpu_s": round(self.total_cpu_s(), 3),
            "agent": self.agent,
            "usage": self.total_usage().fields(),
            "usage_notes": list(self.usage_notes),
            "candidates": self.candidates,
            "log": str(self.log) if self.log else None,
            "node": self.node,
        }

    def elapsed(self, now: float) -> float:
        """Seconds since the task started (its duration once it finished)."""
        if self.duration_s is not None:
            return self.duration_s
        return now - self.started_at if self.started_at else 0.0


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


Recorder = Callable[[str, EventKind, dict[str, object]], None]


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


def fence_for(
    spec: RunSpec, task: Task, progress: TaskProgress, worktree: Path, label: str, log: Path
) -> gitops.Scope:
    """What one process of the task may touch (see gitops.guard)."""
    return gitops.Scope(
        spec.repo,
        spec.run,
        task.id,
        worktree,
        progress.start_commit,
        spec.state_dir,
        label,
        log,
        spec.env,
        spec.clone,
    )


def _reason(outcome: proc.Outcome, task: Task) -> str:
    why = _why(outcome, task)
    if outcome.left_running:  # a supervisor that lost track says so (issue 13)
        pids = " ".join(map(str, outcome.left_running))
        why += f"; {len(outcome.left_running)} of its processes could not be stopped: pids {pids}"
    return why


def _why(outcome: proc.Outcome, task: Task) -> str:
    if outcome.failure is Failure.TIMEOUT:
        return f"timed out after {task.timeout_s:g}s"
    if outcome.failure is Failure.MEMORY:
        return f"went over its memory limit of {plan_values.format_size(task.memory_bytes or 0)}"
    if outcome.failure is Failure.CPU:
        return f"used more than {task.cpu:g} cores"
    if outcome.failure is Failure.CANCELLED:
        return "interrupted"
    if outcome.failure is Failure.BUDGET:
        return f"spent more than its max_cost_usd of ${task.max_cost_usd:g}"
    return f"exited with code {outcome.exit_code}"


def _message(spec: RunSpec, task: Task) -> str:
    return f"genesis-par: {task.id}\n\nGenesis-Run: {spec.run}\nGenesis-Task: {task.id}\n"


def _save_attempt(spec: RunSpec, task: Task, worktree: Path, attempt: int) -> None:
    """Keep what a failed attempt left under refs/genesis/<run>/<task>/attempt-<n>; no branch
    moves (the agent may have left HEAD on any branch).

    Attempt 0 (no agent ran: only setup worked here) has nothing to keep. A ref already there
    was saved by a resume killed before its next attempt: only a reset came after, keep it."""
    ref = f"refs/genesis/{spec.run}/{task.id}/attempt-{attempt}"
    if attempt < 1 or gitops.resolve_commit(spec.repo.root, ref) is not None:
        return
    keep(spec, task, worktree, ref)


def keep(spec: RunSpec, task: Task, worktree: Path, ref: str) -> None:
    """Everything in the task's checkout (committed or not) under ref in the user's repository."""
    if spec.clone:
        branch = worktrees.branch_name(spec.run, task.id)
        clones.keep(spec.repo, worktree, ref, branch, spec.included)
    else:
        gitops.save_to_ref(worktree, ref, leave_out=spec.included)


def unexpected(spec: RunSpec, task: Task, progress: TaskProgress, error: Exception) -> None:
    """Fail the task with the error as its reason; the traceback goes to its log if it can."""
    fail(
        progress,
        Failure.ERROR,
        f"genesis-par hit an unexpected error: {type(error).__name__}: {error}",
    )
    if progress.started_at is not None:
        progress.duration_s = time.time() - progress.started_at
    log = progress.log or spec.log_path(task.id, max(progress.attempts, 1))
    with contextlib.suppress(OSError), log.open("a") as handle:
        handle.write("genesis-par: " + "".join(traceback.format_exception(error)))


def run_attempts(
    spec: RunSpec,
    task: Task,
    progress: TaskProgress,
    cancel: threading.Event,
    record: Recorder,
) -> None:
    """The task's attempts in its own worktree (setup, agent, check, commit, retries); raises
    what run/task.py turns into the task's failure."""
    assert progress.start_commit is not None
    started = progress.started_at = progress.started_at or time.time()
    first = progress.attempts + 1  # attempts made before a resume keep their numbers
    try:
        worktree, reused = worktrees.allocate(
            spec.repo,
            spec.run,
            task.id,
            progress.start_commit,
            spec.plan.run.pool,
            spec.clone,
            branch_may_exist=not spec.new_run,
        )
        if reused and progress.agent_done:  # its agent finished before the interruption
            _clear_stale_locks(worktree, worktrees.branch_name(spec.run, task.id))
            _finish_done_agent(spec, task, progress, worktree, cancel, record)
            return
        if reused:  # an interrupted attempt's work is kept before the worktree is reset
            _clear_stale_locks(worktree, worktrees.branch_name(spec.run, task.id))
            _save_attempt(spec, task, worktree, max(first - 1, 0))
            _reset(spec, task, worktree, progress.start_commit)
    except GenesisError as e:
        fail(progress, Failure.SETUP, f"its worktree could not be prepared: {e}")
        progress.duration_s = time.time() - started
        return
    values = values_for(spec, task, worktree, progress)
    env = {**spec.env, **dict(task.env)}  # expand() adds the GENESIS_* variables
    limits = proc.Limits(timeout_s=task.timeout_s, memory_bytes=task.memory_bytes, cpu=task.cpu)
    copy_included(spec, worktree)
    setup_done = reused and proc.recorded_exit(spec.setup_exit_file(task.id)) == 0
    if not setup_done and not _setup(spec, task, progress, worktree, values, env, first, cancel):
        progress.duration_s = time.time() - started
        return
    for attempt in range(first, first + task.retries + 1):
        if attempt > first:
            if spec.budget_reached():
                progress.reason = f"{progress.reason}; not tried again: {BUDGET_REACHED}"
                attempt -= 1  # the last one that ran: its work is kept under its own number
                break
            _save_attempt(spec, task, worktree, attempt - 1)
            _reset(spec, task, worktree, progress.start_commit)
            copy_included(spec, worktree)  # in case the failed attempt removed one
            if cancel.wait(BACKOFF_S * (attempt - first)):
                break
        outcome = _attempt(
            spec, task, progress, attempt, worktree, values, env, limits, cancel, record
        )
        if (
            outcome is None
            or outcome.failure is Failure.CANCELLED
            or progress.failure in FINAL_FAILURES
            or progress.failure is Failure.BUDGET  # trying again would spend more
        ):
            break
    if progress.status == TaskStatus.FAILED:  # kept like the earlier attempts; the worktree stays
        keep(spec, task, worktree, f"refs/genesis/{spec.run}/{task.id}/attempt-{attempt}")
    progress.duration_s = time.time() - started


def _finish_done_agent(
    spec: RunSpec,
    task: Task,
    progress: TaskProgress,
    worktree: Path,
    cancel: threading.Event,
    record: Recorder,
) -> None:
    """Resume a task whose agent had exited 0: run its check and commit, never the agent again."""
    values = values_for(spec, task, worktree, progress)
    env = {**spec.env, **dict(task.env)}  # expand() adds the GENESIS_* variables
    progress.exit_code, progress.status = 0, TaskStatus.RUNNING
    record(
        task.id,
        EventKind.EXITED,
        {
            "n": progress.attempts,
            "exit_code": 0,
            "failure": None,
            "peak_rss_bytes": progress.peak_rss_bytes,
        },
    )
    log = spec.log_path(task.id, progress.attempts)
    limits = proc.Limits(timeout_s=task.timeout_s)
    if _check(spec, task, progress, worktree, values, env, log, limits, cancel) is not None:
        return
    _succeed(spec, task, progress, worktree)
    assert progress.started_at is not None
    progress.duration_s = time.time() - progress.started_at


def _reset(spec: RunSpec, task: Task, worktree: Path, start: str) -> None:
    """Back to start on the task's own branch, wherever the agent left HEAD."""
    branch = worktrees.branch_name(spec.run, task.id)
    gitops.reset_worktree(worktree, start, branch=branch)


def broken_reason(e: gitops.WorktreeBroken) -> str:
    if not e.worktree.is_dir():
        return f"its worktree was removed or replaced ({e.detail}): nothing was committed"
    return (
        f"its worktree's .git was removed or replaced ({e.detail}): nothing was committed, "
        f"and the repository was not touched; its files are left in {e.worktree}"
    )


def _clear_stale_locks(worktree: Path, branch: str) -> None:
    """Remove .lock files a killed git left here, but only when no git process works here."""
    stale = gitops.lock_files(worktree, branch)
    if stale and not proc.git_running_in(worktree):
        for lock in stale:
            lock.unlink(missing_ok=True)


def copy_included(spec: RunSpec, worktree: Path) -> None:
    """Copy the .worktreeinclude files (.env, local config) from the main worktree."""
    for name in spec.included:
        source, target = spec.repo.root / name, worktree / name
        if source.is_file() and not target.exists():
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target)


class Failed(NamedTuple):
    """Why a step of the task failed."""

    failure: Failure
    reason: str
    outcome: proc.Outcome


def _setup(
    spec: RunSpec,
    task: Task,
    progress: TaskProgress,
    worktree: Path,
    values: Mapping[str, str],
    env: Mapping[str, str],
    attempt: int,
    cancel: threading.Event,
) -> bool:
    """[run] setup, once in a new worktree (again if it never exited 0 there: killed half-way);
    its output goes to the task's log."""
    if spec.plan.run.setup is None:
        return True
    log = spec.log_path(task.id, attempt)
    progress.log = log
    exit_file = spec.setup_exit_file(task.id)
    failed = run_setup(
        spec, task, progress, worktree, values, env, log, str(attempt), exit_file, cancel
    )
    if failed is not None:
        fail(progress, failed.failure, failed.reason)
    return failed is None


def run_setup(
    spec: RunSpec,
    task: Task,
    progress: TaskProgress,
    worktree: Path,
    values: Mapping[str, str],
    env: Mapping[str, str],
    log: Path,
    label: str,
    exit_file: Path,
    cancel: threading.Event,
) -> Failed | None:
    """[run] setup in a new worktree of the task; why it failed, or None."""
    setup = spec.plan.run.setup
    if setup is None:
        return None
    limits = proc.Limits(timeout_s=task.timeout_s)
    step = steps.Step(setup, worktree, log, values, env, limits, exit_file)
    fence = fence_for(spec, task, progress, worktree, f"setup.{label}", log)
    ran = steps.run(step, cancel, fence=fence)
    if ran.escape is not None:
        return Failed(_escape(ran.escape), f"setup: {ran.escape.reason}", ran.outcome)
    if ran.outcome.failure is None:
        return None
    cancelled = ran.outcome.failure is Failure.CANCELLED
    reason = f"setup `{setup.text}` failed ({_reason(ran.outcome, task)})"
    return Failed(Failure.CANCELLED if cancelled else Failure.SETUP, reason, ran.outcome)


def _escape(verdict: gitops.Verdict) -> Failure:
    return verdict.failure or Failure.ESCAPED


def run_agent(
    spec: RunSpec,
    task: Task,
    progress: TaskProgress,
    n: int,
    worktree: Path,
    step: steps.Step,
    label: str,
    cancel: threading.Event,
    record: Recorder,
    on_sample: Callable[[int], None],
) -> tuple[steps.Ran, Usage]:
    """The task's command as its attempt n: recorded before it starts, its process (for the
    orphan sweep) once it runs, its end after; metered all along (what it spent, and
    "budget" when the task passes its max_cost_usd). The outcome, and what it spent."""
    record(task.id, EventKind.ATTEMPT, {"n": n, "log": str(step.log)})
    metering = metered.start(spec, task, progress, step.log)

    def started(s: proc.Started) -> None:
        record(task.id, EventKind.STARTED, {"n": n, "pid": s.pid, "create_time": s.create_time})

    def sample(rss: int, cpu_s: float) -> Failure | None:
        on_sample(rss)
        return metering.sample(rss, cpu_s)

    fence = fence_for(spec, task, progress, worktree, label, step.log)
    step = dataclasses.replace(step, env=metered.env(spec, step.log, step.env))
    try:
        ran = steps.run(step, cancel, fence=fence, on_start=started, on_sample=sample)
    except BaseException:
        metered.drop(progress, metering)
        raise
    outcome, spent = metered.finish(progress, metering, ran.outcome)
    record(
        task.id,
        EventKind.EXITED,
        {
            "n": n,
            "exit_code": outcome.exit_code,
            "failure": outcome.failure,
            "peak_rss_bytes": outcome.peak_rss_bytes,
            **spent,
        },
    )
    return ran._replace(outcome=outcome), metering.live


def _attempt(
    spec: RunSpec,
    task: Task,
    progress: TaskProgress,
    attempt: int,
    worktree: Path,
    values: Mapping[str, str],
    env: Mapping[str, str],
    limits: proc.Limits,
    cancel: threading.Event,
    record: Recorder,
) -> proc.Outcome | None:
    """One attempt; None when it succeeded, else the failing outcome."""
    log = spec.log_path(task.id, attempt)
    progress.attempts, progress.log, progress.status = attempt, log, TaskStatus.RUNNING

    def sample(rss: int) -> None:
        progress.rss_bytes = rss
        progress.peak_rss_bytes = max(progress.peak_rss_bytes, rss)

    step = steps.Step(task.command, worktree, log, values, env, limits)
    ran, _ = run_agent(
        spec, task, progress, attempt, worktree, step, str(attempt), cancel, record, sample
    )
    outcome = ran.outcome
    progress.exit_code = outcome.exit_code
    if ran.escape is not None:
        fail(progress, _escape(ran.escape), ran.escape.reason or "")
        return outcome
    gitops.locate(worktree, common_dir=spec.own_repo(worktree))  # before the check runs there
    if outcome.failure is None:
        failed_check = _check(spec, task, progress, worktree, values, env, log, limits, cancel)
        if failed_check is not None:
            return failed_check
    if outcome.failure is not None:
        fail(progress, outcome.failure, _reason(outcome, task))
        return outcome
    _succeed(spec, task, progress, worktree)
    return None


def _check(
    spec: RunSpec,
    task: Task,
    progress: TaskProgress,
    worktree: Path,
    values: Mapping[str, str],
    env: Mapping[str, str],
    log: Path,
    limits: proc.Limits,
    cancel: threading.Event,
) -> proc.Outcome | None:
    """Run the task's check after its agent exited 0; the failing outcome, or None."""
    label = f"check.{progress.attempts}"
    failed = run_check(spec, task, progress, worktree, values, env, log, label, limits, cancel)
    if failed is None:
        return None
    fail(progress, failed.failure, failed.reason)
    return failed.outcome


def run_check(
    spec: RunSpec,
    task: Task,
    progress: TaskProgress,
    worktree: Path,
    values: Mapping[str, str],
    env: Mapping[str, str],
    log: Path,
    label: str,
    limits: proc.Limits,
    cancel: threading.Event,
) -> Failed | None:
    """The task's check, after its agent exited 0; why it failed, or None."""
    if task.check is None:
        return None
    step = steps.Step(
        task.check, worktree, log, values, env, limits, proc.exit_file_for(log, "check")
    )
    ran = steps.run(step, cancel, fence=fence_for(spec, task, progress, worktree, label, log))
    if ran.escape is not None:
        return Failed(_escape(ran.escape), f"check: {ran.escape.reason}", ran.outcome)
    if ran.outcome.failure is None:
        return None
    failure = Failure.CHECK if ran.outcome.failure is Failure.EXIT else ran.outcome.failure
    reason = f"check `{task.check.text}` failed ({_reason(ran.outcome, task)})"
    return Failed(failure, reason, ran.outcome)


def fail(progress: TaskProgress, failure: Failure, reason: str) -> None:
    cancelled = failure is Failure.CANCELLED
    progress.status = TaskStatus.CANCELLED if cancelled else TaskStatus.FAILED
    progress.failure = None if cancelled else failure
    progress.reason = reason


def _succeed(spec: RunSpec, task: Task, progress: TaskProgress, worktree: Path) -> None:
    assert progress.start_commit is not None
    branch = worktrees.branch_name(spec.run, task.id)
    message, start = _message(spec, task), progress.start_commit
    if spec.clone:  # committed in the clone, fetched home, the task's branch moved to it
        done = clones.record(
            spec.repo, worktree, message, start, spec.git_env, spec.included, branch
        )
    else:
        done = gitops.commit_all(
            worktree,
            message,
            start,
            spec.git_env,
            spec.included,
            branch=branch,
            common_dir=spec.repo.common_dir,
        )
    progress.commit, progress.changed = done.commit, done.changed
    home = spec.repo.root if spec.clone else None
    unrecorded = worktrees.unrecorded_work(worktree, progress.start_commit, home)
    if unrecorded:  # the branch lacks part of the agent's work: never merge it as if whole
        fail(progress, Failure.COMMIT, unrecorded)
        return
    progress.status, progress.failure, progress.reason = TaskStatus.SUCCEEDED, None, None
