"""`genesis-par conflicts [BRANCH...]`: conflicts among branches and against a target."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from genesis_par import gitops
from genesis_par.errors import UsageError
from genesis_par.land import conflicts
from genesis_par.report import conflicts_view

EXIT_CONFLICTS = 3


def _run_branches(
    cwd: Path, run: str | None
) -> tuple[list[str], str, dict[str, Path], dict[str, str | None]]:
    """A run's succeeded-or-running branches, its merge target, their worktrees, and the
    commit recorded for each (a branch gone since is reported, not refused)."""
    # imported here: checking named branches (the common CI call) needs no run state
    from genesis_par import worktrees
    from genesis_par.commands.common import open_store, state_dir
    from genesis_par.state.store import pick_run

    repo, state = state_dir(cwd)
    worktrees.check_layout(repo)
    if not (state / "state.db").exists():
        raise UsageError("no runs recorded here: name the branches to check, or start a run")
    with open_store(state, read_only=True) as store:
        record = pick_run(store, run)
        tasks = [t for t in store.tasks(record.name) if t["status"] in ("succeeded", "running")]
    into = record.into_ref
    target = into if gitops.resolve_commit(repo.root, into) else record.base_commit
    names = [str(t["branch"]) for t in tasks]
    trees = {
        str(t["branch"]): worktrees.path_for(repo.root, record.name, str(t["id"])) for t in tasks
    }
    known = {str(t["branch"]): t["commit"] for t in tasks}
    return names, target, trees, known


def run(
    cwd: Path,
    branches: Sequence[str] = (),
    *,
    into: str | None = None,
    run_name: str | None = None,
    as_json: bool = False,
) -> int:
    """Probe the branches; 0 when all is clean, 3 when anything conflicts."""
    repo = gitops.discover(cwd)
    gitops.check_version(repo.root)
    if branches and run_name:
        raise UsageError("name branches or --run, not both")
    worktree_map: dict[str, Path] = {}
    known: dict[str, str | None] | None = None
    if branches:
        # HEAD is the user's own: in a linked worktree, not the main worktree's
        names, target = list(branches), into or gitops.current_target(cwd)
    else:
        names, run_target, worktree_map, known = _run_branches(cwd, run_name)
        target = into or run_target
    report = conflicts.check(repo.root, names, target, worktree_map, known)
    if as_json:
        conflicts_view.print_json(report)
    else:
        conflicts_view.print_report(report)
    return 0 if report.clean else EXIT_CONFLICTS
