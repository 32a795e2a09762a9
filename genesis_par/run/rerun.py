"""`on_conflict = "rerun"`: a new attempt of a task's own agent on the current target tip, told
why (issue 15). Its earlier work stays under its attempt ref; when the new attempt fails, the
task's branch is put back where it was, so a failed rerun loses nothing."""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Callable, Mapping
from pathlib import Path

from genesis_par import gitops, worktrees
from genesis_par.land.resolve import Hooks, Recorder, Rerun, Rerunner
from genesis_par.model import TaskStatus
from genesis_par.plan.model import Plan
from genesis_par.run.progress import TaskProgress
from genesis_par.run.spec import RunSpec, run_spec
from genesis_par.run.task import run_task
from genesis_par.state.events import Starting, TaskEnded, TaskEvent
from genesis_par.state.records import RunRecord, TaskRecord
from genesis_par.state.store import Store


def rerunner(
    spec: RunSpec,
    progress: Mapping[str, TaskProgress],
    record: Recorder,
    cancel: threading.Event,
) -> Rerunner:
    """A Rerunner that runs the tasks of spec, updating their progress (what run --json shows)."""

    def rerun(task: str, tip: str, note: str, note_file: Path) -> Rerun:
        return _rerun(spec, progress[task], task, tip, note, note_file, record, cancel)

    return rerun


def _rerun(
    spec: RunSpec,
    p: TaskProgress,
    task_id: str,
    tip: str,
    note: str,
    note_file: Path,
    record: Recorder,
    cancel: threading.Event,
) -> Rerun:
    before = dataclasses.replace(p)
    p.status, p.start_commit, p.failure, p.reason = TaskStatus.STARTING, tip, None, None
    p.duration_s, p.agent_done, p.conflict, p.conflict_file = None, False, note, str(note_file)
    record(task_id, Starting(tip, p.agent))
    try:
        run_task(spec, spec.plan.task(task_id), p, cancel, record)
    finally:
        p.conflict = p.conflict_file = ""
    if p.status == TaskStatus.SUCCEEDED and p.commit:
        record(task_id, TaskEnded(p.record()))
        return Rerun(p.commit, "", p.log)
    why = (
        "interrupted" if p.status == TaskStatus.CANCELLED else f"the new attempt failed: {p.reason}"
    )
    log = p.log
    _put_back(spec, task_id, before, p, record)
    return Rerun(None, why, log)


def _put_back(
    spec: RunSpec, task_id: str, before: TaskProgress, p: TaskProgress, record: Recorder
) -> None:
    """The task as it was before the rerun: its branch and worktree on its earlier commit."""
    assert before.commit is not None and before.start_commit is not None
    worktree = worktrees.path_for(spec.repo.root, spec.run, task_id)
    branch = worktrees.branch_name(spec.run, task_id)
    gitops.reset_worktree(worktree, before.commit, branch=branch)
    attempts = p.attempts
    for f in dataclasses.fields(TaskProgress):
        setattr(p, f.name, getattr(before, f.name))
    p.attempts = attempts
    record(task_id, Starting(before.start_commit, p.agent))
    record(task_id, TaskEnded(p.record()))


def progress_from(tasks: list[TaskRecord]) -> dict[str, TaskProgress]:
    """The succeeded tasks of a finished run, as a rerun needs them."""
    return {
        t.id: TaskProgress(
            t.id,
            status=TaskStatus.SUCCEEDED,
            attempts=t.attempts,
            branch=t.branch,
            start_commit=t.start_commit,
            commit=t.commit,
            changed=t.changed,
            log=t.log,
            agent=t.agent,
            node=t.node,
            usage=t.usage,
            cpu_s=t.cpu_s,
            usage_notes=list(t.usage_notes),
            candidates=t.candidates,
        )
        for t in tasks
        if t.status == TaskStatus.SUCCEEDED
    }


def hooks_for(
    repo: gitops.RepoPaths,
    store: Store,
    env: Mapping[str, str],
    cancel: threading.Event,
    event: Callable[[str, TaskEvent], None],
) -> Callable[[RunRecord, Plan], Hooks]:
    """For `merge --run`: the resolutions of a finished run, reruns of its own tasks included,
    each event recorded in the store (then shown by event)."""

    def hooks(record: RunRecord, plan: Plan) -> Hooks:
        def recorder(task: str, e: TaskEvent) -> None:
            store.record_event(record.name, task, e)
            event(task, e)

        spec = run_spec(repo, plan, record.name, record.base_commit, env)
        progress = progress_from(store.tasks(record.name))
        reruns = rerunner(spec, progress, recorder, cancel)
        return Hooks(spec.state_dir, reruns, recorder, cancel, spec.env)

    return hooks
