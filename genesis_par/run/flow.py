"""A run from its plan to its landing: start (or resume) it, execute its tasks, bring the work
home, record the outcome. Core: nothing here prints; notes, events and ticks go to the
observers the caller gives (the CLI's live view or plain lines, or an API user's callbacks)."""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from genesis_par import gitops, proc, worktrees
from genesis_par.errors import EnvironmentProblem, UsageError
from genesis_par.land import landing, resolve
from genesis_par.model import BUDGET, ExitCode, RunStatus, TaskStatus
from genesis_par.plan import presets
from genesis_par.plan import values as plan_values
from genesis_par.plan.model import Isolation, MergeMethod, Plan
from genesis_par.plan.presets import find_agent
from genesis_par.run import rerun
from genesis_par.run.executor import RunProgress, execute
from genesis_par.run.orphans import stop_orphans
from genesis_par.run.progress import TaskProgress
from genesis_par.run.spec import RunSpec, run_spec
from genesis_par.state.events import TaskEvent
from genesis_par.state.landings import FinishedRun
from genesis_par.state.merges import RunSteps
from genesis_par.state.store import Store, run_lock


def _ignore_note(text: str) -> None:
    """Notes nobody asked to see."""


def _ignore_event(task: str, event: TaskEvent) -> None:
    """Events nobody asked to see."""


def _ignore_tick(progress: RunProgress) -> None:
    """Ticks nobody asked to see."""


def _ignore_step(kind: str, data: Mapping[str, object]) -> None:
    """Merge queue steps nobody asked to see."""


@dataclass(frozen=True)
class Observers:
    """Where a run says what happens: one-line notes, each recorded event, each tick of the
    run loop (for a live view). All optional: an API user may watch nothing."""

    note: Callable[[str], None] = _ignore_note
    event: Callable[[str, TaskEvent], None] = _ignore_event
    tick: Callable[[RunProgress], None] = _ignore_tick
    merge_step: Callable[[str, Mapping[str, object]], None] = _ignore_step  # land/batch.py


QUIET = Observers()


@dataclass(frozen=True)
class Options:
    """How to run and bring work home."""

    fail_fast: bool = False
    merge: bool = True
    into: str | None = None
    method: MergeMethod | None = None


@dataclass(frozen=True)
class RunResult:
    """What a run did: its status and exit code, each task's progress, what landed."""

    run: str
    status: RunStatus
    exit_code: ExitCode
    progress: RunProgress
    landing: landing.Landing | None
    finished: FinishedRun = field(repr=False)  # the run as the store keeps it

    @property
    def tasks(self) -> Mapping[str, TaskProgress]:
        """Each task's progress, by id."""
        return self.progress.tasks


class _Recorder:
    """Writes each event to the state store (before it is acted on), then tells the observer.

    While a thread holds it (`held`), that thread's events wait and are written together in
    one transaction when it lets go: the scheduler's tick, before it acts on them."""

    def __init__(self, store: Store, run: str, observers: Observers) -> None:
        self.store, self.run, self.observers = store, run, observers
        self.holder: int | None = None
        self.waiting: list[tuple[str, TaskEvent]] = []

    def __call__(self, task: str, event: TaskEvent) -> None:
        if threading.get_ident() == self.holder:
            self.waiting.append((task, event))
            return
        self.store.record_event(self.run, task, event)
        self.observers.event(task, event)

    @contextmanager
    def held(self) -> Iterator[None]:
        """Group this thread's events until the end of the block (one transaction)."""
        self.holder = threading.get_ident()
        try:
            yield
        finally:
            self.holder, events, self.waiting = None, self.waiting, []
            if events:
                self.store.record_events(self.run, events)
            for task, event in events:
                self.observers.event(task, event)


class _QueueRecorder:
    """Records each step of the merge queue as a run event (`merge-<step>`), then shows it."""

    def __init__(
        self, store: Store, run: str, show: Callable[[str, Mapping[str, object]], None]
    ) -> None:
        self.store, self.run, self.show = store, run, show

    def __call__(self, kind: str, data: Mapping[str, object]) -> None:
        self.store.record_merge_step(self.run, kind, data)
        self.show(kind, data)


@contextmanager
def open_store(state_dir: Path, note: Callable[[str], None]) -> Iterator[Store]:
    """The state store; says so when a damaged one was moved aside and a new one started."""
    with Store.open(state_dir) as store:
        if store.notice:
            note(store.notice)
        yield store


def with_name(plan: Plan, name: str | None) -> Plan:
    """The plan, its run renamed when a name is given."""
    if not name:
        return plan
    plan_values.check_branch_component(name, f'--name "{name}"')
    return dataclasses.replace(plan, run=dataclasses.replace(plan.run, name=name))


def with_isolation(plan: Plan, isolation: str | None) -> Plan:
    """The plan, its `[run] isolation` replaced when one is given (`run --isolation`)."""
    if isolation is None:
        return plan
    choices = {i.value: i for i in Isolation}
    if isolation not in choices:
        raise UsageError(f'--isolation "{isolation}" is not one of {", ".join(choices)}')
    chosen = dataclasses.replace(plan.run, isolation=choices[isolation])
    return dataclasses.replace(plan, run=chosen)


def check_agents(plan: Plan) -> None:
    """Fail fast, before any worktree, when agents the tasks need are not installed (all of
    them named at once, so they are not found one run at a time). Not for a run on a
    cluster: its nodes have their own installs."""
    if plan.run.backend != "local":
        return
    missing: dict[str, str] = {}  # agent -> what to say of it
    for task in plan.tasks:
        if task.agent is None or task.agent in missing:
            continue
        agent = find_agent(task.agent, plan.agents)
        if agent is not None and presets.executable(agent) and not presets.installed(agent):
            missing[task.agent] = (
                f'agent "{task.agent}" (task "{task.id}") is not installed: no '
                f'"{presets.executable(agent)}" on PATH; install it with '
                f"`{presets.install_hint(task.agent)}`, or set [agents.{task.agent}] command"
            )
    if missing:
        raise EnvironmentProblem("; ".join(missing.values()))


def _warn_about_memory(plan: Plan, note: Callable[[str], None]) -> None:
    """A memory limit above what the machine has can never be a real bound: say so."""
    if not any(task.memory_bytes for task in plan.tasks):
        return
    total = proc.total_memory()
    for task in plan.tasks:
        if task.memory_bytes and task.memory_bytes > total:
            note(
                f'task "{task.id}": memory = {plan_values.format_size(task.memory_bytes)} is more '
                f"than this machine has ({plan_values.format_size(total)}), so it bounds nothing"
            )


def _pin_base(cwd: Path, plan: Plan) -> str:
    """The base as a commit, resolved where the user is: in a linked worktree HEAD is its own."""
    commit = gitops.resolve_commit(cwd, plan.run.base)
    if commit is None:
        raise EnvironmentProblem(
            f'{plan.path}: [run] base "{plan.run.base}" does not resolve to a commit in '
            f"{cwd}: name an existing branch, tag or commit"
        )
    return commit


def start(
    cwd: Path,
    plan: Plan,
    options: Options,
    env: Mapping[str, str],
    observers: Observers = QUIET,
) -> RunResult:
    """Run every task of the plan, probe conflicts, merge the safe work."""
    repo = gitops.discover(cwd)
    gitops.check_version(repo.root)
    worktrees.check_layout(repo)
    base = _pin_base(cwd, plan)
    check_agents(plan)
    _warn_about_memory(plan, observers.note)
    run_name = plan.run.name
    worktrees.refuse_taken_name(repo, run_name)
    where = landing.target(repo, run_name, plan, options.into)
    spec = run_spec(repo, plan, run_name, base, env, new_run=True)  # reads .worktreeinclude
    with open_store(spec.state_dir, observers.note) as store, run_lock(spec.state_dir, run_name):
        stop_orphans(store)
        me = proc.identity()
        store.create_run(
            run_name,
            plan_path=str(plan.path),
            plan_text=plan.text,
            base_ref=plan.run.base,
            base_commit=base,
            into_ref=where.ref,
            pid=me.pid,
            create_time=me.create_time,
            tasks={t.id: worktrees.branch_name(run_name, t.id) for t in plan.tasks},
        )
        # kept for `resume` and `status` (`run --isolation` is not in the plan's text)
        store.record_isolation(run_name, plan.run.isolation.value)
        progress = execute_tasks(spec, store, observers, options.fail_fast)
        return finish(spec, store, progress, where, options, observers)


def execute_tasks(
    spec: RunSpec,
    store: Store,
    observers: Observers,
    fail_fast: bool,
    earlier: Mapping[str, TaskProgress] | None = None,
) -> RunProgress:
    """The tasks' part of the run, each event recorded before it is acted on."""
    recorder = _Recorder(store, spec.run, observers)
    return execute(spec, recorder, observers.tick, fail_fast, earlier)


def finish(
    spec: RunSpec,
    store: Store,
    progress: RunProgress,
    where: landing.Target,
    options: Options,
    observers: Observers = QUIET,
) -> RunResult:
    """After the tasks: conflicts, the merge queue (and its resolutions), the record."""
    home: landing.Landing | None = None
    if not progress.interrupted:
        hooks = _resolution_hooks(spec, store, progress, observers)
        with resolve.interruptible(hooks.cancel):
            home = _bring_home(spec, store, progress, where, options, hooks, observers)
        progress.interrupted = hooks.cancel.is_set()  # Ctrl-C in the queue: resume goes on
        if home.queue is not None:
            store.record_merge(spec.run, landing.queue_record(home))
    status, code = outcome(progress, home)
    tasks = tuple(t.record() for t in progress.tasks.values())
    finished = FinishedRun(
        spec.run, status, spec.base_commit, spec.isolation.value, tasks, landing.record(home)
    )
    store.finish_run(spec.run, status, finished.landing, tasks)
    return RunResult(spec.run, status, code, progress, home, finished)


def _resolution_hooks(
    spec: RunSpec, store: Store, progress: RunProgress, observers: Observers
) -> resolve.Hooks:
    """What the queue's resolutions (issue 15) need: reruns of the run's own tasks."""
    recorder = _Recorder(store, spec.run, observers)
    cancel = threading.Event()
    reruns = rerun.rerunner(spec, progress.tasks, recorder, cancel)
    return resolve.Hooks(spec.state_dir, reruns, recorder, cancel, spec.env)


def _bring_home(
    spec: RunSpec,
    store: Store,
    progress: RunProgress,
    where: landing.Target,
    options: Options,
    hooks: resolve.Hooks,
    observers: Observers,
) -> landing.Landing:
    succeeded = {
        t.id: t.commit
        for t in progress.tasks.values()
        if t.status == TaskStatus.SUCCEEDED and t.commit
    }
    return landing.bring_home(
        spec.repo,
        spec.run,
        spec.plan,
        succeeded,
        spec.base_commit,
        where,
        method=options.method,
        merge_now=options.merge,
        state_dir=spec.state_dir,
        git_env=spec.git_env,
        env=spec.env,
        starts={t.id: t.start_commit for t in progress.tasks.values() if t.start_commit},
        journal=RunSteps(store, spec.run),
        progress=_QueueRecorder(store, spec.run, observers.merge_step),
        hooks=hooks,
    )


def outcome(progress: RunProgress, home: landing.Landing | None) -> tuple[RunStatus, ExitCode]:
    """The run's status and exit code: interrupted 130, a task failed 1 (or the budget left
    tasks unstarted: "budget", which `resume --budget` continues), unmerged work 3."""
    if progress.interrupted:
        return RunStatus.INTERRUPTED, ExitCode.INTERRUPTED
    if any(t.status == TaskStatus.SKIPPED and t.reason == BUDGET for t in progress.tasks.values()):
        return RunStatus.BUDGET, ExitCode.FAILED
    if progress.with_status(TaskStatus.FAILED, TaskStatus.CANCELLED):
        return RunStatus.FAILED, ExitCode.FAILED
    unmerged = home is not None and (
        (home.queue is not None and bool(home.queue.unmerged))
        or (home.queue is None and not home.report.clean)
    )
    if unmerged:
        return RunStatus.CONFLICTS, ExitCode.CONFLICTS
    return RunStatus.SUCCEEDED, ExitCode.OK
