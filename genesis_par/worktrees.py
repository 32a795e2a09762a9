"""Allocate, reset and locate the worktree and branch of each task."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

from genesis_par import gitops
from genesis_par.errors import UsageError

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
    if taken or (repo.root / WORKTREES_DIR / run).exists():
        raise UsageError(
            f'run "{run}" already has branches or worktrees ({len(taken)} branches under '
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


def allocate(repo: gitops.RepoPaths, run: str, task: str, start: str) -> Path:
    """A new worktree on a new branch at start."""
    gitops.ensure_excluded(repo.common_dir, EXCLUDE)
    path = path_for(repo.root, run, task)
    path.parent.mkdir(parents=True, exist_ok=True)
    gitops.add_worktree(repo.root, repo.common_dir, path, branch_name(run, task), start)
    return path


def merge_worktree(repo: gitops.RepoPaths, run: str, start: str) -> Path:
    """A detached worktree where merge checks and rebases run (never the user's)."""
    path = path_for(repo.root, run, ".merge")
    if not path.exists():
        gitops.ensure_excluded(repo.common_dir, EXCLUDE)
        path.parent.mkdir(parents=True, exist_ok=True)
        gitops.add_detached_worktree(repo.root, repo.common_dir, path, start)
    return path
