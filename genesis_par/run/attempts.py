"""One task in its worktree: attempts with retries, the check, the commit (runs in a worker)."""

from __future__ import annotations

import contextlib
import dataclasses
import threading
import time
import traceback
from collections.abc import Callable
from pathlib import Path

from genesis_par import gitops, proc, worktrees
from genesis_par.errors import GenesisError
from genesis_par.model import FINAL_FAILURES, Failure, TaskStatus
from genesis_par.plan.model import Task
from genesis_par.run import steps
from genesis_par.run.progress import Recorder, TaskProgress, fail
from genesis_par.run.setup_check import escape_failure, outcome_reason, run_check, run_setup
from genesis_par.run.spec import BUDGET_REACHED, RunSpec, Site, fence_for, site_for, task_limits
from genesis_par.run.workspace import (
    clear_stale_locks,
    copy_included,
    keep,
    reset,
    save_attempt,
)
from genesis_par.state.events import AttemptBegun, Exited, ProcessStarted
from genesis_par.usage import Usage
from genesis_par.usage import attempt as metered
from genesis_par.worktrees import clones

BACKOFF_S = 0.5


def _message(spec: RunSpec, task: Task) -> str:
    return f"genesis-par: {task.id}\n\nGenesis-Run: {spec.run}\nGenesis-Task: {task.id}\n"


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
            clear_stale_locks(worktree, worktrees.branch_name(spec.run, task.id))
            _finish_done_agent(spec, task, progress, worktree, cancel, record)
            return
        if reused:  # an interrupted attempt's work is kept before the worktree is reset
            clear_stale_locks(worktree, worktrees.branch_name(spec.run, task.id))
            save_attempt(spec, task, worktree, max(first - 1, 0))
            reset(spec, task, worktree, progress.start_commit)
    except GenesisError as e:
        fail(progress, Failure.SETUP, f"its worktree could not be prepared: {e}")
        progress.duration_s = time.time() - started
        return
    site, limits = site_for(spec, task, progress, worktree), task_limits(task)
    copy_included(spec, worktree)
    setup_done = reused and proc.recorded_exit(spec.setup_exit_file(task.id)) == 0
    if not setup_done and not _setup(site, first, cancel):
        progress.duration_s = time.time() - started
        return
    for attempt in range(first, first + task.retries + 1):
        if attempt > first:
            if spec.budget_reached():
                progress.reason = f"{progress.reason}; not tried again: {BUDGET_REACHED}"
                attempt -= 1  # the last one that ran: its work is kept under its own number
                break
            save_attempt(spec, task, worktree, attempt - 1)
            reset(spec, task, worktree, progress.start_commit)
            copy_included(spec, worktree)  # in case the failed attempt removed one
            if cancel.wait(BACKOFF_S * (attempt - first)):
                break
        outcome = _attempt(site, attempt, limits, cancel, record)
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
    site = site_for(spec, task, progress, worktree)
    progress.exit_code, progress.status = 0, TaskStatus.RUNNING
    record(task.id, Exited(progress.attempts, 0, None, progress.peak_rss_bytes))
    log = spec.log_path(task.id, progress.attempts)
    limits = proc.Limits(timeout_s=task.timeout_s)
    if _check(site, log, limits, cancel) is not None:
        return
    progress.free_slot()
    _succeed(spec, task, progress, worktree)
    assert progress.started_at is not None
    progress.duration_s = time.time() - progress.started_at


def _setup(site: Site, attempt: int, cancel: threading.Event) -> bool:
    """[run] setup, once in a new worktree (again if it never exited 0 there: killed half-way);
    its output goes to the task's log."""
    spec, task = site.spec, site.task
    if spec.plan.run.setup is None:
        return True
    log = site.progress.log = spec.log_path(task.id, attempt)
    failed = run_setup(site, log, str(attempt), spec.setup_exit_file(task.id), cancel)
    if failed is not None:
        fail(site.progress, failed.failure, failed.reason)
    return failed is None


def run_agent(
    site: Site,
    n: int,
    step: steps.Step,
    label: str,
    cancel: threading.Event,
    record: Recorder,
    on_sample: Callable[[int], None],
) -> tuple[steps.Ran, Usage]:
    """The task's command as its attempt n: recorded before it starts, its process (for the
    orphan sweep) once it runs, its end after; metered all along (what it spent, and
    "budget" when the task passes its max_cost_usd). The outcome, and what it spent."""
    spec, task, progress = site.spec, site.task, site.progress
    record(task.id, AttemptBegun(n, str(step.log)))
    metering = metered.start(spec, task, progress, step.log)

    def started(s: proc.Started) -> None:
        record(task.id, ProcessStarted(n, s.pid, s.create_time))

    def sample(rss: int, cpu_s: float) -> Failure | None:
        on_sample(rss)
        return metering.sample(rss, cpu_s)

    fence = fence_for(site, label, step.log)
    step = dataclasses.replace(step, env=metered.env(spec, step.log, step.env))
    try:
        ran = steps.run(step, cancel, fence=fence, on_start=started, on_sample=sample)
    except BaseException:
        metered.drop(progress, metering)
        raise
    outcome, spent = metered.finish(progress, metering, ran.outcome)
    record(task.id, Exited(n, outcome.exit_code, outcome.failure, outcome.peak_rss_bytes, *spent))
    return ran._replace(outcome=outcome), metering.live


def _attempt(
    site: Site, attempt: int, limits: proc.Limits, cancel: threading.Event, record: Recorder
) -> proc.Outcome | None:
    """One attempt; None when it succeeded, else the failing outcome."""
    spec, task, progress, worktree = site.spec, site.task, site.progress, site.worktree
    log = spec.log_path(task.id, attempt)
    progress.attempts, progress.log, progress.status = attempt, log, TaskStatus.RUNNING

    def sample(rss: int) -> None:
        progress.rss_bytes = rss
        progress.peak_rss_bytes = max(progress.peak_rss_bytes, rss)

    step = steps.Step(task.command, worktree, log, site.values, site.env, limits)
    ran, _ = run_agent(site, attempt, step, str(attempt), cancel, record, sample)
    outcome = ran.outcome
    progress.exit_code = outcome.exit_code
    if ran.escape is not None:
        fail(progress, escape_failure(ran.escape), ran.escape.reason or "")
        return outcome
    if outcome.failure is not None or task.check is not None or spec.clone:
        # before anything else runs there (on a plain success, commit_all's own is the first)
        gitops.locate(worktree, common_dir=spec.own_repo(worktree))
    if outcome.failure is None:
        failed_check = _check(site, log, limits, cancel)
        if failed_check is not None:
            return failed_check
    if outcome.failure is not None:
        fail(progress, outcome.failure, outcome_reason(outcome, task))
        return outcome
    progress.free_slot()  # nothing of the task runs any more: the next one may start
    _succeed(spec, task, progress, worktree)
    return None


def _check(
    site: Site, log: Path, limits: proc.Limits, cancel: threading.Event
) -> proc.Outcome | None:
    """Run the task's check after its agent exited 0; the failing outcome, or None."""
    failed = run_check(site, log, f"check.{site.progress.attempts}", limits, cancel)
    if failed is None:
        return None
    fail(site.progress, failed.failure, failed.reason)
    return failed.outcome


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
    unrecorded = worktrees.unrecorded_work(worktree, progress.start_commit, home, done.where)
    if unrecorded:  # the branch lacks part of the agent's work: never merge it as if whole
        fail(progress, Failure.COMMIT, unrecorded)
        return
    progress.status, progress.failure, progress.reason = TaskStatus.SUCCEEDED, None, None
