"""Runs whose supervisor died: how to tell, and stopping the agents they left running."""

from __future__ import annotations

import time
from pathlib import Path

from genesis_par import cgroups, proc
from genesis_par.model import RunStatus
from genesis_par.shim import FINISHING_GRACE_S
from genesis_par.state.store import RunRecord, Store

UNRECORDED_WAIT_S = FINISHING_GRACE_S + 2.0  # the shim's own grace, then its stop


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
    """Stop agent trees recorded as running whose run's supervisor is gone; their pids. And
    wait for the unrecorded ones to end (stop_unrecorded)."""
    stop_unrecorded()
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


def stop_unrecorded(wait_s: float = UNRECORDED_WAIT_S, under: Path | None = None) -> int:
    """Attempts a SIGKILLed genesis-par started after its last record (their processes named
    nowhere) are still in their own cgroups: wait for them to end (their shim lets an agent
    about to finish finish, and writes its exit, which resume then reads instead of running the
    agent again), then kill what is left, so that no task's worktree gets a second agent. How
    many such cgroups there were. Without cgroups, the shims still stop them by themselves.
    under: where to look (genesis-par's own cgroup by default)."""
    found = cgroups.left_by_the_dead(under or cgroups.parent())
    left, deadline = found, time.monotonic() + wait_s
    while left and time.monotonic() < deadline:
        time.sleep(0.05)
        left = [c for c in left if cgroups.populated(c)]
    for cgroup in found:
        cgroups.remove(cgroup)  # what still runs there is frozen and killed first
    return len(found)
