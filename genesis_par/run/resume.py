"""Resuming an interrupted run: what it already did is kept, the rest runs, then it lands."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from genesis_par import gitops, proc, worktrees
from genesis_par.errors import UsageError
from genesis_par.land import landing
from genesis_par.model import BUDGET, ExitCode, RunStatus, TaskStatus
from genesis_par.plan import inputs
from genesis_par.plan.model import Plan
from genesis_par.plan.parse import load, loads
from genesis_par.run.backend import choose
from genesis_par.run.flow import (
    QUIET,
    Observers,
    Options,
    RunResult,
    check_agents,
    execute_tasks,
    finish,
    open_store,
    with_isolation,
)
from genesis_par.run.orphans import effective_status, stop_orphans
from genesis_par.run.progress import TaskProgress
from genesis_par.run.spec import run_spec
from genesis_par.state.landings import FinishedRun
from genesis_par.state.store import RunRecord, Store, TaskRecord, pick_run, run_lock

KEEP = (TaskStatus.SUCCEEDED,)
KEEP_UNLESS_RETRY = (TaskStatus.FAILED, TaskStatus.SKIPPED)
FINISHED_EXIT = {  # as `run` exits
    RunStatus.SUCCEEDED: ExitCode.OK,
    RunStatus.FAILED: ExitCode.FAILED,
    RunStatus.CONFLICTS: ExitCode.CONFLICTS,
}


@dataclass(frozen=True)
class AlreadyFinished:
    """Resuming a run that finished changes nothing: its status, exit code and record."""

    run: str
    status: RunStatus
    exit_code: ExitCode
    finished: FinishedRun | None  # None: recorded before it could finish


def _plan(record: RunRecord, plan_path: Path | None, observers: Observers) -> Plan:
    """The plan recorded with the run, unless --plan names another; say if the file changed."""
    if plan_path is not None:
        return load(plan_path)
    recorded = Path(record.plan_path)
    if recorded.exists() and _text_of(recorded) != record.plan_text:
        observers.note(
            f"{recorded} changed since the run started; resuming with the plan recorded then "
            "(pass --plan to use the file as it is now)"
        )
    return loads(record.plan_text, recorded)


def _text_of(path: Path) -> str | None:
    """The plan file as it is now; None when it cannot (or must not) be read."""
    try:
        return inputs.read_input(path).decode("utf-8", errors="replace")
    except (OSError, inputs.NotReadable):
        return None


def _earlier(tasks: list[TaskRecord], retry_failed: bool) -> dict[str, TaskProgress]:
    keep = KEEP if retry_failed else KEEP + KEEP_UNLESS_RETRY
    earlier = {}
    for t in tasks:
        progress = TaskProgress(
            t.id,
            attempts=t.attempts,
            branch=t.branch,
            start_commit=t.start_commit,
            usage=t.usage,  # what it spent counts toward the budget
            cpu_s=t.cpu_s,
            usage_notes=list(t.usage_notes),
            agent=t.agent,
        )
        if t.status == TaskStatus.SKIPPED and t.reason == BUDGET:
            earlier[progress.id] = progress  # not started for want of budget: it starts now
            continue
        interrupted = t.status in (TaskStatus.RUNNING, TaskStatus.CANCELLED)
        agent_exit = proc.exit_file_for(t.log) if t.log else None
        if interrupted and agent_exit and proc.recorded_exit(agent_exit) == 0:
            progress.agent_done = True  # the agent finished; only its check and commit remain
        if t.status in keep:
            progress.status, progress.failure, progress.reason = t.status, t.failure, t.reason
            progress.commit, progress.changed = t.commit, t.changed
            progress.exit_code, progress.duration_s = t.exit_code, t.duration_s
            progress.peak_rss_bytes, progress.log = t.peak_rss_bytes or 0, t.log
            progress.candidates, progress.node = t.candidates, t.node
        earlier[progress.id] = progress
    return earlier


def _with_budget(plan: Plan, budget: float | None) -> Plan:
    """The plan with --budget as its [run] budget_usd."""
    if budget is None:
        return plan
    if not math.isfinite(budget) or budget < 0:
        raise UsageError(f"--budget must be a number of US dollars, not negative, not {budget}")
    return dataclasses.replace(plan, run=dataclasses.replace(plan.run, budget_usd=budget))


def _replan(store: Store, run: str, plan: Plan, observers: Observers) -> None:
    """Record the tasks `--plan` adds, and skip the unfinished ones it removes."""
    tasks = {t.id: worktrees.branch_name(run, t.id) for t in plan.tasks}
    added, removed = store.replan(run, tasks, f"removed from the plan by resume --plan {plan.path}")
    parts = [f"tasks added: {', '.join(added)}"] if added else []
    if removed:
        parts.append(f"unfinished tasks removed (now skipped): {', '.join(removed)}")
    if parts:
        observers.note(f"{plan.path}: " + "; ".join(parts))


def resume(
    cwd: Path,
    run: str | None,
    env: Mapping[str, str],
    *,
    retry_failed: bool = False,
    plan_path: Path | None = None,
    backend: str | None = None,
    observers: Observers = QUIET,
    budget: float | None = None,
) -> RunResult | AlreadyFinished:
    """Run what the run (the latest when None) did not finish, then conflicts and the merge
    queue. budget: the run's budget_usd from now on (a run stopped by its budget goes on)."""
    repo = gitops.discover(cwd)
    gitops.check_version(repo.root)
    worktrees.check_layout(repo)
    state = repo.common_dir / "genesis-par"
    with open_store(state, observers.note) as store:
        stop_orphans(store)
        record = pick_run(store, run)
        status = effective_status(record)
        if status in FINISHED_EXIT and not retry_failed:  # resuming twice changes nothing
            return AlreadyFinished(
                record.name, status, FINISHED_EXIT[status], store.finished(record.name)
            )
        with run_lock(state, record.name):
            plan = _with_budget(_plan(record, plan_path, observers), budget)
            plan = choose(with_isolation(plan, store.isolation(record.name)), backend)
            check_agents(plan)
            if plan_path is not None:
                _replan(store, record.name, plan, observers)
            where = landing.Target(
                record.into_ref, gitops.checked_out_in(repo.root, record.into_ref)
            )
            earlier = _earlier(store.tasks(record.name), retry_failed)
            me = proc.identity()
            store.take_over(record.name, me.pid, me.create_time)
            spec = run_spec(repo, plan, record.name, record.base_commit, env)
            progress = execute_tasks(spec, store, observers, False, earlier)
            return finish(spec, store, progress, where, Options(), observers)
