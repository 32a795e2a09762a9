"""Allocate, reset and locate the worktree and branch of each task."""

from __future__ import annotations

import contextlib
import itertools
import os
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

from genesis_par import gitops, proc
from genesis_par.errors import GenesisError, UsageError
from genesis_par.report.words import plural

WORKTREES_DIR = Path(".genesis") / "worktrees"
EXCLUDE = ".genesis/"  # in info/exclude: the worktrees are never part of the repository


def branch_name(run: str, task: str) -> str:
    """The task's branch: genesis/<run>/<task>."""
    return f"genesis/{run}/{task}"


def path_for(root: Path, run: str, task: str) -> Path:
    """The task's worktree: .genesis/worktrees/<run>/<task> under the repository root."""
    return root / WORKTREES_DIR / run / task


def refuse_taken_name(repo: gitops.RepoPaths, run: str) -> None:
    """A run name whose branches or worktrees already exist cannot be used again."""
    taken = gitops.ref_names(repo.root, f"refs/heads/genesis/{run}/")
    folder = repo.root / WORKTREES_DIR / run
    if taken or (folder.exists() and any(folder.iterdir())):
        raise UsageError(
            f'run "{run}" already has branches or worktrees ({plural(len(taken), "branch")} under '
            f"genesis/{run}/): choose a new name with --name, or clean it up with "
            f"`genesis-par worktrees rm {run}`"
        )


def start_commit(
    repo: Path, base: str, dep_commits: Sequence[str], env: Mapping[str, str]
) -> gitops.MergedStart:
    """Where a task starts: the pinned base, its one dependency's result, or theirs merged."""
    if not dep_commits:
        return gitops.MergedStart(base, ())
    if len(dep_commits) == 1:
        return gitops.MergedStart(dep_commits[0], ())
    return gitops.merge_commits(repo, dep_commits, "genesis-par: merge dependencies", env)


def allocate(
    repo: gitops.RepoPaths, run: str, task: str, start: str, pool: bool = True
) -> tuple[Path, bool]:
    """The task's worktree on its branch; True when it already existed (a resumed run)."""
    gitops.ensure_excluded(repo.common_dir, EXCLUDE)
    path = path_for(repo.root, run, task)
    branch = branch_name(run, task)
    if (path / ".git").exists():
        return path, True
    path.parent.mkdir(parents=True, exist_ok=True)
    if gitops.resolve_commit(repo.root, branch) is None:
        if not (pool and take_from_pool(repo, path, branch, start)):
            gitops.add_worktree(repo.root, repo.common_dir, path, branch, start)
        return path, False
    gitops.add_worktree_on(repo.root, repo.common_dir, path, branch)
    return path, True


POOL_DIR = Path(".genesis") / "pool"
POOL_SIZE = 8  # clean worktrees kept for reuse; beyond that gc deletes


def take_from_pool(repo: gitops.RepoPaths, path: Path, branch: str, start: str) -> bool:
    """Reuse a pooled worktree at path on a new branch at start; False when the pool is empty."""
    pool = repo.root / POOL_DIR
    with gitops.worktree_lock(repo.common_dir):  # two tasks must not take the same one
        entries = sorted(pool.iterdir()) if pool.exists() else []
        if not entries:
            return False
        try:
            gitops.move_worktree(repo.root, repo.common_dir, entries[0], path, lock=False)
        except GenesisError:
            return False
    gitops.switch_worktree(path, branch, start)
    return True


def put_in_pool(repo: gitops.RepoPaths, path: Path, now: float) -> bool:
    """Keep a clean, finished worktree for reuse (detached); False when the pool is full."""
    pool = repo.root / POOL_DIR
    pool.mkdir(parents=True, exist_ok=True)
    if len(list(pool.iterdir())) >= POOL_SIZE or gitops.is_sparse(path):
        return False  # a sparse checkout would reach the next task with files missing
    gitops.detach(path)
    name = f"{int(now * 1000)}-{path.parent.name}-{path.name}"
    target = pool / name
    for k in itertools.count(1):  # two runs' tasks of one name, pooled in the same millisecond
        if not target.exists():
            break
        target = pool / f"{name}-{k}"
    gitops.move_worktree(repo.root, repo.common_dir, path, target)
    return True


def merge_worktree(repo: gitops.RepoPaths, run: str, start: str) -> Path:
    """A detached worktree where merge checks and rebases run (never the user's)."""
    path = path_for(repo.root, run, ".merge")
    if not path.exists():
        gitops.ensure_excluded(repo.common_dir, EXCLUDE)
        path.parent.mkdir(parents=True, exist_ok=True)
        gitops.add_detached_worktree(repo.root, repo.common_dir, path, start)
    return path


# --- list and clean ---

TRASH_REFS = "refs/genesis/trash"
TRASH_KEEP_S = 30 * 24 * 3600


@dataclass
class Worktree:
    """One worktree (or branch) genesis-par made, as `worktrees list` shows it."""

    run: str
    task: str
    path: Path
    branch: str | None
    state: str  # running | finished | orphaned | missing | prunable | broken
    dirty: bool | None = None
    on_branch: bool | None = None
    landed: bool | None = None
    size_bytes: int = 0
    head: str | None = None
    start: str | None = None
    target: str | None = None
    finished_at: float | None = None
    run_alive: bool = False  # its run is still supervised: gc leaves the whole run alone


class Action(NamedTuple):
    worktree: Worktree
    removed: bool  # the worktree (or git's stale record) is gone
    branch_deleted: bool
    reason: str  # what was done, or why something was kept
    kept: bool = False  # the worktree or its branch was kept back, for the reason
    saved: str | None = None  # the trash ref holding work dropped with --force


@dataclass(frozen=True)
class RunView:
    """What cleaning needs to know of a recorded run."""

    name: str
    alive: bool  # its supervisor still runs
    target: str | None  # where its work lands, if that exists
    finished_at: float | None
    tasks: list[dict[str, Any]]


def _size(path: Path) -> int:
    total = 0
    for root, dirs, files in os.walk(path):
        dirs[:] = [d for d in dirs if d != ".git"]
        for name in files:
            with contextlib.suppress(OSError):
                total += (Path(root) / name).lstat().st_size
    return total


def _task_dirs(base: Path) -> list[Path]:
    if not base.exists():
        return []
    return [
        p
        for run in sorted(base.iterdir())
        if run.is_dir()
        for p in sorted(run.iterdir())
        if p.is_dir()
    ]


def inventory(repo: gitops.RepoPaths, runs: Sequence[RunView]) -> list[Worktree]:
    """Every worktree and task branch the tool made, with its state."""
    base = repo.root / WORKTREES_DIR
    records = {e.path: e for e in gitops.worktrees(repo.root) if e.path.is_relative_to(base)}
    known = {(r.name, str(t["id"])): (r, t) for r in runs for t in r.tasks}
    dirs = _task_dirs(base)
    found = [
        _describe(repo, path, records.get(path), known.get((path.parent.name, path.name)))
        for path in dirs + [p for p in records if p not in dirs]
    ]
    seen = {w.path for w in found}
    for (run, task), (view, t) in known.items():
        path = path_for(repo.root, run, task)
        branch = str(t["branch"])
        if path not in seen and t["attempts"] and gitops.resolve_commit(repo.root, branch):
            w = Worktree(
                run,
                task,
                path,
                branch,
                "missing",
                start=t.get("start_commit"),
                target=view.target,
                finished_at=view.finished_at,
            )
            w.landed = _landed(repo, w)
            found.append(w)
    return found


def _describe(
    repo: gitops.RepoPaths,
    path: Path,
    record: gitops.WorktreeEntry | None,
    entry: tuple[RunView, dict[str, Any]] | None,
) -> Worktree:
    run, task = path.parent.name, path.name
    view, t = entry if entry else (None, None)
    checked_out = record.branch.removeprefix("refs/heads/") if record and record.branch else None
    if record is not None and record.prunable:
        state = "prunable"
    elif (
        view is not None and view.alive and t is not None and t["status"] in ("running", "pending")
    ):
        state = "running"
    elif view is None and task != ".merge":
        state = "orphaned"
    else:
        state = "finished"
    w = Worktree(
        run,
        task,
        path,
        str(t["branch"]) if t else checked_out,
        state,
        head=record.head if record else None,
        start=t.get("start_commit") if t else None,
        target=view.target if view else None,
        finished_at=view.finished_at if view else None,
        run_alive=view is not None and view.alive,
    )
    if path.exists() and record is not None and not record.prunable:
        try:
            w.dirty = gitops.has_uncommitted(path)
        except gitops.WorktreeBroken:  # an agent removed or replaced its .git: never followed
            w.state = w.state if w.state == "running" else "broken"
            return w
        w.on_branch = checked_out is not None and checked_out == w.branch
        w.size_bytes = _size(path)
    w.landed = _landed(repo, w)
    return w


def _landed(repo: gitops.RepoPaths, w: Worktree) -> bool | None:
    if not (w.branch and w.start and w.target) or not gitops.resolve_commit(repo.root, w.branch):
        return None
    return gitops.landed(repo.root, w.branch, w.target)


def clean(
    repo: gitops.RepoPaths, items: Sequence[Worktree], *, dry_run: bool, force: bool, now: float
) -> list[Action]:
    """Remove what provably loses nothing (with force: save it first); say why for the rest."""
    actions = [_clean_one(repo, w, dry_run, force, now) for w in items]
    if not dry_run:  # a run folder left empty would keep its name taken
        for run in {w.path.parent for w in items}:
            with contextlib.suppress(OSError):
                run.rmdir()
    return actions


def _clean_one(
    repo: gitops.RepoPaths, w: Worktree, dry_run: bool, force: bool, now: float
) -> Action:
    if w.state == "running":
        return Action(w, False, False, "an agent is running in it", kept=True)
    if w.run_alive:
        return Action(w, False, False, "its run is still going", kept=True)
    if w.state == "prunable":
        return Action(w, True, False, "stale git record pruned")
    if (w.head is None and w.state in ("orphaned", "finished")) or w.state == "broken":
        return _plain_directory(w, dry_run, force)  # not (or no longer) a worktree of git's
    saved = None
    if w.state != "missing":
        if w.task != ".merge" and (w.dirty or not w.on_branch):
            why = "uncommitted changes" if w.dirty else "HEAD is not on its branch"
            if not force:
                return Action(
                    w, False, False, f"{why}: commit them, or --force to save and drop", kept=True
                )
            saved = _trash_ref(w, now)
            if not dry_run:  # off its branch, the branch's tip is kept in the same commit
                tip = gitops.resolve_commit(repo.root, w.branch) if w.branch else None
                also = [tip] if tip and not w.on_branch else []
                gitops.save_to_ref(w.path, saved, leave_out=(), also_keep=also)
        if not dry_run and (saved or w.task == ".merge" or not put_in_pool(repo, w.path, now)):
            trash = repo.root / ".genesis" / "trash"
            proc.delete_in_background(
                gitops.remove_worktree(repo.root, repo.common_dir, w.path, trash)
            )
    if w.task == ".merge" or not w.branch:
        return Action(w, True, False, "removed", saved=saved)
    return _drop_branch(repo, w, dry_run, force, now, saved)


def _plain_directory(w: Worktree, dry_run: bool, force: bool) -> Action:
    """A directory under .genesis/worktrees that git does not know (a run killed mid-add)."""
    if any(w.path.iterdir()) and not force:
        return Action(
            w, False, False, "not a git worktree and not empty: look, or --force", kept=True
        )
    if not any(w.path.iterdir()):
        if not dry_run:
            w.path.rmdir()
        return Action(w, True, False, "removed (an empty directory)")
    aside = w.path.parents[2] / "saved" / f"{w.run}-{w.task}-{int(time.time())}"
    if not dry_run:  # not git's: nothing to save it in, so it is moved aside, never deleted
        aside.parent.mkdir(parents=True, exist_ok=True)
        w.path.rename(aside)
    return Action(w, True, False, f"moved aside to {aside} (not a git worktree)")


def _drop_branch(
    repo: gitops.RepoPaths, w: Worktree, dry_run: bool, force: bool, now: float, saved: str | None
) -> Action:
    assert w.branch is not None
    removed = w.state != "missing"
    tip = gitops.resolve_commit(repo.root, w.branch)
    if tip is None:
        return Action(w, removed, False, "removed", saved=saved)
    if not w.landed:
        if not force:
            where = (w.target or "its run's target").removeprefix("refs/heads/")
            return Action(
                w,
                removed,
                False,
                f"branch kept: its work has not landed in {where}",
                kept=True,
                saved=saved,
            )
        if saved is None:  # a worktree saved above already holds the branch's tip
            saved = _trash_ref(w, now)
            if not dry_run:
                gitops.update_ref(repo.root, saved, tip)
    if not dry_run:
        gitops.delete_branch(repo.root, w.branch, tip)
    what = "removed with its branch (landed)" if w.landed else "dropped, work saved"
    return Action(w, removed, True, what, saved=saved)


def _trash_ref(w: Worktree, now: float) -> str:
    return f"{TRASH_REFS}/{w.run}/{w.task.lstrip('.')}/{int(now)}"


def expired_trash(repo: Path, now: float) -> list[str]:
    """Trash refs older than 30 days."""
    refs = gitops.ref_names(repo, TRASH_REFS + "/")
    return [
        r
        for r in refs
        if r.rsplit("/", 1)[-1].isdigit() and now - int(r.rsplit("/", 1)[-1]) > TRASH_KEEP_S
    ]
