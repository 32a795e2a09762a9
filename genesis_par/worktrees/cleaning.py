"""`worktrees gc / rm`: removing what the tool made (listed by worktrees/survey.py) when that
provably loses nothing; with --force, saving it first."""

from __future__ import annotations

import contextlib
import os
import shutil
import stat
import time
from collections.abc import Sequence
from pathlib import Path
from typing import NamedTuple

from genesis_par import gitops
from genesis_par.worktrees import clones
from genesis_par.worktrees.pool import (
    SAVED_DIR,
    discard,
    discard_folder,
    pool_refusal,
    put_in_pool,
    set_aside,
)
from genesis_par.worktrees.survey import Worktree

TRASH_REFS = "refs/genesis/trash"
TRASH_KEEP_S = 30 * 24 * 3600


class Action(NamedTuple):
    worktree: Worktree
    removed: bool  # the worktree (or git's stale record) is gone
    branch_deleted: bool
    reason: str  # what was done, or why something was kept
    kept: bool = False  # the worktree or its branch was kept back, for the reason
    saved: str | None = None  # the trash ref holding work dropped with --force
    pooled: bool = False  # the worktree went to the pool for reuse, not deleted


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
