"""Merging onto a target outside a run: a run's succeeded branches again (`merge --run`), or
named branches (`merge BRANCH... --into REF`), through the same queue."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from genesis_par import gitops, worktrees
from genesis_par import plan as plan_mod
from genesis_par.errors import UsageError
from genesis_par.land import conflicts, landing, queue
from genesis_par.model import RunStatus, TaskStatus
from genesis_par.plan.model import Command, MergeMethod, Task
from genesis_par.report.run_view import landing_json
from genesis_par.state.merges import RunSteps
from genesis_par.state.store import Store, pick_run


def merge_run(
    repo: gitops.RepoPaths,
    store: Store,
    run: str | None,
    into: str | None,
    method: MergeMethod | None,
    dry_run: bool,
    env: Mapping[str, str],
    progress: Callable[[str, Mapping[str, object]], None] | None = None,
) -> landing.Landing:
    """Merge a run's (the latest when None) succeeded branches onto its target, or into; the
    merge is recorded with the run (a dry run changes nothing). progress: the queue's steps."""
    record = pick_run(store, run)
    plan = plan_mod.loads(record.plan_text, Path(record.plan_path))
    done = [t for t in store.tasks(record.name) if t.status == TaskStatus.SUCCEEDED]
    succeeded = {t.id: t.commit for t in done if t.commit}
    starts = {t.id: t.start_commit for t in done if t.start_commit}
    where = landing.target(repo, record.name, plan, into)
    home = landing.bring_home(
        repo,
        record.name,
        plan,
        succeeded,
        record.base_commit,
        where,
        method=method,
        dry_run=dry_run,
        state_dir=repo.common_dir / "genesis-par",
        git_env=gitops.identity_env(repo.root),
        env=env,
        starts=starts,
        journal=RunSteps(store, record.name),
        progress=progress,
    )
    if home.queue is not None and not dry_run:
        q = home.queue
        data = {**landing_json(home), "steps": q.steps}
        store.record_merge(record.name, q.into, q.before, q.after, data)
        _update_result(store, record.name, data, unmerged=bool(q.unmerged))
    return home


def merge_branches(
    repo: gitops.RepoPaths,
    state: Path,
    branches: Sequence[str],
    into: str | None,
    method: MergeMethod | None,
    dry_run: bool,
    git_env: Mapping[str, str],
    env: Mapping[str, str],
) -> landing.Landing:
    """Merge the named branches onto into (the queue with no check); a dry run changes nothing."""
    if into is None:
        raise UsageError("name the branch to merge into with --into (e.g. --into main)")
    commits = {b: gitops.resolve_commit(repo.root, b) for b in branches}
    missing = [b for b, c in commits.items() if c is None]
    if missing:
        raise UsageError(f'branch "{missing[0]}" does not name a commit')
    tasks = tuple(Task(b, Command(("true",)), index=i) for i, b in enumerate(branches))
    plan = plan_mod.Plan(
        path=Path("named-branches"),
        text="",
        run=plan_mod.RunSettings("merge"),
        merge=plan_mod.MergeSettings(into=into),
        tasks=tasks,
    )
    where = landing.target(repo, "merge", plan, into)
    start = gitops.resolve_commit(repo.root, where.ref)
    if start is None:
        raise UsageError(f'--into "{into}" does not exist: create it first (git branch {into})')
    return _land_branches(repo, state, plan, commits, start, where, method, dry_run, git_env, env)


def _land_branches(
    repo: gitops.RepoPaths,
    state: Path,
    plan: plan_mod.Plan,
    commits: Mapping[str, str | None],
    start: str,
    where: landing.Target,
    method: MergeMethod | None,
    dry_run: bool,
    git_env: Mapping[str, str],
    env: Mapping[str, str],
) -> landing.Landing:
    names = list(commits)
    report = conflicts.check(repo.root, names, start)
    candidates = [
        queue.Candidate(plan.task(b), b, commits[b] or "", frozenset(report.conflicting(b)))
        for b in names
        if b not in report.broken
    ]
    spec = queue.QueueSpec(
        repo=repo,
        run="merge",
        into_ref=where.ref,
        start=start,
        method=method or MergeMethod.MERGE,
        check=None,
        log_dir=state / "logs" / "merge",
        check_worktree=(
            worktrees.merge_worktree(repo, "merge", start)
            if method is MergeMethod.REBASE and not dry_run
            else None
        ),
        git_env=git_env,
        env=env,
        checked_out=where.checked_out,
    )
    touched = report.touched
    result = queue.land(spec, candidates, lambda b: touched.get(b, set()), dry_run, report.broken)
    return landing.Landing(report, result, {b: b for b in names})


def _update_result(store: Store, run: str, data: Mapping[str, Any], unmerged: bool) -> None:
    """A later `merge` becomes the run's merge in status and reports, and sets its status."""
    result = store.result(run)
    if result is None:
        return
    result = {**result, "merge": data.get("merge"), "conflicts": data.get("conflicts")}
    if result["status"] in (RunStatus.SUCCEEDED, RunStatus.CONFLICTS):
        result["status"] = RunStatus.CONFLICTS if unmerged else RunStatus.SUCCEEDED
        store.finish_run(run, result["status"])
    store.set_result(run, result)
