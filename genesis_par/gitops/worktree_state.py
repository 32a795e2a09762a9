"""What a worktree holds beside its commit: clean or not, local changes, a snapshot of its
uncommitted files, sparse checkouts (read-only status calls)."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path

from genesis_par.gitops.located import locate
from genesis_par.gitops.refs import head
from genesis_par.gitops.residue import in_submodule_folders
from genesis_par.gitops.run import FALLBACK_IDENTITY, _out, _run_git

READ_ONLY_STATUS = {"GIT_OPTIONAL_LOCKS": "0"}


def is_clean(worktree: Path) -> bool:
    """No staged, unstaged or untracked (not ignored) changes in the user's checkout."""
    return _status_clean(locate(worktree, main_ok=True).args, worktree)


def _status_clean(where: Sequence[str], worktree: Path) -> bool:
    args = [*where, "status", "--porcelain", "--untracked-files=normal"]
    return _out(args, worktree, env=READ_ONLY_STATUS) == ""


def local_changes(worktree: Path) -> list[str]:
    """Paths with staged, unstaged or untracked (not ignored) changes, as `git status` lists."""
    args = ["status", "--porcelain", "-z", "--untracked-files=normal"]
    text = _run_git(args, worktree, env=READ_ONLY_STATUS).stdout  # not stripped: see [3:]
    entries = text.split("\0")
    paths, skip = [], False
    for entry in entries:
        if skip or len(entry) < 4:  # a rename's second entry is its old name
            skip = False
            continue
        paths.append(entry[3:])
        skip = entry[0] in "RC"
    return paths


def worktree_snapshot(worktree: Path, env: Mapping[str, str]) -> tuple[str, str]:
    """(a commit of the worktree's current files (untracked too), HEAD: its parent), built in
    a temporary index so the worktree's own index is never touched."""
    where = locate(worktree)
    with tempfile.TemporaryDirectory(prefix="genesis-index-") as tmp:
        index = Path(tmp) / "index"
        if (where.git_dir / "index").exists():
            shutil.copyfile(where.git_dir / "index", index)
        snap_env = {**env, "GIT_INDEX_FILE": str(index), **FALLBACK_IDENTITY}
        _run_git([*where.args, "add", "--all"], worktree, env=snap_env)
        tree = _out([*where.args, "write-tree"], worktree, env=snap_env)
        parent = head(worktree)
        args = ["commit-tree", tree, "-p", parent, "-m", "genesis-par: work in progress"]
        return _out([*where.args, *args], worktree, env=snap_env), parent


def has_uncommitted(worktree: Path) -> bool:
    """Tracked changes or untracked (not ignored) files, or files git status does not show
    (skip-worktree, assume-unchanged) whose content differs from what is committed, or files
    in the folder of a submodule that is not checked out."""
    where = locate(worktree).args
    if not _status_clean(where, worktree):
        return True
    # one listing (tag, mode, path) for both: `ls-files -v` tags, `--stage` modes
    listing = [*where, "ls-files", "-v", "--stage", "-z"]
    listed = [e for e in _out(listing, worktree).split("\0") if e]
    entries = [(e[:1], e[2:].split(" ", 1)[0], e.split("\t", 1)[1]) for e in listed]
    if in_submodule_folders(worktree, [p for _, mode, p in entries if mode == "160000"]):
        return True
    hidden = [p for tag, _, p in entries if tag == "S" or tag.islower()]
    hidden = [f for f in hidden if (worktree / f).is_file()]  # not sparse ones
    if not hidden:
        return False
    done = _run_git([*where, "hash-object", "--", *hidden], worktree, check=False)
    shown = [*where, "rev-parse", *(f"HEAD:{f}" for f in hidden)]
    committed = _run_git(shown, worktree, check=False)
    return done.returncode != 0 or done.stdout.split() != committed.stdout.split()


def hidden_files(worktree: Path) -> list[str]:
    """Files marked skip-worktree (S) or assume-unchanged (lower-case tag) in the index."""
    listed = _out([*locate(worktree).args, "ls-files", "-v", "-z"], worktree)
    return [e[2:] for e in listed.split("\0") if e[:1] == "S" or e[:1].islower()]


def is_sparse(worktree: Path) -> bool:
    """Whether worktree uses a sparse checkout (some tracked files absent on purpose)."""
    args = [*locate(worktree).args, "config", "--bool", "core.sparseCheckout"]
    done = _run_git(args, worktree, check=False)
    return done.stdout.strip() == "true"
