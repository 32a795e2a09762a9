"""Runs whose supervisor died: how to tell, and stopping the agents they left running."""

from __future__ import annotations

from genesis_par import proc
from genesis_par.model import RunStatus
from genesis_par.state.store import RunRecord, Store


def supervisor_alive(record: RunRecord) -> bool:
    """Whether the process that ran this run still runs."""
    if record.supervisor_pid is None or record.supervisor_create_time is None:
        return False
    return proc.alive(record.supervisor_pid, record.supervisor_create_time)


def effective_status(record: RunRecord) -> RunStatus:
    """The recorded status, except that a running run whose supervisor died is interrupted."""
    if record.status == RunStatus.RUNNING and not supervisor_alive(record):
        return RunStatus.INTERRUPTED
    return RunStatus(record.status)


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
