"""The pool: clean, finished worktrees kept (detached) for later tasks to reuse."""

from __future__ import annotations

import contextlib
import itertools
import tempfile
import time
from pathlib import Path
from typing import NamedTuple

from genesis_par import gitops, proc, proc_scan
from genesis_par.errors import GenesisError

POOL_DIR = Path(".genesis") / "pool"
POOL_SIZE = 8  # clean worktrees kept for reuse; beyond that gc deletes
TRASH_DIR = Path(".genesis") / "trash"
SAVED_DIR = Path(".genesis") / "saved"


class Pooled(NamedTuple):
    path: Path
    head: str | None
    pooled_at: float | None  # seconds since the epoch


def leftovers(path: Path, looked: bool = False) -> list[str]:
    """What would reach the next task through this worktree besides its files: operations
    stopped half-way, files in submodule folders git does not look into, repositories of
    their own (looked: the caller found neither of the last two). Empty when it may be
    pooled or reused."""
    found = [f"a {op} in progress" for op in gitops.in_progress(path)]
    if looked:
        return found
    if gitops.in_submodule_folders(path):
        found.append("files in a submodule folder that is not checked out")
    found += [f"{nested}/ is a git repository" for nested in gitops.nested_repositories(path)]
    return found


def take_from_pool(repo: gitops.RepoPaths, path: Path, branch: str, start: str) -> bool:
    """Reuse a pooled worktree at path on a new branch at start; False when the pool is empty.
    One that is not pristine (pooled by an older version, or tampered with) is removed."""
    pool = repo.root / POOL_DIR
    while True:
        with gitops.worktree_lock(repo.common_dir):  # two tasks must not take the same one
            entries = sorted(pool.iterdir()) if pool.exists() else []
            if not entries:
                return False
            try:
                gitops.move_worktree(repo.root, repo.common_dir, entries[0], path, lock=False)
            except GenesisError:
                return False
        if not leftovers(path):
            break
        for nested in gitops.nested_repositories(path):  # its commits live only there
            set_aside(repo, path / nested, f"pool-{nested.replace('/', '-')}")
        discard(repo, path)
    gitops.switch_worktree(path, branch, start)
    return True


def pool_refusal(repo: gitops.RepoPaths, path: Path, looked: bool = False) -> str | None:
    """Why this worktree may not be pooled (the pool is full, ...); None when it may.
    looked: the caller found no files in submodule folders and no nested repository."""
    pool = repo.root / POOL_DIR
    if pool.exists() and len(list(pool.iterdir())) >= POOL_SIZE:
        return "the pool is full"
    if gitops.is_sparse(path):  # it would reach the next task with files missing
        return "a sparse checkout"
    return ", ".join(leftovers(path, looked)) or None


def put_in_pool(repo: gitops.RepoPaths, path: Path, now: float, looked: bool = False) -> str | None:
    """Keep a clean, finished worktree for reuse (detached); None when pooled, else why not:
    the pool is full, or the worktree would bring more than its files to the next task."""
    why = pool_refusal(repo, path, looked)
    if why is not None:
        return why
    pool = repo.root / POOL_DIR
    pool.mkdir(parents=True, exist_ok=True)
    gitops.detach(path)
    name = f"{int(now * 1000)}-{path.parent.name}-{path.name}"
    target = pool / name
    for k in itertools.count(1):  # two runs' tasks of one name, pooled in the same millisecond
        if not target.exists():
            break
        target = pool / f"{name}-{k}"
    gitops.move_worktree(repo.root, repo.common_dir, path, target)
    return None


def set_aside(repo: gitops.RepoPaths, folder: Path, label: str) -> Path:
    """Move a folder git cannot save (a repository of its own) out of the way, never delete
    it: to .genesis/saved/<label>-<time>; where it went."""
    saved = repo.root / SAVED_DIR
    saved.mkdir(parents=True, exist_ok=True)
    aside = saved / f"{label}-{int(time.time())}"
    for k in itertools.count(1):
        if not aside.exists():
            break
        aside = saved / f"{label}-{int(time.time())}-{k}"
    folder.rename(aside)
    return aside


def discard(repo: gitops.RepoPaths, path: Path) -> None:
    """Remove a worktree whose content is not needed: moved aside at once, deleted behind."""
    trash = repo.root / TRASH_DIR
    proc.delete_in_background(gitops.remove_worktree(repo.root, repo.common_dir, path, trash))


def discard_folder(repo: gitops.RepoPaths, path: Path) -> None:
    """Remove a folder git does not know whose content is not needed, the same way."""
    trash = repo.root / TRASH_DIR
    trash.mkdir(parents=True, exist_ok=True)
    aside = Path(tempfile.mkdtemp(prefix="dir-", dir=trash))
    path.rename(aside / "files")
    proc.delete_in_background(aside)


def entries(repo: gitops.RepoPaths) -> list[Pooled]:
    """The pooled worktrees, oldest first."""
    pool = repo.root / POOL_DIR
    if not pool.exists():
        return []
    heads = {e.path: e.head for e in gitops.worktrees(repo.root)}
    found = []
    for path in sorted(pool.iterdir()):
        stamp = path.name.split("-", 1)[0]
        when = int(stamp) / 1000 if stamp.isdigit() else None
        found.append(Pooled(path, heads.get(path), when))
    return found


def drain(repo: gitops.RepoPaths, dry_run: bool) -> tuple[list[Path], list[Path]]:
    """Remove every pooled worktree no process works in: (drained, kept busy)."""
    pooled = [p.path for p in entries(repo)]
    busy = proc_scan.processes_in(pooled)
    drained = [p for p in pooled if not busy[p]]
    if not dry_run:
        for path in drained:
            with contextlib.suppress(GenesisError, OSError):  # taken by a task meanwhile
                discard(repo, path)
    return drained, [p for p in pooled if busy[p]]
