"""`genesis-par merge [BRANCH...]` and `genesis-par rollback [RUN]`."""

from __future__ import annotations

import itertools
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from genesis_par import gitops, worktrees
from genesis_par import plan as plan_mod
from genesis_par.commands.common import open_store, pick_run, state_dir
from genesis_par.errors import UsageError
from genesis_par.land import landing, queue
from genesis_par.plan.model import Command, MergeMethod, Task
from genesis_par.report import merge_view
from genesis_par.state.merges import MergeStep, RunSteps
from genesis_par.state.store import RunRecord, Store

EXIT_UNMERGED = 3


def _method(name: str | None) -> MergeMethod | None:
    if name is None:
        return None
    try:
        return MergeMethod(name)
    except ValueError:
        raise UsageError(f'unknown --method "{name}": use merge, squash or rebase') from None


def _recorded_plan(record: RunRecord) -> plan_mod.Plan:
    return plan_mod.loads(record.plan_text, Path(record.plan_path))


def run(
    cwd: Path,
    branches: Sequence[str] = (),
    *,
    run_name: str | None = None,
    into: str | None = None,
    method: str | None = None,
    dry_run: bool = False,
    as_json: bool = False,
    env: Mapping[str, str] = os.environ,
) -> int:
    """Merge a run's succeeded branches (or the named ones) onto the target; 3 if any is left."""
    repo, state = state_dir(cwd)
    gitops.check_version(repo.root)
    worktrees.check_layout(repo)
    chosen = _method(method)
    git_env = gitops.identity_env(repo.root)
    if branches:
        home = _merge_named(repo, state, branches, into, chosen, dry_run, git_env, env)
    else:
        with open_store(state, read_only=dry_run) as store:
            record = pick_run(store, run_name)
            plan = _recorded_plan(record)
            done = [
                t for t in store.tasks(record.name, with_start=True) if t["status"] == "succeeded"
            ]
            succeeded = {str(t["id"]): str(t["commit"]) for t in done if t["commit"]}
            starts = {str(t["id"]): str(t["start_commit"]) for t in done if t["start_commit"]}
            where = landing.target(repo, record.name, plan, into)
            home = landing.bring_home(
                repo,
                record.name,
                plan,
                succeeded,
                record.base_commit,
                where,
                method=chosen,
                dry_run=dry_run,
                state_dir=state,
                git_env=git_env,
                env=env,
                starts=starts,
                journal=RunSteps(store, record.name),
            )
            if home.queue is not None and not dry_run:
                from genesis_par.report.run_view import landing_json

                q = home.queue
                data = {**landing_json(home), "steps": q.steps}
                store.record_merge(record.name, q.into, q.before, q.after, data)
                _update_result(store, record.name, data, unmerged=bool(q.unmerged))
    merge_view.show(home, dry_run, as_json)
    return EXIT_UNMERGED if home.queue and home.queue.unmerged else 0


def _merge_named(
    repo: gitops.RepoPaths,
    state: Path,
    branches: Sequence[str],
    into: str | None,
    method: MergeMethod | None,
    dry_run: bool,
    git_env: Mapping[str, str],
    env: Mapping[str, str],
) -> landing.Landing:
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
    from genesis_par.land import conflicts

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
    if result["status"] in ("succeeded", "conflicts"):
        result["status"] = "conflicts" if unmerged else "succeeded"
        store.finish_run(run, result["status"])
    store.set_result(run, result)


def rollback(
    cwd: Path, run_name: str | None = None, *, revert: bool = False, as_json: bool = False
) -> int:
    """Put the run's merge target back where it was before the run's merges."""
    repo, state = state_dir(cwd)
    with open_store(state) as store:
        record = pick_run(store, run_name)
        recorded = store.merge_steps(record.name)
        if not recorded:
            raise UsageError(f'run "{record.name}" made no merges: nothing to roll back')
        into = recorded[0].into  # the run's target; a later `merge --into` elsewhere is not it
        current = gitops.resolve_commit(repo.root, into)
        steps = _made(repo, [s for s in recorded if s.into == into], current)
        if not steps:
            raise UsageError(f'run "{record.name}" made no merges: nothing to roll back')
        before, after = steps[0][0], steps[-1][1]
        if current == before:
            raise UsageError(f"{into} is already at {before[:12]}: nothing to roll back")
        checked_out = gitops.checked_out_in(repo.root, into)
        if checked_out is not None and not gitops.is_clean(checked_out):
            raise UsageError(
                f"{into} is checked out in {checked_out} with uncommitted changes: commit or "
                "stash them first"
            )
        if not revert:
            _check_resettable(into, before, after, str(current), steps)
            if not _move(repo, into, checked_out, after, before):
                raise UsageError(f"{into} moved while rolling back: run rollback again")
            new = before
        else:
            new = _revert(repo, record.name, into, checked_out, steps, str(current))
        store.roll_back_steps(record.name, into, {"into": into, "from": current, "to": new})
        result = store.result(record.name)
        if result and result.get("merge"):  # status and report say the merges were undone
            result["merge"] = {**result["merge"], "rolled_back_to": new}
            store.set_result(record.name, result)
    merge_view.show_rollback(into, str(current), new, revert, as_json)
    return 0


def _made(
    repo: gitops.RepoPaths, recorded: Sequence[MergeStep], current: str | None
) -> list[tuple[str, str]]:
    """(old, new) of each move made: a move journaled but never settled (the queue was killed
    during its compare-and-swap) counts when its commit is in the target's history."""
    return [
        (s.before, s.after)
        for s in recorded
        if s.published
        or (current is not None and gitops.merge_base(repo.root, s.after, current) == s.after)
    ]


def _check_resettable(
    into: str, before: str, after: str, current: str, steps: Sequence[tuple[str, ...]]
) -> None:
    """Resetting is only safe when the target holds nothing but the run's own merges."""
    if current != after:
        raise UsageError(
            f"{into} moved since the run merged (now {current[:12]}, the run left "
            f"{after[:12]}): not resetting it; pass --revert to add revert commits instead"
        )
    chained = all(a[1] == b[0] for a, b in itertools.pairwise(steps))
    if not steps or steps[0][0] != before or steps[-1][1] != after or not chained:
        raise UsageError(
            f"{into} holds commits made between the run's merges by someone else: resetting "
            "would drop them; pass --revert to revert only the run's merges"
        )


def _move(repo: gitops.RepoPaths, into: str, checked_out: Path | None, old: str, new: str) -> bool:
    """Compare-and-swap the target; a checked-out target moves its worktree's files too."""
    if checked_out is None:
        return gitops.try_update_ref(repo.root, into, new, old)
    return gitops.try_reset_checked_out(checked_out, old, new)


def _revert(
    repo: gitops.RepoPaths,
    run: str,
    into: str,
    checked_out: Path | None,
    steps: Sequence[tuple[str, ...]],
    current: str,
) -> str:
    """Revert commits for the run's own merges (newest first) on top of the target."""
    wt = worktrees.merge_worktree(repo, run, current)
    gitops.checkout_detached(wt, current)
    commits = [c for old, new in steps for c in gitops.first_parent_commits(repo.root, old, new)]
    env = gitops.identity_env(repo.root)
    if not gitops.revert(wt, list(reversed(commits)), env):
        raise UsageError(
            f"reverting the run's merges on {into} conflicts with later commits: revert by hand"
        )
    new = gitops.head(wt)
    if not _move(repo, into, checked_out, current, new):
        raise UsageError(f"{into} moved while rolling back: run rollback again")
    return new
