"""The steps around an agent: `[run] setup` in a new worktree and the task's check after its
agent exited 0 (shared by attempts and best_of candidates), and why a step failed."""

from __future__ import annotations

import threading
from collections.abc import Mapping
from pathlib import Path
from typing import NamedTuple

from genesis_par import gitops, proc
from genesis_par.model import Failure
from genesis_par.plan import values as plan_values
from genesis_par.plan.model import Task
from genesis_par.run import steps
from genesis_par.run.progress import TaskProgress
from genesis_par.run.spec import RunSpec, fence_for


class Failed(NamedTuple):
    """Why a step of the task failed."""

    failure: Failure
    reason: str
    outcome: proc.Outcome


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
        return Failed(escape_failure(ran.escape), f"setup: {ran.escape.reason}", ran.outcome)
    if ran.outcome.failure is None:
        return None
    cancelled = ran.outcome.failure is Failure.CANCELLED
    reason = f"setup `{setup.text}` failed ({outcome_reason(ran.outcome, task)})"
    return Failed(Failure.CANCELLED if cancelled else Failure.SETUP, reason, ran.outcome)


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
        return Failed(escape_failure(ran.escape), f"check: {ran.escape.reason}", ran.outcome)
    if ran.outcome.failure is None:
        return None
    failure = Failure.CHECK if ran.outcome.failure is Failure.EXIT else ran.outcome.failure
    reason = f"check `{task.check.text}` failed ({outcome_reason(ran.outcome, task)})"
    return Failed(failure, reason, ran.outcome)


def escape_failure(verdict: gitops.Verdict) -> Failure:
    return verdict.failure or Failure.ESCAPED


def outcome_reason(outcome: proc.Outcome, task: Task) -> str:
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
