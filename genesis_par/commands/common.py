"""What several commands share: finding the repository, its state and a recorded run."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from genesis_par import gitops
from genesis_par.model import RunStatus, TaskStatus
from genesis_par.report import run_view
from genesis_par.run.orphans import effective_status
from genesis_par.state.store import RunRecord, Store, TaskRecord


def state_dir(cwd: Path) -> tuple[gitops.RepoPaths, Path]:
    """The repository holding cwd and its genesis-par state directory."""
    repo = gitops.discover(cwd)
    return repo, repo.common_dir / "genesis-par"


@contextmanager
def open_store(state: Path, *, read_only: bool = False) -> Iterator[Store]:
    """The state store; says so when a damaged one was moved aside and a new one started."""
    with Store.open(state, read_only=read_only) as store:
        if store.notice:
            run_view.note(store.notice)
        yield store


def effective_run(store: Store, record: RunRecord) -> tuple[RunStatus, list[TaskRecord]]:
    """The run's status and its tasks as `status` and `runs` both show them: in a run whose
    supervisor died, the run and every task recorded as running or pending are interrupted."""
    status = effective_status(record)
    tasks = store.tasks(record.name)
    if status == RunStatus.INTERRUPTED:
        tasks = [
            dataclasses.replace(t, status=TaskStatus.INTERRUPTED)
            if t.status in (TaskStatus.RUNNING, TaskStatus.PENDING)
            else t
            for t in tasks
        ]
    return status, tasks
