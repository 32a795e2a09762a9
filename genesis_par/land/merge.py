"""Merging onto a target outside a run: a run's succeeded branches again (`merge --run`), or
named branches (`merge BRANCH... --into REF`), through the same queue."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from genesis_par import gitops, worktrees
from genesis_par import plan as plan_mod
from genesis_par.errors import UsageError
from genesis_par.land import conflicts, landing, merge_queue, queue, resolve
from genesis_par.model import RunStatus, TaskStatus
from genesis_par.plan.model import Command, MergeMethod, Task
from genesis_par.state.events import BranchMoved
from genesis_par.state.landings import LandingRecord
from genesis_par.state.merges import RunSteps
from genesis_par.state.store import RunRecord, Store, pick_run

HooksFor = Callable[[RunRecord, plan_mod.Plan], resolve.Hooks]


def merge_run(
    repo: gitops.RepoPaths,
    store: Store,
    run: str | None,
    into: str | None,
    method: MergeMethod | None,
    dry_run: bool,
    env: Mapping[str, str],
    progress: Callable[[str, Mapping[str, object]], None] | None = None,
    hooks_for: HooksFor | None = None,
) -> landing.Landing:
    """Merge a run's (the latest when None) succeeded branches onto its target, or into; the
    merge is recorded with the run (a dry run changes nothing). Each task's branch is taken as
    it is now. progress: the queue's steps; hooks_for: what its on_conflict resolutions need
    (issue 15)."""
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
        hooks=hooks_for(record, plan) if hooks_for is not None and not dry_run else None,
        progress=progress,
    )
    if home.queue is not None and not dry_run:
        _record_tips(store, record.name, home.tips, succeeded)
        store.record_merge(record.name, landing.queue_record(home))
        _update_landing(store, record.name, landing.record(home), bool(home.queue.unmerged))
    return home


def _record_tips(
    store: Store, run: str, tips: Mapping[str, str], recorded: Mapping[str, str]
) -> None:
    """Task branches that moved since the run (a by-hand resolution): their new commit is the
    task's, in status and reports."""
    for task, tip in tips.items():
        if tip != recorded.get(task):
            store.record_event(run, task, BranchMoved(tip, recorded.get(task)))


def named_check(
    state: Path, check: str | None, run: str | None, into: str | None
) -> plan_mod.MergeSettings:
    """The check for named branches: --check, else the [merge] check of the run named with
    --run, or of the run whose target --into is; none when there is none."""
    if check is not None:
        if not check.strip():
            raise UsageError("--check needs a command, like --check 'pytest -q'")
        return plan_mod.MergeSettings(check=Command((check,), shell=True))
    if not (state / "state.db").exists() or (run is None and into is None):
        return plan_mod.MergeSettings()
    with Store.open(state, read_only=True) as store:
        if run is not None:
            record: RunRecord | None = pick_run(store, run)
        else:
            ref = landing.full_ref(str(into))
            record = next((r for r in store.runs() if r.into_ref == ref), None)
    if record is None:
        return plan_mod.MergeSettings()
    return plan_mod.loads(record.plan_text, Path(record.plan_path)).merge


def merge_branches(
    repo: gitops.RepoPaths,
    state: Path,
    branches: Sequence[str],
    into: str | None,
    method: MergeMethod | None,
    dry_run: bool,
    git_env: Mapping[str, str],
    env: Mapping[str, str],
    checking: plan_mod.MergeSettings | None = None,
) -> landing.Landing:
    """Merge the named branches onto into, each step behind checking's check (see named_check);
    a dry run changes nothing."""
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
        merge=dataclasses.replace(checking or plan_mod.MergeSettings(), into=into),
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
    names, check = list(commits), plan.merge.check
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
        check=check,
        check_timeout_s=plan.merge.timeout_s,
        log_dir=state / "logs" / "merge",
        check_worktree=(
            worktrees.merge_worktree(repo, "merge", start)
            if (method is MergeMethod.REBASE or check is not None) and not dry_run
            else None
        ),
        git_env=git_env,
        env=env,
        checked_out=where.checked_out,
    )
    touched = report.touched
    result = merge_queue.land(
        spec, candidates, lambda b: touched.get(b, set()), dry_run, report.broken
    )
    text = check.text if check else None
    return landing.Landing(report, result, {b: b for b in names}, check=text, dry_run=dry_run)


def _update_landing(store: Store, run: str, home: LandingRecord, unmerged: bool) -> None:
    """A later `merge` of a finished run becomes its landing in status and reports, and sets
    its status (tasks whose branch moved, a resolution, show their new commit: BranchMoved)."""
    record = store.get_run(run)
    if record is None or store.landing(run) is None:
        return
    if record.status in (RunStatus.SUCCEEDED, RunStatus.CONFLICTS):
        status = RunStatus.CONFLICTS if unmerged else RunStatus.SUCCEEDED
        store.finish_run(run, status, home)
    else:
        store.set_landing(run, home)
