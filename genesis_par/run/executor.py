"""The run loop: schedule ready tasks onto worker threads until every task has finished."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from concurrent.futures import FIRST_COMPLETED, Future, wait
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from types import FrameType

from genesis_par import proc, worktrees
from genesis_par.interrupts import handled_by
from genesis_par.land import conflicts
from genesis_par.model import (
    ACTIVE,
    BUDGET,
    FINISHED,
    Failure,
    RunStatus,
    TaskStatus,
)
from genesis_par.plan.model import Task
from genesis_par.run import scheduler, steps
from genesis_par.run.backend import open_backend
from genesis_par.run.progress import Recorder, TaskProgress
from genesis_par.run.spec import RunSpec
from genesis_par.state.events import Starting, TaskEnded
from genesis_par.usage import Usage, total

TICK_S = 0.2


@dataclass
class RunProgress:
    """The whole run as the live view and the final report see it."""

    run: str
    base_commit: str
    tasks: dict[str, TaskProgress]
    started_at: float = field(default_factory=time.time)
    interrupted: bool = False

    def with_status(self, *statuses: TaskStatus) -> set[str]:
        """Ids of the tasks in any of these states."""
        return {t.id for t in self.tasks.values() if t.status in statuses}

    @property
    def status(self) -> RunStatus:
        """succeeded, failed or interrupted."""
        if self.interrupted:
            return RunStatus.INTERRUPTED
        failed = self.with_status(TaskStatus.FAILED, TaskStatus.CANCELLED)
        return RunStatus.FAILED if failed else RunStatus.SUCCEEDED

    def total_usage(self) -> Usage:
        """What every task spent, earlier attempts and running ones included."""
        return total(t.total_usage() for t in list(self.tasks.values()))

    def tasks_per_minute(self, now: float) -> float:
        """Tasks that ran to an end (succeeded or failed) per minute since the run started."""
        ended = self.with_status(TaskStatus.SUCCEEDED, TaskStatus.FAILED)
        done = sum(self.tasks[t].started_at is not None for t in ended)  # in this session
        return done / max((now - self.started_at) / 60, 1 / 60)

    def spent_usd(self) -> float:
        """The run's spend in US dollars (what agents reported)."""
        return self.total_usage().cost_usd or 0.0


class _Interrupts:
    """Turns SIGINT/SIGTERM into events: the first stops agents with a grace, the second now."""

    def __init__(self) -> None:
        self.cancel = threading.Event()
        self.count = 0

    def __call__(self, signum: int, frame: FrameType | None) -> None:
        self.count += 1
        self.cancel.set()
        if self.count > 1:
            proc.hurry()


def execute(
    spec: RunSpec,
    record: Recorder,
    on_tick: Callable[[RunProgress], None] = lambda p: None,
    fail_fast: bool = False,
    earlier: Mapping[str, TaskProgress] | None = None,
) -> RunProgress:
    """Run every task of spec.plan under its limits; returns when all have finished.

    earlier holds what a resumed run already knows: finished tasks are not run again, and
    attempt numbers go on from where they stopped."""
    tasks = {t.id: t for t in spec.plan.tasks}
    known = earlier or {}
    progress = RunProgress(
        spec.run, spec.base_commit, {t: known.get(t) or TaskProgress(t) for t in tasks}
    )
    for task_id, task_progress in progress.tasks.items():
        task_progress.branch = worktrees.branch_name(spec.run, task_id)
        task_progress.agent = tasks[task_id].agent
    spec.spend.count = progress.spent_usd
    schedule = scheduler.Schedule.from_tasks(spec.plan.tasks, spec.plan.run.strategy)
    interrupts = _Interrupts()
    futures: dict[Future[None], str] = {}
    slots = _Slots()
    unsuccessful: frozenset[str] = frozenset()  # finished tasks whose dependents were looked at
    with handled_by(interrupts), open_backend(spec) as backend:
        while True:
            # a task is in flight until its thread ends, even while it waits to retry after a
            # failed attempt: it keeps its scope and locks, and its dependents are not skipped
            in_flight = set(futures.values())
            with _one_transaction(record):  # the tick's transitions, recorded before acted on
                if not interrupts.cancel.is_set():
                    unsuccessful = _skip_dependents(
                        progress, tasks, record, in_flight, unsuccessful
                    )
                    if spec.budget_reached():
                        _skip_rest(progress, BUDGET, record, in_flight)
                    if fail_fast and progress.with_status(TaskStatus.FAILED) - in_flight:
                        interrupts.cancel.set()
                started = (
                    []
                    if interrupts.cancel.is_set()
                    else _decide(schedule, spec, progress, in_flight, slots.committing)
                )
                ready = [t for t in started if _prepare(spec, tasks[t], progress, record)]
            for task_id in ready:
                progress.tasks[task_id].free_slot = slots.held_by(task_id)
                future = backend.submit(
                    tasks[task_id], progress.tasks[task_id], interrupts.cancel, record
                )
                futures[future] = task_id
            if not futures and not started:  # a task failing at launch may still skip others
                break
            done, _ = wait([*futures, *slots.held], timeout=TICK_S, return_when=FIRST_COMPLETED)
            slots.free(done)
            with _one_transaction(record):
                for future in done & futures.keys():
                    task_id = futures.pop(future)
                    slots.ended(task_id)
                    future.result()
                    task_progress = progress.tasks[task_id]
                    record(task_id, TaskEnded(task_progress.record()))
            on_tick(progress)
    if interrupts.cancel.is_set():
        progress.interrupted = interrupts.count > 0
        stopped = TaskStatus.CANCELLED if interrupts.count else TaskStatus.SKIPPED
        _cancel_rest(progress, stopped, record)
    on_tick(progress)
    return progress


class _Slots:
    """Which in-flight tasks hold a max_parallel slot: each does until its agent and check are
    done (its worker calls free_slot) or its thread ends; the commit after needs none."""

    def __init__(self) -> None:
        self.held: dict[Future[None], str] = {}
        self.committing: set[str] = set()

    def held_by(self, task_id: str) -> Callable[[], None]:
        """The free_slot of a task about to be submitted: wakes the run loop, from any thread."""
        freed: Future[None] = Future()
        self.held[freed] = task_id

        def free_slot() -> None:
            if not freed.done():  # only the task's own worker calls it
                freed.set_result(None)

        return free_slot

    def free(self, done: set[Future[None]]) -> None:
        """Slots freed among what the run loop saw done."""
        for freed in done & self.held.keys():
            self.committing.add(self.held.pop(freed))

    def ended(self, task_id: str) -> None:
        """The task's thread ended: whatever it held is free."""
        self.committing.discard(task_id)
        for freed, holder in list(self.held.items()):
            if holder == task_id:
                del self.held[freed]


def _decide(
    schedule: scheduler.Schedule,
    spec: RunSpec,
    progress: RunProgress,
    in_flight: set[str],
    committing: set[str],
) -> list[str]:
    decision = schedule.decide(
        spec.plan.run.max_parallel,
        succeeded=progress.with_status(TaskStatus.SUCCEEDED) - in_flight,
        running=progress.with_status(*ACTIVE) | in_flight,
        finished=progress.with_status(*FINISHED) - in_flight,
        available_memory=proc.available_memory() if schedule.needs_memory else None,
        committing=committing,
    )
    for task_id, task_progress in progress.tasks.items():
        task_progress.waiting = decision.waiting.get(task_id) or decision.blocked.get(task_id)
    return decision.start


def _clashing_dependencies(spec: RunSpec, task: Task, progress: RunProgress) -> str:
    """Every file on which the task's dependencies' results conflict, and between whom."""
    known = {worktrees.branch_name(spec.run, d): progress.tasks[d].commit for d in task.depends_on}
    report = conflicts.check(spec.repo.root, list(known), spec.base_commit, known=known)
    prefix = worktrees.branch_name(spec.run, "")
    clashes = [
        f"{path} ({', '.join(kinds)} between {' and '.join(b.removeprefix(prefix) for b in names)})"
        for path, names, kinds in report.files()
    ]
    return "its dependencies' results conflict with each other: " + "; ".join(clashes)


def _prepare(spec: RunSpec, task: Task, progress: RunProgress, record: Recorder) -> bool:
    """Record the task as starting from its start commit; False if it failed already (its
    dependencies' results conflict)."""
    task_progress = progress.tasks[task.id]
    dep_commits = [progress.tasks[d].commit or "" for d in task.depends_on]
    start = worktrees.start_commit(spec.repo.root, spec.base_commit, dep_commits, spec.git_env)
    if start.commit is None:
        task_progress.status, task_progress.failure = TaskStatus.FAILED, Failure.DEPENDENCIES
        task_progress.reason = _clashing_dependencies(spec, task, progress)
        record(task.id, TaskEnded(task_progress.record()))
        return False
    task_progress.status, task_progress.start_commit = TaskStatus.STARTING, start.commit
    task_progress.port = _free_port(progress)
    record(task.id, Starting(start.commit, task.agent))
    return True


def _one_transaction(record: Recorder) -> AbstractContextManager[None]:
    """While in it, this thread's events wait and are recorded together (one transaction, one
    commit) if the recorder can group them (the run's does); else each as it comes."""
    held: Callable[[], AbstractContextManager[None]] | None = getattr(record, "held", None)
    return held() if held is not None else nullcontext()


def _free_port(progress: RunProgress) -> int:
    """The lowest port no running task of the run holds."""
    taken = {t.port for t in progress.tasks.values() if t.status in ACTIVE}
    return next(p for p in range(steps.PORT_BASE, steps.PORT_BASE + 10_000) if p not in taken)


def _skip_dependents(
    progress: RunProgress,
    tasks: dict[str, Task],
    record: Recorder,
    in_flight: set[str],
    looked_at: frozenset[str],
) -> frozenset[str]:
    """Skip the tasks that depend on one that did not succeed; the finished tasks that did not
    succeed, whose dependents are now skipped (when they are the ones looked_at already,
    there is nothing new to skip: the graph is not walked again at every tick)."""
    finished = {
        t.id: t.status
        for t in progress.tasks.values()
        if t.status in FINISHED and t.id not in in_flight
    }
    unsuccessful = frozenset(t for t, status in finished.items() if status != TaskStatus.SUCCEEDED)
    if unsuccessful <= looked_at:
        return looked_at
    skips = scheduler.to_skip(list(tasks.values()), finished)
    for task_id, reason in skips.items():
        task_progress = progress.tasks[task_id]
        task_progress.status, task_progress.reason = TaskStatus.SKIPPED, reason
        record(task_id, TaskEnded(task_progress.record()))
    return unsuccessful | frozenset(skips)


def _skip_rest(progress: RunProgress, reason: str, record: Recorder, in_flight: set[str]) -> None:
    """Skip every task not started yet, with reason."""
    for task_progress in progress.tasks.values():
        if task_progress.status == TaskStatus.PENDING and task_progress.id not in in_flight:
            task_progress.status, task_progress.reason = TaskStatus.SKIPPED, reason
            task_progress.waiting = None
            record(task_progress.id, TaskEnded(task_progress.record()))


def _cancel_rest(progress: RunProgress, status: TaskStatus, record: Recorder) -> None:
    for task_progress in progress.tasks.values():
        if task_progress.status not in FINISHED:
            task_progress.status, task_progress.waiting = status, None
            task_progress.reason = (
                "the run was interrupted"
                if status == TaskStatus.CANCELLED
                else ("not started: the run stopped at the first failure (--fail-fast)")
            )
            record(task_progress.id, TaskEnded(task_progress.record()))
