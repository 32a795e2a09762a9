"""What several commands share: finding the repository, its state and a recorded run."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from genesis_par import gitops, proc
from genesis_par.errors import UsageError
from genesis_par.report import run_view
from genesis_par.state.store import RunRecord, Store


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


def pick_run(store: Store, name: str | None) -> RunRecord:
    """The named run, or the latest one."""
    record = store.get_run(name) if name else store.latest_run()
    if record is None:
        if name:
            known = ", ".join(r.name for r in store.runs()[:5]) or "none yet"
            raise UsageError(f'no run named "{name}" in this repository (recent runs: {known})')
        raise UsageError(
            "no runs recorded in this repository yet: start one with `genesis-par run PLAN`"
        )
    return record


def supervisor_alive(record: RunRecord) -> bool:
    """Whether the process that ran this run still runs."""
    if record.supervisor_pid is None or record.supervisor_create_time is None:
        return False
    return proc.alive(record.supervisor_pid, record.supervisor_create_time)


def effective_status(record: RunRecord) -> str:
    """The recorded status, except that a running run whose supervisor died is interrupted."""
    if record.status == "running" and not supervisor_alive(record):
        return "interrupted"
    return record.status


def effective_run(store: Store, record: RunRecord) -> tuple[str, list[dict[str, Any]]]:
    """The run's status and its tasks as `status` and `runs` both show them: in a run whose
    supervisor died, the run and every task recorded as running or pending are interrupted."""
    status = effective_status(record)
    tasks = store.tasks(record.name)
    if status == "interrupted":
        tasks = [
            {**t, "status": "interrupted"} if t["status"] in ("running", "pending") else t
            for t in tasks
        ]
    return status, tasks


def stop_orphans(store: Store) -> list[int]:
    """Stop agent trees recorded as running whose run's supervisor is gone; their pids."""
    stopped = []
    for attempt in store.running_attempts():
        record = store.get_run(attempt.run)
        if record is None or supervisor_alive(record):
            continue
        if (
            attempt.pid
            and attempt.create_time
            and proc.stop_recorded(attempt.pid, attempt.create_time, grace_s=2.0)
        ):
            stopped.append(attempt.pid)
    return stopped
