"""`genesis-par status [RUN]`, `runs` and `logs RUN TASK`: what is and was running."""

from __future__ import annotations

import time
from pathlib import Path

from genesis_par import gitops
from genesis_par.commands.common import (
    effective_status,
    open_store,
    pick_run,
    state_dir,
    stop_orphans,
)
from genesis_par.errors import UsageError
from genesis_par.report import status_view


def status(cwd: Path, run: str | None = None, *, as_json: bool = False) -> int:
    """Show one run (the latest by default) and its tasks."""
    repo, state = state_dir(cwd)
    with open_store(state, read_only=True) as store:
        stop_orphans(store)
        record = pick_run(store, run)
        tasks = store.tasks(record.name)
        kept = gitops.ref_names(repo.root, f"refs/genesis/{record.name}/")
        result = store.result(record.name) or {}
        obj = status_view.status_json(
            record, effective_status(record), tasks, kept, result.get("merge")
        )
    if as_json:
        status_view.print_json(obj)
    else:
        status_view.print_status(obj)
    return 0


def runs(cwd: Path, *, as_json: bool = False) -> int:
    """List the recorded runs, newest first."""
    _, state = state_dir(cwd)
    with open_store(state, read_only=True) as store:
        rows = [
            status_view.run_row(r, effective_status(r), store.tasks(r.name)) for r in store.runs()
        ]
    if as_json:
        status_view.print_json({"runs": rows})
    else:
        status_view.print_runs(rows)
    return 0


def logs(
    cwd: Path, run: str, task: str, *, attempt: int | None = None, follow: bool = False
) -> int:
    """Print a task's log (the last attempt's by default); --follow until the attempt ends."""
    _, state = state_dir(cwd)
    with open_store(state, read_only=True) as store:
        record = pick_run(store, run)
        attempts = store.attempts(record.name, task)
        known = {str(t["id"]) for t in store.tasks(record.name)}
        while follow and not attempts and task in known and effective_status(record) == "running":
            time.sleep(0.3)  # --follow on a task still waiting to start: wait for its attempt
            attempts = store.attempts(record.name, task)
            record = pick_run(store, record.name)
        if not attempts:
            ids = ", ".join(t["id"] for t in store.tasks(record.name))
            raise UsageError(f'run "{record.name}" has no attempt of task "{task}" (tasks: {ids})')
        chosen = (
            attempts[-1] if attempt is None else next((a for a in attempts if a.n == attempt), None)
        )
        if chosen is None:
            raise UsageError(f'task "{task}" has attempts 1..{len(attempts)}, not {attempt}')
        log = Path(chosen.log or "")
        offset = status_view.print_log(log, 0)
        while follow and chosen.finished_at is None and effective_status(record) == "running":
            time.sleep(0.3)
            offset = status_view.print_log(log, offset)
            chosen = next(a for a in store.attempts(record.name, task) if a.n == chosen.n)
            record = pick_run(store, record.name)
        if follow:
            status_view.print_log(log, offset)
    return 0
