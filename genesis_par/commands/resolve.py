"""`genesis-par resolve [RUN] TASK`: the merge of the current target into a task's branch, in
its worktree, left for a person to finish; `merge` then lands the branch as it is."""

from __future__ import annotations

from pathlib import Path

from genesis_par import gitops, worktrees
from genesis_par.commands.common import open_store, state_dir
from genesis_par.errors import UsageError
from genesis_par.land import by_hand
from genesis_par.report import resolve_view
from genesis_par.state.store import pick_run, run_supervised

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
        record = pick_run(store, run_name)
        if run_supervised(state, record.name):  # its queue may be using the task's worktree
            raise UsageError(
                f'run "{record.name}" is still running: resolve its tasks once it has finished '
                f"(`genesis-par status {record.name}`)"
            )
        known = {str(t["id"]): t for t in store.tasks(record.name)}
        if task not in known:
            raise UsageError(
                f'run "{record.name}" has no task "{task}" (tasks: {", ".join(known)})'
            )
        if known[task]["status"] != "succeeded":
            raise UsageError(
                f'task "{task}" of run "{record.name}" is {known[task]["status"]}, not '
                "succeeded: only finished work can be merged (`resume --retry-failed` runs it "
                "again)"
            )
        target_commit = gitops.resolve_commit(repo.root, record.into_ref)
        target = record.into_ref if target_commit else record.base_commit
        done = by_hand.prepare(
            repo,
            record.name,
            task,
            target,
            target_commit or record.base_commit,
            gitops.identity_env(repo.root),
        )
        store.record_event(
            record.name,
            task,
            "resolution",
            {"strategy": "manual", "outcome": done.outcome.value, "paths": list(done.unmerged)},
        )
        if done.commit:
            store.record_event(record.name, task, "branch-moved", {"commit": done.commit})
    resolve_view.show(record.name, done, as_json)
    return EXIT_CONFLICTS if done.unmerged else 0
