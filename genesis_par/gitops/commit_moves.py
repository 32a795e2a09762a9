"""Moving commits in a worktree: merges of starts, detached checkouts, fast-forwards and
resets of a checked-out target, cherry-picks and reverts."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import NamedTuple

from genesis_par.errors import GitError
from genesis_par.gitops.located import locate
from genesis_par.gitops.refs import head
from genesis_par.gitops.run import _out, _run_git


class MergedStart(NamedTuple):
    commit: str | None  # None when the dependencies' results conflict
    conflicted: tuple[str, ...]


def merge_commits(
    repo: Path, commits: Sequence[str], message: str, env: Mapping[str, str] | None = None
) -> MergedStart:
    """One commit that merges commits together, built without touching any worktree or index."""
    current = commits[0]
    for other in commits[1:]:
        done = _run_git(
            # a dependency with an unrelated history (an agent's doing) must not end the run
            [
                "merge-tree",
                "--write-tree",
                "--name-only",
                "--no-messages",
                "--allow-unrelated-histories",
                "-z",
                current,
                other,
            ],
            repo,
            check=False,
        )
        if done.returncode not in (0, 1):
            raise GitError(f"git merge-tree failed in {repo}: {done.stderr.strip()}")
        tree, *paths = [p for p in done.stdout.split("\0") if p]
        if done.returncode == 1:
            return MergedStart(None, tuple(sorted(set(paths))))
        args = ["commit-tree", tree, "-p", current, "-p", other, "-m", message]
        current = _run_git(args, repo, env=env).stdout.strip()
    return MergedStart(current, ())


def checkout_detached(worktree: Path, commit: str) -> None:
    """Point a worktree (detached) at commit, its files matching exactly."""
    where = locate(worktree).args
    _run_git([*where, "checkout", "--quiet", "--force", "--detach", commit], worktree)
    _run_git([*where, "clean", "-ffdxq"], worktree)


def try_fast_forward(worktree: Path, old: str, new: str) -> bool:
    """Move the branch checked out in worktree from old to new with its files; False if it moved."""
    if head(worktree) != old:
        return False
    args = [*locate(worktree, main_ok=True).args, "merge", "--quiet", "--ff-only", new]
    return _run_git(args, worktree, check=False).returncode == 0


def try_reset_checked_out(worktree: Path, old: str, new: str) -> bool:
    """Move the branch checked out in worktree from old to new, any direction, with its files
    (`reset --keep`); False if the branch was not at old or local changes are in the way."""
    if head(worktree) != old:
        return False
    args = [*locate(worktree, main_ok=True).args, "reset", "--quiet", "--keep", new]
    return _run_git(args, worktree, check=False).returncode == 0


def cherry_pick(worktree: Path, commits: Sequence[str], env: Mapping[str, str] | None) -> bool:
    """Replay commits onto the worktree's HEAD; on a conflict abort and return False."""
    if not commits:
        return True
    where = locate(worktree).args
    args = [*where, "cherry-pick", "--allow-empty", "--keep-redundant-commits", *commits]
    if _run_git(args, worktree, env=env, check=False).returncode == 0:
        return True
    _run_git([*where, "cherry-pick", "--abort"], worktree, check=False)
    return False


def revert(worktree: Path, commits: Sequence[str], env: Mapping[str, str]) -> bool:
    """Revert commits (merges against their first parent) in order; False on a conflict."""
    where = locate(worktree).args
    for commit in commits:
        parents = _out([*where, "rev-list", "--parents", "-n", "1", commit], worktree).split()[1:]
        args = ["revert", "--no-edit", *(["-m", "1"] if len(parents) > 1 else []), commit]
        if _run_git([*where, *args], worktree, env=env, check=False).returncode != 0:
            _run_git([*where, "revert", "--abort"], worktree, check=False)
            return False
    return True
