"""Task clones (`[run] isolation = "clone"`): making one for a task, recording its work and
keeping what an attempt left, all brought home by fetch and compare-and-swap (gitops.clone).

The task's branch in the user's repository is made at its start commit before the clone, so
the commits the clone borrows stay reachable there (`git gc` or `git prune` in the user's
repository cannot remove them) for as long as the branch exists.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

from genesis_par import gitops
from genesis_par.worktrees.pool import set_aside


def allocate(repo: gitops.RepoPaths, path: Path, branch: str, start: str) -> tuple[Path, bool]:
    """The task's clone at path on its branch; True when it already existed (a resumed run)."""
    ref = f"refs/heads/{branch}"
    tip = gitops.resolve_commit(repo.root, ref)
    if gitops.is_clone(path) and gitops.clone_head(path) is not None:
        gitops.reclaim(path, repo.common_dir, repo.root)  # its last process may have been killed
        return path, True
    if path.exists() or path.is_symlink():  # half made (genesis-par killed making it), or
        set_aside(repo, path, f"{path.parent.name}-{path.name}")  # not a clone: never deleted
    if tip is None:
        gitops.update_ref(repo.root, ref, start)  # keeps start reachable: made first
    gitops.add_clone(repo.common_dir, path, branch, tip or start, repo.root)
    return path, tip is not None


def record(
    repo: gitops.RepoPaths,
    path: Path,
    message: str,
    start: str,
    env: Mapping[str, str] | None,
    leave_out: Sequence[str],
    branch: str,
    home: str | None = None,
) -> gitops.Committed:
    """Commit the clone's work on its branch there, fetch it home and move the task's branch
    in the user's repository to it (compare-and-swap); ForeignHistory when it lost start.
    home: the ref to move instead of the task's branch (a best_of candidate's)."""
    ref = f"refs/heads/{branch}"
    done = gitops.commit_all(
        path, message, start, env, leave_out, branch=branch, common_dir=path / ".git"
    )
    target = home or ref
    found = gitops.resolve_many(repo.root, list(dict.fromkeys([ref, target])))
    tip = ref if found[ref] else None
    gitops.fetch_home(
        repo.root, path, ref, target, found[target], done.commit, start=start, tip=tip
    )
    return done


def keep(
    repo: gitops.RepoPaths, path: Path, ref: str, branch: str, leave_out: Sequence[str]
) -> str:
    """Save everything in the clone (committed or not) under ref in the user's repository."""
    commit = gitops.save_to_ref(path, ref, leave_out=leave_out)
    tip = f"refs/heads/{branch}"
    found = gitops.resolve_many(repo.root, [ref, tip])
    known = tip if branch and found[tip] else None
    gitops.fetch_home(repo.root, path, ref, ref, found[ref], commit, tip=known)
    return commit
