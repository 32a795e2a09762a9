"""`genesis-par status [RUN]`, `runs` and `logs [RUN] TASK`: what is and was running."""

from __future__ import annotations

import time
from pathlib import Path

from genesis_par import gitops
from genesis_par.commands.common import effective_run, open_store, state_dir
from genesis_par.errors import UsageError
from genesis_par.land import queue
from genesis_par.model import RunStatus
from genesis_par.report import status_view
from genesis_par.report.words import plural
from genesis_par.run.orphans import effective_status, stop_orphans
from genesis_par.state.store import RunRecord, Store, pick_run


def status(cwd: Path, run: str | None = None, *, as_json: bool = False) -> int:
    """Show one run (the latest by default) and its tasks."""
    repo, state = state_dir(cwd)
    with open_store(state, read_only=True) as store:
        stop_orphans(store)
        record = pick_run(store, run)
        status_now, tasks = effective_run(store, record)
        starts = {t.id: t.start_commit for t in store.tasks(record.name)}
        kept = _refs_holding_work(repo.root, record.name, starts)
        home = store.landing(record.name)
        queue = None if home is None else home.queue
        nodes = store.nodes(record.name)
        isolation = store.isolation(record.name)
        obj = status_view.status_json(record, status_now, tasks, kept, queue, nodes, isolation)
    if as_json:
        status_view.print_json(obj)
    else:
        status_view.print_status(obj)
    return 0


def _refs_holding_work(repo: Path, run: str, starts: dict[str, str | None]) -> list[str]:
    """The run's kept refs (failed attempts, losing candidates) whose tree differs from their
    task's start: an attempt that changed nothing is kept by git but not worth a line."""
    refs = gitops.ref_names(repo, f"refs/genesis/{run}/")
    task_of = {ref: ref.split("/")[3] for ref in refs}
    bases = sorted({s for s in (starts.get(t) for t in task_of.values()) if s})
    trees = gitops.trees_of(repo, [*refs, *bases])
    return [
        ref
        for ref in refs
        if trees[ref] is None or trees[ref] != trees.get(starts.get(task_of[ref]) or "")
    ]


def runs(cwd: Path, *, as_json: bool = False) -> int:
    """List the recorded runs, newest first."""
    _, state = state_dir(cwd)
    with open_store(state, read_only=True) as store:
        stop_orphans(store)  # like status: a run found interrupted leaves no agent running
        rows = [status_view.run_row(r, *effective_run(store, r)) for r in store.runs()]
    if as_json:
        status_view.print_json({"runs": rows})
    else:
        status_view.print_runs(rows)
    return 0


def logs(
    cwd: Path,
    run: str | None,
    task: str | None,
    *,
    attempt: int | None = None,
    follow: bool = False,
    merge_check: bool = False,
    resolution: int | None = None,
) -> int:
    """Print a task's log (the last attempt's by default; the latest run's without a run name);
    --follow until the attempt ends; --merge-check: the merge queue's check after its merge."""
    if task is None:
        raise UsageError("name a task: `genesis-par logs TASK` (latest run) or `logs RUN TASK`")
    if merge_check and (attempt is not None or follow):
        raise UsageError("--merge-check prints the merge check's log: drop --attempt and --follow")
    _, state = state_dir(cwd)
    with open_store(state, read_only=True) as store:
        record = pick_run(store, run)
        known = [t.id for t in store.tasks(record.name)]
        if task not in known:
            raise UsageError(_unknown_task(store, record.name, task, known, run is None))
        if merge_check:
            return _print_merge_check(state, record.name, task)
        if resolution is not None:
            return _print_resolution(store, record.name, task, resolution)
        _print_attempt_log(store, record, task, attempt, follow)
    return 0


def _print_resolution(store: Store, run: str, task: str, n: int) -> int:
    """The log of a task's resolution try n (a rerun's attempt, or the resolver agent's)."""
    tries = {r.n: r for r in store.resolutions(run, task)}
    if n not in tries:
        known = ", ".join(map(str, sorted(tries))) or "none"
        raise UsageError(
            f'task "{task}" of run "{run}" has no resolution try {n} (tries: {known}); they '
            "run when [merge] on_conflict is set"
        )
    log = tries[n].log
    if not log:
        raise UsageError(
            f'resolution try {n} of task "{task}" ran nothing that logs ({tries[n].strategy})'
        )
    status_view.print_log(Path(log), 0)
    return 0


def _unknown_task(store: Store, run: str, task: str, known: list[str], latest: bool) -> str:
    message = f'run "{run}" has no task "{task}" (tasks: {", ".join(known)})'
    if latest and store.get_run(task) is not None:  # `logs RUN`: the task was left out
        message += f": to read run {task}'s logs, name a task too: `genesis-par logs {task} TASK`"
    return message


def _print_merge_check(state: Path, run: str, task: str) -> int:
    log = queue.check_log(state / "logs" / run, task)
    if not log.exists():
        raise UsageError(
            f'no merge check ran after task "{task}" of run "{run}": one runs after each merge '
            "when the plan's [merge] check is set"
        )
    status_view.print_log(log, 0)
    return 0


def _print_attempt_log(
    store: Store, record: RunRecord, task: str, attempt: int | None, follow: bool
) -> None:
    attempts = store.attempts(record.name, task)
    while follow and not attempts and effective_status(record) == RunStatus.RUNNING:
        time.sleep(0.3)  # --follow on a task still waiting to start: wait for its attempt
        attempts = store.attempts(record.name, task)
        record = pick_run(store, record.name)
    if not attempts:
        raise UsageError(
            f'task "{task}" of run "{record.name}" has not started, so it has no log yet'
        )
    chosen = (
        attempts[-1] if attempt is None else next((a for a in attempts if a.n == attempt), None)
    )
    if chosen is None:
        raise UsageError(
            f'task "{task}" has {plural(len(attempts), "attempt")} (1..{len(attempts)}), '
            f"not {attempt}: pick one with --attempt N"
        )
    log = Path(chosen.log or "")
    offset = status_view.print_log(log, 0)
    while follow and chosen.finished_at is None and effective_status(record) == RunStatus.RUNNING:
        time.sleep(0.3)
        offset = status_view.print_log(log, offset)
        chosen = next(a for a in store.attempts(record.name, task) if a.n == chosen.n)
        record = pick_run(store, record.name)
    if follow:
        status_view.print_log(log, offset)
