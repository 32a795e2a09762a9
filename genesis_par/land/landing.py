"""Bring a run's work home: probe conflicts among its branches, then run the merge queue."""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from genesis_par import gitops, worktrees
from genesis_par.errors import UsageError
from genesis_par.land import conflicts, merge_queue, queue, resolve
from genesis_par.land.checks import BatchSettings, default_parallel_checks
from genesis_par.plan import values as plan_values
from genesis_par.plan.model import MergeMethod, Plan, target_clash
from genesis_par.state.landings import (
    ConflictRecord,
    LandingRecord,
    PairRecord,
    QueueRecord,
    UnmergedRecord,
)


@dataclass(frozen=True)
class Target:
    """Where a run's work lands."""

    ref: str  # refs/heads/...
    checked_out: Path | None  # the user's worktree that has it checked out, if any


@dataclass
class Landing:
    """The conflict report and what the queue did."""

    report: conflicts.Report
    queue: queue.QueueResult | None = None
    branches: dict[str, str] = field(default_factory=dict)  # task -> branch
    tips: dict[str, str] = field(default_factory=dict)  # task -> the commit the queue took
    resolutions: list[resolve.Resolution] = field(default_factory=list)  # issue 15
    check: str | None = None  # the merge check's command, None when none is set
    dry_run: bool = False


def full_ref(name: str) -> str:
    """refs/heads/NAME unless name is already a full ref."""
    return name if name.startswith("refs/") else f"refs/heads/{name}"


def target(repo: gitops.RepoPaths, run: str, plan: Plan, into: str | None) -> Target:
    """The merge target; a checked-out branch only when named with --into and clean.

    It must be a branch that is no task's and leaves the run's namespace free: `--into` and
    `--name` are checked here, the plan's own [merge] into when it was loaded."""
    name = into or plan.merge.into.replace("{run}", run)
    what = f'--into "{into}"' if into is not None else f'[merge] into "{name}"'
    problem = plan_values.branch_problem(name)
    clash = target_clash(name, run, (t.id for t in plan.tasks))
    if problem:
        raise UsageError(f"{what} {problem}")
    if clash:
        raise UsageError(f"{what} {clash[1]}: name another branch")
    ref = full_ref(name)
    short = ref.removeprefix("refs/heads/")
    if gitops.existing_refs(repo.root, [f"refs/tags/{short}"]) and not gitops.resolve_commit(
        repo.root, ref
    ):
        raise UsageError(
            f'{what}: "{short}" is a tag, not a branch: genesis-par never moves tags; name a branch'
        )
    checked_out = gitops.checked_out_in(repo.root, ref)
    if checked_out is not None and into is None:
        raise UsageError(
            f"[merge] into {ref} is checked out in {checked_out}: genesis-par does not merge "
            "into a checked-out branch unless you name it with --into"
        )
    if checked_out is not None and not gitops.is_clean(checked_out):
        raise UsageError(
            f"{ref} is checked out in {checked_out} with uncommitted changes: commit or stash "
            "them before merging into it"
        )
    return Target(ref, checked_out)


def current_tips(report: conflicts.Report, branches: Mapping[str, str]) -> dict[str, str]:
    """Task -> the commit its branch holds now, as probed: a commit added after the run (by the
    user, or by `resolve`) is part of the task."""
    probed = {b.name: b.commit for b in report.branches}
    return {task: probed[branch] for task, branch in branches.items()}


def bring_home(
    repo: gitops.RepoPaths,
    run: str,
    plan: Plan,
    succeeded: Mapping[str, str],
    base_commit: str,
    where: Target,
    *,
    method: MergeMethod | None = None,
    merge_now: bool = True,
    dry_run: bool = False,
    state_dir: Path,
    git_env: Mapping[str, str],
    env: Mapping[str, str],
    starts: Mapping[str, str] | None = None,
    journal: queue.StepJournal | None = None,
    hooks: resolve.Hooks | None = None,
    progress: Callable[[str, Mapping[str, object]], None] | None = None,
) -> Landing:
    """Probe the succeeded tasks' branches as they are now, then land what merges safely.

    succeeded: task -> the commit recorded when it finished (used when its branch is gone).

    starts: the commit each task started from, so squash and rebase land its own change only.
    hooks: given, the tasks left unmerged by conflicts are resolved by their on_conflict."""
    branches = {t: worktrees.branch_name(run, t) for t in succeeded}
    tip = gitops.resolve_commit(repo.root, where.ref)
    known = {branches[t]: commit for t, commit in succeeded.items()}
    report = conflicts.check(repo.root, list(branches.values()), tip or base_commit, known=known)
    check = plan.merge.check.text if plan.merge.check else None
    landing = Landing(report, branches=branches, check=check, dry_run=dry_run)
    if not merge_now or not succeeded:
        return landing
    task_of = {b: t for t, b in branches.items()}
    broken = {task_of[b]: why for b, why in report.broken.items()}  # left unmerged, with why
    tips = current_tips(report, {t: branches[t] for t in succeeded if t not in broken})
    landing.tips = tips
    candidates = [
        queue.Candidate(
            plan.task(t),
            branches[t],
            tip,
            frozenset(task_of[b] for b in report.conflicting(branches[t])),
            # a branch moved since the run (a by-hand resolution): git's own merge base is right
            (starts or {}).get(t) if tip == succeeded[t] else None,
        )
        for t, tip in tips.items()
    ]
    method = method or plan.merge.method
    needs_worktree = plan.merge.check is not None or method is MergeMethod.REBASE
    spec = queue.QueueSpec(
        repo=repo,
        run=run,
        into_ref=where.ref,
        start=base_commit,
        method=method,
        check=plan.merge.check,
        check_worktree=worktrees.merge_worktree(repo, run, base_commit)
        if needs_worktree and not dry_run
        else None,
        log_dir=state_dir / "logs" / run,
        git_env=git_env,
        env=env,
        checked_out=where.checked_out,
        check_timeout_s=plan.merge.timeout_s,
        journal=journal,
        cancel=hooks.cancel if hooks is not None else threading.Event(),
        batching=batching(plan),
        progress=progress,
    )
    touched = report.touched
    landing.queue = merge_queue.land(
        spec, candidates, lambda t: touched.get(branches[t], set()), dry_run, broken
    )
    if hooks is not None and not dry_run:  # the one seam: resolve the conflicted, queue again
        by_id = {c.task.id: c for c in candidates}
        landing.resolutions = resolve.settle(spec, plan, landing.queue, by_id, hooks)
    return landing


def batching(plan: Plan) -> BatchSettings:
    """The plan's [merge] batch, parallel_checks and check_retries, defaults resolved here."""
    parallel = plan.merge.parallel_checks or default_parallel_checks(plan.run.max_parallel)
    return BatchSettings(plan.merge.batch, parallel, plan.merge.check_retries)


def record(home: Landing | None) -> LandingRecord:
    """What the store keeps of how a run's work came home (nothing ran: an empty record)."""
    if home is None:
        return LandingRecord()
    pairs = tuple(
        PairRecord(
            a,
            b,
            result.clean,
            tuple(
                ConflictRecord(c.path, c.kind.value, c.paths, c.message, c.git_type)
                for c in result.conflicts
            ),
        )
        for (a, b), result in home.report.pairs.items()
    )
    return LandingRecord(pairs, None if home.queue is None else queue_record(home))


def queue_record(home: Landing) -> QueueRecord:
    """What the store keeps of the merge queue's pass."""
    q = home.queue
    assert q is not None
    unmerged = tuple(
        UnmergedRecord(
            u.task, u.reason, u.conflicts, None if u.log is None else str(u.log), u.on_top_of
        )
        for u in q.unmerged
    )
    return QueueRecord(
        q.into,
        q.before,
        q.after,
        tuple(q.order),
        tuple(q.merged),
        tuple(q.already),
        unmerged,
        home.check,
        home.dry_run,
        tuple(r.record() for r in home.resolutions),
        tuple(q.batches),
    )
