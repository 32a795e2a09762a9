"""The merge queue at work: land task branches on a target in order, one by one (here, each
proven before publishing) or in batches (land/batch.py); never force a ref."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from genesis_par import gitops, proc
from genesis_par.land import batch, target_moves
from genesis_par.land.queue import (
    CHECK_FAILED,
    MAX_RETRIES_ON_MOVED_TARGET,
    Candidate,
    QueueResult,
    QueueSpec,
    Unmerged,
    check_log,
    order,
)
from genesis_par.run import steps


def _check(spec: QueueSpec, commit: str, task: str) -> tuple[bool, Path | None]:
    if spec.check is None or spec.check_worktree is None:
        return True, None
    assert spec.log_dir is not None
    gitops.checkout_detached(spec.check_worktree, commit)
    log = check_log(spec.log_dir, task)
    values = steps.template_values(
        run=spec.run,
        task=task,
        worktree=spec.check_worktree,
        branch=spec.into_ref,
        base=spec.start,
    )
    limits = proc.Limits(timeout_s=spec.check_timeout_s)
    step = steps.Step(spec.check, spec.check_worktree, log, values, spec.env, limits)
    outcome = steps.run(step, spec.cancel).outcome
    return outcome.failure is None, log


def land(
    spec: QueueSpec,
    candidates: Sequence[Candidate],
    touched: Callable[[str], set[str]] = lambda task: set(),
    dry_run: bool = False,
    unmergeable: Mapping[str, str] | None = None,
) -> QueueResult:
    """Land every candidate it can on the target, in order; never force a ref.

    unmergeable: tasks left out from the start (task -> why: a branch gone or with an unrelated
    history), so that their dependents are left out too."""
    repo = spec.repo.root
    before = gitops.resolve_commit(repo, spec.into_ref)
    result = QueueResult(
        spec.into_ref,
        before or spec.start,
        before or spec.start,
        order=order(candidates),
        created=before is None,
        unmerged=[Unmerged(task, why) for task, why in (unmergeable or {}).items()],
    )
    if before is None and not dry_run:
        gitops.update_ref(repo, spec.into_ref, spec.start, None)
    by_id = {c.task.id: c for c in candidates}
    if spec.check is not None and not dry_run and not spec.batching.one_by_one:
        result.after = batch.land(spec, [by_id[t] for t, _ in result.order], result, touched)
        return result
    tip = result.before
    trees = target_moves.Trees()
    blocked = None if dry_run else target_moves.in_the_way(spec)
    with contextlib.ExitStack() as stack:
        # A dry run writes its trial merges into a throwaway object directory.
        objects = stack.enter_context(gitops.scratch_objects(repo)) if dry_run else {}
        for task_id, _ in result.order:
            c = by_id[task_id]
            left_out = [d for d in c.task.depends_on if d in {u.task for u in result.unmerged}]
            if spec.cancel.is_set():  # interrupted: what is left waits for `resume`
                result.unmerged.append(Unmerged(task_id, "interrupted"))
                continue
            if blocked:  # nothing can land on the checked-out target until they are dealt with
                result.unmerged.append(Unmerged(task_id, blocked))
                continue
            if left_out:  # its branch holds that work too: merging it would land it anyway
                result.unmerged.append(Unmerged(task_id, f"dependency {left_out[0]} not merged"))
                continue
            tip = _land_one(spec, c, tip, result, touched, objects, trees)
            blocked = result.blocked
    result.after = tip
    return result


def _land_one(
    spec: QueueSpec,
    c: Candidate,
    tip: str,
    result: QueueResult,
    touched: Callable[[str], set[str]],
    scratch: Mapping[str, str],
    trees: target_moves.Trees,
) -> str:
    """Land one candidate; the new tip. A scratch object dir (dry run) publishes nothing."""
    repo = spec.repo.root
    for _ in range(MAX_RETRIES_ON_MOVED_TARGET):
        probe = target_moves.probe(spec, tip, c, scratch, trees)
        if target_moves.already_there(spec, tip, probe, scratch, trees):
            result.merged.append(c.task.id)  # already there (a resumed run): nothing to add
            result.already.append(c.task.id)
            return tip
        if not probe.clean:
            named = target_moves.conflicts_with(probe, c, result.merged, touched)
            result.unmerged.append(Unmerged(c.task.id, "conflicts", named))
            return tip
        if scratch:
            result.merged.append(c.task.id)
            env = {**spec.git_env, **scratch}
            made = gitops.commit_tree(repo, probe.tree, [tip, c.commit], "dry run", env)
            trees[made] = probe.tree
            return made
        new = target_moves.combine(spec, tip, c, probe.tree, trees)
        if new is None:
            result.unmerged.append(Unmerged(c.task.id, "rebase conflict"))
            return tip
        passed, log = _check(spec, new, c.task.id)
        if not passed:
            on_top_of = tuple(result.merged)
            why = "interrupted" if spec.cancel.is_set() else CHECK_FAILED
            result.unmerged.append(Unmerged(c.task.id, why, (), log, on_top_of))
            return tip
        if target_moves.publish(spec, new, tip, c.task.id):
            result.merged.append(c.task.id)
            result.steps.append((tip, new))
            return new
        moved_to = gitops.resolve_commit(repo, spec.into_ref) or tip
        result.blocked = target_moves.in_the_way(spec) if moved_to == tip else None
        if result.blocked:  # not a moving target: local changes stop the fast-forward
            result.unmerged.append(Unmerged(c.task.id, result.blocked))
            return tip
        # The target moved under us: probe again against its new tip, never force.
        tip = moved_to
    result.unmerged.append(Unmerged(c.task.id, "the target kept moving"))
    return tip
