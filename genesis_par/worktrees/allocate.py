"""Allocate, reset and locate the worktree and branch of each task."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

from genesis_par import gitops
from genesis_par.errors import UsageError
from genesis_par.report.words import plural
from genesis_par.worktrees import clones
from genesis_par.worktrees.pool import take_from_pool

WORKTREES_DIR = Path(".genesis") / "worktrees"
EXCLUDE = ".genesis/"  # in info/exclude: the worktrees are never part of the repository


def branch_name(run: str, task: str) -> str:
    """The task's branch: genesis/<run>/<task>."""
    return f"genesis/{run}/{task}"


def path_for(root: Path, run: str, task: str) -> Path:
    """The task's worktree: .genesis/worktrees/<run>/<task> under the repository root."""
    return root / WORKTREES_DIR / run / task


OWN_ENTRIES = frozenset({"worktrees", "pool", "trash", "saved"})  # all genesis-par puts there


def check_layout(repo: gitops.RepoPaths) -> None:
    """Refuse a `.genesis` that is not genesis-par's own folder: through a symlink (tracked in
    a cloned repository, or made by an agent) worktrees, the trash and what gc moves aside
    would land wherever it points."""
    folder = repo.root / ".genesis"
    if folder.is_symlink():
        raise UsageError(
            f"{folder} is a symlink: genesis-par keeps worktrees only in a real .genesis folder "
            "of its own; remove the link (`git rm .genesis` if it is tracked) and run again"
        )
    if not folder.exists():
        return
    odd = (
        [folder.name]
        if not folder.is_dir()
        else [
            p.name
            for p in sorted(folder.iterdir())
            if p.name not in OWN_ENTRIES or p.is_symlink() or not p.is_dir()
        ]
    )
    if odd or gitops.tracked(repo.root, ".genesis"):
        held = f"it holds {odd[0]}" if odd else "git tracks files in it"
        raise UsageError(
            f"{folder} is not genesis-par's own folder ({held}): genesis-par needs .genesis "
            "for its worktrees; move that folder away (or `git rm -r .genesis`) and run again"
        )


def refuse_taken_name(repo: gitops.RepoPaths, run: str) -> None:
    """A run name whose branches or worktrees already exist cannot be used again."""
    taken = gitops.ref_names(repo.root, f"refs/heads/genesis/{run}/")
    folder = repo.root / WORKTREES_DIR / run
    trees = sorted(folder.iterdir()) if folder.is_dir() else []
    if taken or trees:
        has = [plural(len(x), noun) for x, noun in ((taken, "branch"), (trees, "worktree")) if x]
        raise UsageError(
            f'run "{run}" already has {" and ".join(has)} (under genesis/{run}/): choose a new '
            f"name with --name, or clean it up with `genesis-par worktrees rm {run}`"
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
    repo: gitops.RepoPaths,
    run: str,
    task: str,
    start: str,
    pool: bool = True,
    clone: bool = False,
    *,
    branch_may_exist: bool = True,
) -> tuple[Path, bool]:
    """The task's worktree (or clone: never pooled) on its branch; True when it already
    existed (a resumed run). branch_may_exist: False in a new run, whose start found none of
    its branches (one made since fails `worktree add`: nothing is overwritten)."""
    gitops.ensure_excluded(repo.common_dir, EXCLUDE)
    path = path_for(repo.root, run, task)
    branch = branch_name(run, task)
    if clone:
        path.parent.mkdir(parents=True, exist_ok=True)
        return clones.allocate(repo, path, branch, start)
    if (path / ".git").exists():
        return path, True
    path.parent.mkdir(parents=True, exist_ok=True)
    if branch_may_exist and gitops.resolve_commit(repo.root, branch) is not None:
        gitops.add_worktree_on(repo.root, repo.common_dir, path, branch)
        return path, True
    if not (pool and take_from_pool(repo, path, branch, start)):
        gitops.add_worktree(repo.root, repo.common_dir, path, branch, start)
    return path, False


def merge_worktree(repo: gitops.RepoPaths, run: str, start: str, slot: int = 1) -> Path:
    """A detached worktree where merge checks and rebases run (never the user's); slot 2, 3,
    ...: one more for each merge check run in parallel (`[merge] parallel_checks`)."""
    path = path_for(repo.root, run, ".merge" if slot == 1 else f".merge-{slot}")
    if not path.exists():
        gitops.ensure_excluded(repo.common_dir, EXCLUDE)
        path.parent.mkdir(parents=True, exist_ok=True)
        gitops.add_detached_worktree(repo.root, repo.common_dir, path, start)
    return path


def unrecorded_work(
    worktree: Path, start: str, home: Path | None = None, where: gitops.Located | None = None
) -> str | None:
    """Why the work just committed in worktree is not all of the agent's work, or None:
    files in a submodule folder git does not look into, or a gitlink (a nested `git init`)
    to a commit this repository does not have, which would point at nothing once merged.
    home: the user's repository, for a clone (its commit is the clone's HEAD, fetched home).
    where: the worktree as the commit found it (Committed.where), if known."""
    # the index is the commit's tree just written: with no gitlink in it (the usual case) no
    # gitlink can be missing, and git need not diff the commit against start
    links = gitops.gitlinks(worktree, hash_size=len(start) // 2, where=where)
    if not links:
        missing = []
    elif home is not None:
        missing = gitops.missing_gitlinks(home, start, gitops.head(worktree))
    else:
        missing = gitops.missing_gitlinks(worktree, start)
    if missing:
        what = ", ".join(f"{path}/ (commit {sha[:12]})" for path, sha in missing)
        return (
            f"{what}: a git repository of its own, whose commits this repository does not "
            "have; merged, it would point at nothing: remove its .git to commit its files"
        )
    unseen = gitops.in_submodule_folders(worktree, links)
    if unseen:
        shown = ", ".join(unseen[:3]) + (f" and {len(unseen) - 3} more" if len(unseen) > 3 else "")
        return (
            f"files written in a submodule folder that is not checked out here cannot be "
            f"committed ({shown}): they are left in the worktree"
        )
    return None
