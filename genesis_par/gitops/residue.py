"""What an agent can leave in a worktree that `git status` does not show: an operation in
progress, files in a submodule folder git does not look into, a repository of its own."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Sequence
from pathlib import Path
from typing import NamedTuple

from genesis_par.gitops import index_file
from genesis_par.gitops.located import Located, locate
from genesis_par.gitops.run import _out, _run_git

# State files of operations that stop half-way and wait for the user (git's own names).
_IN_PROGRESS = {
    "rebase-merge": "rebase",
    "rebase-apply": "rebase or am",
    "MERGE_HEAD": "merge",
    "CHERRY_PICK_HEAD": "cherry-pick",
    "REVERT_HEAD": "revert",
    "sequencer": "cherry-pick or revert",
    "BISECT_LOG": "bisect",
    "BISECT_START": "bisect",
}


def in_progress(worktree: Path) -> list[str]:
    """The operations stopped half-way in worktree (rebase, merge, bisect, ...), if any."""
    git_dir = locate(worktree, main_ok=True).git_dir
    found = {what for name, what in _IN_PROGRESS.items() if (git_dir / name).exists()}
    return sorted(found)


def gitlinks(
    worktree: Path, hash_size: int | None = None, where: Located | None = None
) -> list[str]:
    """The paths the worktree's index records as gitlinks (submodules, embedded repositories).
    hash_size (20 or 32: a commit id's length / 2): read from the index file itself where it
    can be, without a git process. where: the worktree as located a moment before, with
    nothing run there since (commit_all's), else it is located here."""
    where = where or locate(worktree, main_ok=True)
    if hash_size in (20, 32):
        found = index_file.gitlinks(where.git_dir / "index", hash_size)
        if found is not None:
            return found
    listed = _out([*where.args, "ls-files", "--stage", "-z"], worktree).split("\0")
    return [e.split("\t", 1)[1] for e in listed if e.startswith("160000 ")]


def in_submodule_folders(worktree: Path, links: Sequence[str] | None = None) -> list[str]:
    """Files inside the folders of gitlinks that are not checked out (no .git there): git
    neither shows nor commits them, and they would outlive a reset or a clean."""
    found: list[str] = []
    for link in gitlinks(worktree) if links is None else links:
        folder = worktree / link
        if not folder.is_dir() or folder.is_symlink() or (folder / ".git").exists():
            continue
        for root, dirs, files in os.walk(folder):
            dirs.sort()
            found += sorted(os.path.relpath(Path(root, n), worktree) for n in files)
            found += [  # an empty folder is not work; a symlink to one is
                os.path.relpath(Path(root, d), worktree) for d in dirs if Path(root, d).is_symlink()
            ]
    return found


def missing_gitlinks(worktree: Path, start: str, commit: str = "HEAD") -> list[tuple[str, str]]:
    """Gitlinks that commit adds or changes since start whose commit this repository does not
    have (an agent's nested `git init`, a submodule commit made only in the worktree): merged,
    they point at nothing; (path, commit) pairs."""
    diff = _out(["diff-tree", "-r", "-z", "--no-renames", start, commit], worktree).split("\0")
    changed = [
        (path, meta.split()[3])
        for meta, path in zip(diff[::2], diff[1::2], strict=False)
        if meta.split()[1:2] == ["160000"]
    ]
    if not changed:
        return []
    done = _run_git(
        ["cat-file", "--batch-check=%(objecttype)"],
        worktree,
        input="".join(f"{sha}\n" for _, sha in changed),
        check=False,
    )
    kinds = done.stdout.splitlines()
    return [pair for pair, kind in zip(changed, kinds, strict=False) if kind != "commit"]


class Walked(NamedTuple):
    size_bytes: int  # of the files, .git left out
    nested: list[str]  # folders holding a .git of their own


def walk(worktree: Path) -> Walked:
    """One walk of worktree: its size, and the folders below it that hold a .git of their own
    (their commits live there, and go when the worktree goes)."""
    size, nested = 0, []
    for root, dirs, files in os.walk(worktree):
        if root != str(worktree) and (".git" in dirs or ".git" in files):
            nested.append(os.path.relpath(root, worktree))
            dirs.clear()
            continue
        dirs[:] = [d for d in dirs if d != ".git"]
        for name in files:
            with contextlib.suppress(OSError):
                size += os.lstat(os.path.join(root, name)).st_size
    return Walked(size, sorted(nested))


def nested_repositories(worktree: Path) -> list[str]:
    """Folders below worktree that hold a .git of their own."""
    return walk(worktree).nested


def all_committed(repo: Path, files: Sequence[Path]) -> bool:
    """Whether every file's content is a blob the repository already has (its raw bytes, no
    filters): deleting such files loses nothing. Two git processes for any number of files."""
    if not files:
        return True
    if any("\n" in str(f) for f in files):  # --stdin-paths reads one name a line
        return False
    hashed = _run_git(
        ["hash-object", "--no-filters", "--stdin-paths"],
        repo,
        input="".join(f"{f}\n" for f in files),
        check=False,
    )
    shas = hashed.stdout.split()
    if hashed.returncode != 0 or len(shas) != len(files):
        return False
    found = _run_git(
        ["cat-file", "--batch-check=%(objecttype)"], repo, input="".join(f"{s}\n" for s in shas)
    )
    return found.stdout.split() == ["blob"] * len(files)
