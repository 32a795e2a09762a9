"""A task's worktree between attempts: an attempt's work saved, the worktree reset to its
start, stale git locks cleared, the .worktreeinclude files copied in."""

from __future__ import annotations

import shutil
from pathlib import Path

from genesis_par import gitops, proc_scan, worktrees
from genesis_par.plan.model import Task
from genesis_par.run.spec import RunSpec
from genesis_par.worktrees import clones


def save_attempt(spec: RunSpec, task: Task, worktree: Path, attempt: int) -> None:
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


def reset(spec: RunSpec, task: Task, worktree: Path, start: str) -> None:
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


def clear_stale_locks(worktree: Path, branch: str) -> None:
    """Remove .lock files a killed git left here, but only when no git process works here."""
    stale = gitops.lock_files(worktree, branch)
    if stale and not proc_scan.git_running_in(worktree):
        for lock in stale:
            lock.unlink(missing_ok=True)


def copy_included(spec: RunSpec, worktree: Path) -> None:
    """Copy the .worktreeinclude files (.env, local config) from the main worktree."""
    for name in spec.included:
        source, target = spec.repo.root / name, worktree / name
        if source.is_file() and not target.exists():
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target)
