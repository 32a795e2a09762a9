"""`genesis-par resume [RUN]`: continue an interrupted run; finished work is not redone."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from genesis_par import gitops, inputs, landing, proc, worktrees
from genesis_par import plan as plan_mod
from genesis_par.attempts import RunSpec, TaskProgress
from genesis_par.commands.common import (
    effective_status,
    open_store,
    pick_run,
    state_dir,
    stop_orphans,
)
from genesis_par.commands.run import Options, _execute, check_agents, finish
from genesis_par.report import run_view
from genesis_par.state import RunRecord, Store, run_lock

KEEP = ("succeeded",)
KEEP_UNLESS_RETRY = ("failed", "skipped")


def _plan(record: RunRecord, plan_path: Path | None) -> plan_mod.Plan:
    """The plan recorded with the run, unless --plan names another; say if the file changed."""
    if plan_path is not None:
        return plan_mod.load(plan_path)
    recorded = Path(record.plan_path)
    if recorded.exists() and _text_of(recorded) != record.plan_text:
        run_view.note(
            f"{recorded} changed since the run started; resuming with the plan recorded then "
            "(pass --plan to use the file as it is now)"
        )
    return plan_mod.loads(record.plan_text, recorded)


def _text_of(path: Path) -> str | None:
    """The plan file as it is now; None when it cannot (or must not) be read."""
    try:
        return inputs.read_input(path).decode("utf-8", errors="replace")
    except (OSError, inputs.NotReadable):
        return None


def _earlier(tasks: list[dict[str, Any]], retry_failed: bool) -> dict[str, TaskProgress]:
    keep = KEEP if retry_failed else KEEP + KEEP_UNLESS_RETRY
    earlier = {}
    for t in tasks:
        progress = TaskProgress(
            str(t["id"]),
            attempts=int(t["attempts"] or 0),
            branch=t["branch"],
            start_commit=t["start_commit"],
        )
        interrupted = t["status"] in ("running", "cancelled")
        agent_exit = proc.exit_file_for(Path(t["log"])) if t["log"] else None
        if interrupted and agent_exit and proc.recorded_exit(agent_exit) == 0:
            progress.agent_done = True  # the agent finished; only its check and commit remain
        if t["status"] in keep:
            progress.status, progress.failure, progress.reason = (
                t["status"],
                t["failure"],
                t["reason"],
            )
            progress.commit, progress.changed = t["commit"], t["changed"]
            progress.exit_code, progress.duration_s = t["exit_code"], t["duration_s"]
            progress.peak_rss_bytes = int(t["peak_rss_bytes"] or 0)
            progress.log = Path(t["log"]) if t["log"] else None
        earlier[progress.id] = progress
    return earlier


def _replan(store: Store, run: str, plan: plan_mod.Plan) -> None:
    """Record the tasks `--plan` adds, and skip the unfinished ones it removes."""
    tasks = {t.id: worktrees.branch_name(run, t.id) for t in plan.tasks}
    added, removed = store.replan(run, tasks, f"removed from the plan by resume --plan {plan.path}")
    parts = [f"tasks added: {', '.join(added)}"] if added else []
    if removed:
        parts.append(f"unfinished tasks removed (now skipped): {', '.join(removed)}")
    if parts:
        run_view.note(f"{plan.path}: " + "; ".join(parts))


FINISHED_EXIT = {"succeeded": 0, "failed": 1, "conflicts": 3}  # as `run` exits


def resume(
    cwd: Path,
    run: str | None = None,
    *,
    retry_failed: bool = False,
    plan_path: Path | None = None,
    as_json: bool = False,
    env: Mapping[str, str] = os.environ,
) -> int:
    """Run what the run did not finish, then conflicts and the merge queue; run's exit codes."""
    repo, state = state_dir(cwd)
    gitops.check_version(repo.root)
    worktrees.check_layout(repo)
    with open_store(state) as store:
        stop_orphans(store)
        record = pick_run(store, run)
        status = effective_status(record)
        if status in FINISHED_EXIT and not retry_failed:  # resuming twice changes nothing
            run_view.note(
                f'run "{record.name}" already finished ({status}): nothing to resume. '
                f"`genesis-par merge --run {record.name}` lands its work again; "
                "`resume --retry-failed` runs its failed and skipped tasks again"
            )
            if as_json:
                run_view.print_json(store.result(record.name) or {"run": record.name})
            return FINISHED_EXIT[status]
        with run_lock(state, record.name):
            plan = _plan(record, plan_path)
            check_agents(plan)
            if plan_path is not None:
                _replan(store, record.name, plan)
            where = landing.Target(
                record.into_ref, gitops.checked_out_in(repo.root, record.into_ref)
            )
            earlier = _earlier(store.tasks(record.name, with_start=True), retry_failed)
            me = proc.identity()
            store.take_over(record.name, me.pid, me.create_time)
            spec = RunSpec(
                repo,
                plan,
                record.name,
                record.base_commit,
                state,
                gitops.identity_env(repo.root),
                gitops.without_repository_variables(env),  # agents' git stays in their worktree
                tuple(gitops.included_files(repo.root)),
                plan_mod.Isolation(store.isolation(record.name)),
            )
            progress = _execute(spec, store, as_json, False, earlier)
            return finish(spec, store, progress, where, Options(as_json=as_json))
