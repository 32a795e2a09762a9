"""`worktrees list / gc / rm`: what the tool made, and removing what provably loses nothing."""

from __future__ import annotations

import contextlib
import os
import shutil
import stat
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

from genesis_par import gitops, proc
from genesis_par.model import TaskStatus
from genesis_par.state.records import TaskRecord
from genesis_par.worktrees import clones
from genesis_par.worktrees.allocate import WORKTREES_DIR, path_for
from genesis_par.worktrees.pool import (
    SAVED_DIR,
    discard,
    discard_folder,
    pool_refusal,
    put_in_pool,
    set_aside,
)

TRASH_REFS = "refs/genesis/trash"
TRASH_KEEP_S = 30 * 24 * 3600


@dataclass
class Worktree:
    """One worktree (or branch) genesis-par made, as `worktrees list` shows it."""

    run: str
    task: str
    path: Path
    branch: str | None
    state: str  # running | finished | orphaned | branch-only | prunable | broken
    dirty: bool | None = None
    on_branch: bool | None = None
    landed: bool | None = None
    size_bytes: int = 0
    head: str | None = None
    start: str | None = None
    target: str | None = None
    finished_at: float | None = None
    run_alive: bool = False  # its run is still supervised: gc leaves the whole run alone
    processes: list[proc.Seen] = field(default_factory=list)  # working in it right now
    nested: list[str] = field(default_factory=list)  # folders with a repository of their own
    clone: bool = False  # a task clone (isolation = "clone"), not a worktree: never pooled


class Action(NamedTuple):
    worktree: Worktree
    removed: bool  # the worktree (or git's stale record) is gone
    branch_deleted: bool
    reason: str  # what was done, or why something was kept
    kept: bool = False  # the worktree or its branch was kept back, for the reason
    saved: str | None = None  # the trash ref holding work dropped with --force
    pooled: bool = False  # the worktree went to the pool for reuse, not deleted


@dataclass(frozen=True)
class RunView:
    """What cleaning needs to know of a recorded run."""

    name: str
    alive: bool  # its supervisor still runs
    target: str | None  # where its work lands, if that exists
    finished_at: float | None
    tasks: list[TaskRecord]
    base: str | None = None  # where its integration branch's work belongs


def _task_dirs(base: Path) -> list[Path]:
    if not base.exists():
        return []
    return [
        p
        for run in sorted(base.iterdir())
        if run.is_dir() and not run.is_symlink()  # never follow a link out of .genesis
        for p in sorted(run.iterdir())
        if p.is_dir() and not p.is_symlink()
    ]


def inventory(repo: gitops.RepoPaths, runs: Sequence[RunView]) -> list[Worktree]:
    """Every worktree and task branch the tool made, with its state."""
    base = repo.root / WORKTREES_DIR
    records = {e.path: e for e in gitops.worktrees(repo.root) if e.path.is_relative_to(base)}
    known = {(r.name, t.id): (r, t) for r in runs for t in r.tasks}
    alive = {r.name for r in runs if r.alive}
    dirs = _task_dirs(base)
    paths = dirs + [p for p in records if p not in dirs]
    busy = proc.processes_in([p for p in paths if p.exists()])
    found = [
        _describe(repo, path, records.get(path), known.get((path.parent.name, path.name)))
        for path in paths
    ]
    for w in found:
        w.processes = busy.get(w.path, [])
        w.run_alive = w.run_alive or w.run in alive
    _guard_unrecorded_runs(found)
    seen = {w.path for w in found}
    for (run, task), (view, t) in known.items():
        path = path_for(repo.root, run, task)
        branch = t.branch
        if path not in seen and t.attempts and branch and gitops.resolve_commit(repo.root, branch):
            w = Worktree(
                run,
                task,
                path,
                branch,
                "branch-only",
                start=t.start_commit,
                target=view.target,
                finished_at=view.finished_at,
            )
            w.landed = _landed(repo, w)
            found.append(w)
    return found


def _guard_unrecorded_runs(found: Sequence[Worktree]) -> None:
    """A run the state does not know (its database deleted mid-run) is taken as still going
    while any process works in one of its worktrees: its idle worktrees are its too."""
    busy_runs = {w.run for w in found if w.processes and w.state == "orphaned"}
    for w in found:
        if w.state == "orphaned" and w.run in busy_runs:
            w.run_alive = True


def _describe(
    repo: gitops.RepoPaths,
    path: Path,
    record: gitops.WorktreeEntry | None,
    entry: tuple[RunView, TaskRecord] | None,
) -> Worktree:
    run, task = path.parent.name, path.name
    view, t = entry if entry else (None, None)
    checked_out = record.branch.removeprefix("refs/heads/") if record and record.branch else None
    if record is not None and record.prunable:
        state = "prunable"
    elif (
        view is not None
        and view.alive
        and t is not None
        and t.status in (TaskStatus.RUNNING, TaskStatus.PENDING)
    ):
        state = "running"
    elif view is None and not task.startswith(".merge"):
        state = "orphaned"
    else:
        state = "finished"
    w = Worktree(
        run,
        task,
        path,
        t.branch if t else checked_out,
        state,
        head=record.head if record else None,
        start=t.start_commit if t else None,
        target=view.target if view else None,
        finished_at=view.finished_at if view else None,
        run_alive=view is not None and view.alive,
    )
    if record is None and gitops.is_clone(path):
        return _describe_clone(repo, w)
    if path.exists() and record is not None and not record.prunable:
        try:
            w.dirty = gitops.has_uncommitted(path)
        except gitops.WorktreeBroken:  # an agent removed or replaced its .git: never followed
            w.state = w.state if w.state == "running" else "broken"
            return w
        w.on_branch = checked_out is not None and checked_out == w.branch
        w.size_bytes, w.nested = gitops.walk(path)
    w.landed = _landed(repo, w)
    return w


def _describe_clone(repo: gitops.RepoPaths, w: Worktree) -> Worktree:
    """A task clone: dirty when it holds uncommitted files, off its branch when its HEAD's
    commit never came home (the user's repository lacks it: removing the clone would lose it)."""
    w.clone = True
    if w.branch is None:  # no record of its run (git keeps none for a clone): the convention's
        named = f"genesis/{w.run}/{w.task}"
        w.branch = named if gitops.resolve_commit(repo.root, named) else None
    try:
        w.head = gitops.clone_head(w.path)
        w.dirty = gitops.has_uncommitted(w.path)
    except gitops.WorktreeBroken:  # its git dir is not what genesis-par made: never followed
        w.head, w.state = None, w.state if w.state == "running" else "broken"
        return w
    w.on_branch = w.head is not None and gitops.resolve_commit(repo.root, w.head) is not None
    w.size_bytes, w.nested = gitops.walk(w.path)
    w.landed = _landed(repo, w)
    return w


def _landed(repo: gitops.RepoPaths, w: Worktree) -> bool | None:
    if not (w.branch and w.start and w.target) or not gitops.resolve_commit(repo.root, w.branch):
        return None
    return gitops.landed(repo.root, w.branch, w.target)


def leftover_branches(
    repo: gitops.RepoPaths, run: str, items: Sequence[Worktree], view: RunView | None
) -> list[Worktree]:
    """The run's branches no task worktree accounts for (its integration branch, most often),
    as branch-only entries; landed means merged into the run's base."""
    claimed = {w.branch for w in items}
    found = []
    for ref in gitops.ref_names(repo.root, f"refs/heads/genesis/{run}/"):
        branch = ref.removeprefix("refs/heads/")
        if branch in claimed:
            continue
        task = branch.removeprefix(f"genesis/{run}/")
        w = Worktree(run, task, path_for(repo.root, run, task), branch, "branch-only")
        w.run_alive = view is not None and view.alive
        if view is not None and view.base and gitops.resolve_commit(repo.root, view.base):
            w.target = view.base
            w.landed = gitops.landed(repo.root, branch, view.base)
        found.append(w)
    return found


def clean(
    repo: gitops.RepoPaths,
    items: Sequence[Worktree],
    *,
    dry_run: bool,
    force: bool,
    now: float,
    pool: bool = True,
) -> list[Action]:
    """Remove what provably loses nothing (with force: save it first); say why for the rest."""
    actions = [_clean_one(repo, w, dry_run, force, now, pool) for w in items]
    if not dry_run:  # a run folder left empty would keep its name taken
        for run in {w.path.parent for w in items}:
            with contextlib.suppress(OSError):
                run.rmdir()
    return actions


def _busy(w: Worktree) -> str:
    shown = ", ".join(f"{p.pid} ({p.name})" for p in w.processes[:3])
    more = f" and {len(w.processes) - 3} more" if len(w.processes) > 3 else ""
    return f"{'process' if len(w.processes) == 1 else 'processes'} {shown}{more} running in it"


def _clean_one(
    repo: gitops.RepoPaths, w: Worktree, dry_run: bool, force: bool, now: float, pool: bool
) -> Action:
    if w.state == "running":
        return Action(w, False, False, "an agent is running in it", kept=True)
    if w.processes:  # whatever the state says (it may be gone): never pull a live cwd away
        return Action(w, False, False, f"{_busy(w)}: stop them first", kept=True)
    if w.run_alive:
        return Action(w, False, False, "its run is still going", kept=True)
    if w.state == "prunable":
        return Action(w, True, False, "stale git record pruned")
    if (w.head is None and w.state in ("orphaned", "finished")) or w.state == "broken":
        return _plain_directory(repo, w, dry_run, force)  # not (or no longer) a worktree of git's
    saved, notes = None, []
    if w.state != "branch-only":
        if w.nested and not force:
            where = ", ".join(f"{n}/" for n in w.nested)
            return Action(
                w,
                False,
                False,
                f"{where} holds a git repository of its own (its commits are nowhere else): "
                "move it out, or --force to move it aside",
                kept=True,
            )
        if w.nested:
            notes.append(_set_nested_aside(repo, w, dry_run))
            w.dirty = True  # what git recorded of them is saved below with the rest
        if not w.task.startswith(".merge") and (w.dirty or not w.on_branch):
            why = "uncommitted changes" if w.dirty else "HEAD is not on its branch"
            if not force:
                return Action(
                    w, False, False, f"{why}: commit them, or --force to save and drop", kept=True
                )
            saved = _trash_ref(w, now)
            if not dry_run and w.clone:  # saved in the clone, then fetched home
                clones.keep(repo, w.path, saved, w.branch or "", ())
            elif not dry_run:  # off its branch, the branch's tip is kept in the same commit
                tip = gitops.resolve_commit(repo.root, w.branch) if w.branch else None
                also = [tip] if tip and not w.on_branch else []
                gitops.save_to_ref(w.path, saved, leave_out=(), also_keep=also)
        pooled, refused = _pool_or_remove(repo, w, dry_run, now, pool and not saved)
        notes += [f"not pooled: {refused}"] if refused else []
    else:
        pooled = False
    if w.task.startswith(".merge") or not w.branch:
        return Action(w, True, False, "; ".join(notes), saved=saved)
    return _drop_branch(repo, w, dry_run, force, now, saved, pooled, notes)


def _pool_or_remove(
    repo: gitops.RepoPaths, w: Worktree, dry_run: bool, now: float, pool: bool
) -> tuple[bool, str | None]:
    """Pool the worktree for reuse if it may be, else remove it: (pooled, why not pooled)."""
    why = None
    if w.clone:  # a repository of its own: never pooled with worktrees, removed as a folder
        if not dry_run:
            discard_folder(repo, w.path)
        return False, None
    if pool and not w.task.startswith(".merge"):
        # inventory found no nested repository and (clean) no files in submodule folders
        looked = not w.nested and w.dirty is False
        if dry_run:
            why = pool_refusal(repo, w.path, looked)
        else:
            why = put_in_pool(repo, w.path, now, looked)
        if why is None:
            return True, None
    if not dry_run:
        discard(repo, w.path)
    return False, why if why != "the pool is full" else None


def _set_nested_aside(repo: gitops.RepoPaths, w: Worktree, dry_run: bool) -> str:
    moved = []
    for nested in w.nested:
        label = f"{w.run}-{w.task}-{nested.replace('/', '-')}"
        if dry_run:
            moved.append(f"{nested}/")
        else:
            moved.append(f"{nested}/ to {set_aside(repo, w.path / nested, label)}")
    return f"its own repositories moved aside: {', '.join(moved)}"


def _plain_directory(repo: gitops.RepoPaths, w: Worktree, dry_run: bool, force: bool) -> Action:
    """A directory under .genesis/worktrees that git does not know (a run killed mid-add)."""
    files: list[Path] = []
    others: list[Path] = []  # symlinks, fifos, sockets: never read, never called committed
    for root, dirs, names in os.walk(w.path):
        for entry in (Path(root, n) for n in names + dirs):
            mode = entry.lstat().st_mode
            if stat.S_ISREG(mode):
                files.append(entry)
            elif not stat.S_ISDIR(mode):
                others.append(entry)
    if not files and not others:
        if not dry_run:
            shutil.rmtree(w.path)
        return Action(w, True, False, "an empty directory")
    if _git_link_of(repo, w.path / ".git"):  # git's own pointer to a record since pruned
        files.remove(w.path / ".git")
    if not others and gitops.all_committed(repo.root, files):  # a crash mid-checkout
        if not dry_run:
            discard_folder(repo, w.path)
        return Action(w, True, False, "every file in it is committed content")
    if not force:
        why = "not a git worktree, and holds files the repository does not have"
        return Action(w, False, False, f"{why}: look, or --force to move it aside", kept=True)
    aside = repo.root / SAVED_DIR / f"{w.run}-{w.task}-{int(time.time())}"
    if not dry_run:  # not git's: nothing to save it in, so it is moved aside, never deleted
        aside.parent.mkdir(parents=True, exist_ok=True)
        w.path.rename(aside)
    return Action(w, True, False, f"moved aside to {aside} (not a git worktree)")


def _git_link_of(repo: gitops.RepoPaths, dot_git: Path) -> bool:
    """Whether dot_git is a worktree's `.git` file pointing into this repository's records."""
    if not dot_git.is_file() or dot_git.is_symlink():
        return False
    with contextlib.suppress(OSError, UnicodeDecodeError):
        text = dot_git.read_text().strip()
        return text.startswith(f"gitdir: {repo.common_dir / 'worktrees'}{os.sep}")
    return False


def _drop_branch(
    repo: gitops.RepoPaths,
    w: Worktree,
    dry_run: bool,
    force: bool,
    now: float,
    saved: str | None,
    pooled: bool,
    notes: list[str],
) -> Action:
    assert w.branch is not None
    removed = w.state != "branch-only"
    tip = gitops.resolve_commit(repo.root, w.branch)
    if tip is None:
        return Action(w, removed, False, "; ".join(notes), saved=saved, pooled=pooled)
    user = gitops.checked_out_in(repo.root, f"refs/heads/{w.branch}") if not removed else None
    if user is not None:  # deleting it would leave that worktree on no commit at all
        why = f"branch kept: it is checked out in {user}: switch that worktree to another branch"
        return Action(w, removed, False, why, kept=True, saved=saved)
    if not w.landed:
        if not force:
            where = (w.target or "its run's target").removeprefix("refs/heads/")
            why = f"branch kept: its work has not landed in {where}"
            hint = "merge it, or --force to save it under refs/genesis/trash and drop it"
            reason = "; ".join([f"{why}: {hint}", *notes])
            return Action(w, removed, False, reason, kept=True, saved=saved, pooled=pooled)
        if saved is None:  # a worktree saved above already holds the branch's tip
            saved = _trash_ref(w, now)
            if not dry_run:
                gitops.update_ref(repo.root, saved, tip)
    if not dry_run:
        gitops.delete_branch(repo.root, w.branch, tip)
    what = "branch deleted (landed)" if w.landed else "branch dropped, work saved"
    return Action(w, removed, True, "; ".join([what, *notes]), saved=saved, pooled=pooled)


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
