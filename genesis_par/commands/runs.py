"""`genesis-par runs rm RUN`: forget a run; its branches and worktrees stay unless asked."""

from __future__ import annotations

import shutil
import time
from pathlib import Path

from genesis_par import gitops, worktrees
from genesis_par.commands.common import state_dir
from genesis_par.errors import UsageError
from genesis_par.model import RunStatus
from genesis_par.report import runs_view
from genesis_par.run.orphans import effective_status, stop_orphans
from genesis_par.state.store import RunRecord, Store, pick_run, run_lock
from genesis_par.worktrees import cleaning, survey


def _run_view(repo: gitops.RepoPaths, store: Store, record: RunRecord) -> survey.RunView:
    target = record.into_ref if gitops.resolve_commit(repo.root, record.into_ref) else None
    return survey.RunView(
        record.name,
        False,  # rm refused a run that is still going
        target,
        record.finished_at,
        store.tasks(record.name),
    )


def rm(
    cwd: Path, name: str, *, branches: bool = False, force: bool = False, as_json: bool = False
) -> int:
    """Forget a finished or interrupted run: its records, logs and prompts. Its branches,
    worktrees and kept refs stay; with branches, they go by `worktrees rm`'s rules first."""
    repo, state = state_dir(cwd)
    with Store.open(state) as store:
        stop_orphans(store)
        record = pick_run(store, name)
        if effective_status(record) == RunStatus.RUNNING:
            pid = record.supervisor_pid
            raise UsageError(
                f'run "{name}" is still running (supervisor pid {pid}): stop it first '
                f"(kill -INT {pid}), then remove it"
            )
        with run_lock(state, name):  # a `resume` starting now must not lose its records
            actions: list[cleaning.Action] = []
            if branches:
                worktrees.check_layout(repo)
                items = survey.inventory(repo, [_run_view(repo, store, record)])
                mine = [w for w in items if w.run == name]
                actions = cleaning.clean(repo, mine, dry_run=False, force=force, now=time.time())
            store.forget_run(name)
    for leftover in (state / "logs" / name, state / "prompts" / name):
        shutil.rmtree(leftover, ignore_errors=True)
    (state / "locks" / f"{name}.lock").unlink(missing_ok=True)
    left = gitops.ref_names(repo.root, f"refs/heads/{worktrees.branch_name(name, '')}")
    kept_refs = gitops.ref_names(repo.root, f"refs/genesis/{name}/")
    runs_view.show_rm(name, actions, left, kept_refs, as_json)
    return 0
