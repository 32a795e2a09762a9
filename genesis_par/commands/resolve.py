"""`genesis-par resolve [RUN] TASK`: the merge of the current target into a task's branch, in
its worktree, left for a person to finish; `merge` then lands the branch as it is."""

from __future__ import annotations

from pathlib import Path

from genesis_par import gitops, worktrees
from genesis_par.commands.common import open_store, state_dir
from genesis_par.errors import UsageError
from genesis_par.land import by_hand
from genesis_par.report import resolve_view

EXIT_CONFLICTS = 3


def run(cwd: Path, run_name: str | None, task: str | None, *, as_json: bool = False) -> int:
    """Prepare the task's worktree; 3 while conflicts are left there to fix, else 0."""
    if task is None:
        raise UsageError(
            "name a task: `genesis-par resolve TASK` (latest run) or `resolve RUN TASK`"
        )
    repo, state = state_dir(cwd)
    gitops.check_version(repo.root)
    worktrees.check_layout(repo)
    with open_store(state) as store:
        done = by_hand.prepare_task(repo, store, run_name, task)
    resolve_view.show(done, as_json)
    return EXIT_CONFLICTS if done.unmerged else 0
