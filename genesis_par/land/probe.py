"""What `conflicts` checks: the named branches (or a run's) against their target. Kept apart
from `landing` so that the command, called in CI loops, loads neither the merge queue nor the
plan parser (issue 19: start-up)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from genesis_par import gitops
from genesis_par.errors import UsageError
from genesis_par.land import conflicts
from genesis_par.model import TaskStatus


def probe(
    cwd: Path, branches: Sequence[str] = (), into: str | None = None, run: str | None = None
) -> conflicts.Report:
    """Conflicts among the named branches (or a run's, the latest when None) and against into
    (default: the current branch for named ones, the run's target for a run's)."""
    repo = gitops.discover(cwd)
    gitops.check_version(repo.root)
    if branches and run:
        raise UsageError("name branches or --run, not both")
    worktree_map: dict[str, Path] = {}
    known: dict[str, str | None] | None = None
    if branches:
        # HEAD is the user's own: in a linked worktree, not the main worktree's
        names, target = list(branches), into or gitops.current_target(cwd)
    else:
        names, run_target, worktree_map, known = run_branches(repo, run)
        target = into or run_target
    return conflicts.check(repo.root, names, target, worktree_map, known)


def run_branches(
    repo: gitops.RepoPaths, run: str | None
) -> tuple[list[str], str, dict[str, Path], dict[str, str | None]]:
    """A run's succeeded-or-running branches, its merge target, their worktrees, and the
    commit recorded for each (a branch gone since is reported, not refused)."""
    # imported here: checking named branches (the common CI call) needs neither the run
    # state nor the worktree allocator (issue 19: start-up)
    from genesis_par import worktrees
    from genesis_par.state.store import Store, pick_run

    state = repo.common_dir / "genesis-par"
    worktrees.check_layout(repo)
    if not (state / "state.db").exists():
        raise UsageError("no runs recorded here: name the branches to check, or start a run")
    with Store.open(state, read_only=True) as store:
        record = pick_run(store, run)
        branches = {
            t.branch: t
            for t in store.tasks(record.name)
            if t.status in (TaskStatus.SUCCEEDED, TaskStatus.RUNNING) and t.branch
        }
    into = record.into_ref
    target = into if gitops.resolve_commit(repo.root, into) else record.base_commit
    names = list(branches)
    trees = {b: worktrees.path_for(repo.root, record.name, t.id) for b, t in branches.items()}
    known = {b: t.commit for b, t in branches.items()}
    return names, target, trees, known
